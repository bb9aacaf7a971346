from django.urls import path

from . import retention_views as views

app_name = "retention"
urlpatterns = [
    path("", views.purge_page, name="purge"),
    path("start/", views.purge_start, name="purge_start"),
]
