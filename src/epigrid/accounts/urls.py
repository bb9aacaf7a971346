from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import path

from epigrid.core import extensions

from . import user_views, views
from .middleware import second_factor_exempt


@login_required
def home(request):
    # Where login lands: a higher app may send a user to their own page (a guard to the gate).
    for page in extensions.get("home_pages"):
        url = page(request.user)
        if url:
            return redirect(url)
    return redirect("health:today")


urlpatterns = [
    path("", home, name="home"),
    path("login/", second_factor_exempt(views.login_view), name="login"),
    path("logout/", second_factor_exempt(views.logout_view), name="logout"),
    path("account/", user_views.account, name="account"),
    path("account/password/", user_views.password_change, name="password_change"),
    path("account/mfa/", user_views.mfa_verify, name="mfa_verify"),
    path("account/mfa/enrol/", user_views.mfa_enrol, name="mfa_enrol"),
    path("password/reset/<str:key>/", user_views.password_reset, name="password_reset"),
]
