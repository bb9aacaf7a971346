from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from .permissions import has_second_factor, must_verify, second_factor_verified

# Not pages of a login: the API decides for itself (accounts.api), the language switch and static
# files carry nothing.
EXEMPT_PREFIXES = ("/api/", "/i18n/", "/static/")


def second_factor_exempt(view):
    """A page reachable before the second factor (login, logout, the code and set-up pages, a
    password reset link, the resident's own link)."""
    view.second_factor_exempt = True
    return view


class SecondFactorMiddleware:
    """A login that owes its second factor sees nothing but the code page (or, with no device
    yet, the set-up page), whatever it asks for; the page it asked for comes after the code."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "second_factor_exempt", False) or request.path.startswith(EXEMPT_PREFIXES):
            return None
        user = request.user
        if not user.is_authenticated or second_factor_verified(user) or not must_verify(user):
            return None
        page = "mfa_verify" if has_second_factor(user) else "mfa_enrol"
        url = f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
