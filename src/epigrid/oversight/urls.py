from django.urls import path

from . import views

app_name = "oversight"
urlpatterns = [
    path("", views.tree, name="tree"),
    path("coverage/", views.coverage, name="coverage"),
    path("map-import/", views.map_import, name="map_import"),
    path("assignments/<int:pk>/end/", views.assignment_end, name="assignment_end"),
    path("<str:code>/", views.node, name="node"),
    path("<str:code>/assignments/", views.assignment_add, name="assignment_add"),
]
