from django.urls import path

from . import user_views

app_name = "users"
urlpatterns = [
    path("", user_views.user_list, name="list"),
    path("<int:pk>/", user_views.user_detail, name="detail"),
    path("<int:pk>/assign/", user_views.user_assign, name="assign"),
    path("<int:pk>/<str:action>/", user_views.user_action, name="action"),
]
