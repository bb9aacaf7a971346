from django.urls import path

from . import views

app_name = "care"
urlpatterns = [
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("tasks/<int:pk>/photo/", views.task_photo, name="task_photo"),
    path("requests/<int:pk>/done/", views.request_done, name="request_done"),
]
