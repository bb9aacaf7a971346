from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "epigrid.demo"
    label = "demo"
