from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import path

from . import views


@login_required
def home(request):
    return redirect("health:today")


urlpatterns = [
    path("", home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
]
