from django.urls import path

from . import views

app_name = "response"
urlpatterns = [
    path("", views.incident_list, name="list"),
    path("plan/", views.plan, name="plan"),
    path("<int:pk>/", views.incident, name="incident"),
    path("<int:pk>/timeline.xlsx", views.timeline_export, name="timeline"),
    path("<int:pk>/exposures/", views.exposure_add, name="exposure_add"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("tasks/<int:pk>/photo/", views.task_photo, name="task_photo"),
    path("points/<int:pk>/<str:action>/", views.point_action, name="point_action"),
]
