from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "epigrid.api"
    label = "api"
