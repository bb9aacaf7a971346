from django.urls import path

from . import views

app_name = "dashboard"
urlpatterns = [
    path("", views.home, name="home"),
    path("thresholds/", views.thresholds_save, name="thresholds"),
    path("<str:code>/", views.node_page, name="node"),
    path("<str:code>/map/", views.map_page, name="map"),
    path("<str:code>/outline/", views.outline_save, name="outline"),
]
