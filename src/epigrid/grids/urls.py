from django.urls import path

from . import views

app_name = "grids"
urlpatterns = [
    path("", views.tree, name="tree"),
    path("coverage/", views.coverage, name="coverage"),
    path("places/<int:pk>/", views.place, name="place"),
    path("assignments/<int:pk>/end/", views.assignment_end, name="assignment_end"),
    path("<str:code>/", views.node, name="node"),
    path("<str:code>/assignments/", views.assignment_add, name="assignment_add"),
    path("<str:code>/places/new/", views.place_create, name="place_create"),
]
