from django.urls import path

from . import views

app_name = "grids"
urlpatterns = [
    path("places/<int:pk>/", views.place, name="place"),
    path("<str:code>/places/new/", views.place_create, name="place_create"),
]
