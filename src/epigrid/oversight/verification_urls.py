from django.urls import path

from . import verification_views as views

app_name = "verification"
urlpatterns = [
    path("", views.list_page, name="list"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/feedback.xlsx", views.feedback, name="feedback"),
    path("entries/<int:pk>/verify/", views.entry_verify, name="verify"),
    path("entries/<int:pk>/place/", views.entry_place, name="place"),
]
