import uuid

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from .context import Origin, reset_origin, set_origin


class RequestContextMiddleware:
    """Stamps every request with an id and the client address for the audit log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID", "")[:36] or uuid.uuid4().hex
        channel = "api" if request.path.startswith("/api/") else "web"
        token = set_origin(Origin(remote_addr=request.META.get("REMOTE_ADDR"), request_id=request_id, channel=channel))
        try:
            response = self.get_response(request)
        finally:
            reset_origin(token)
        response["X-Request-ID"] = request_id
        return response


class DefaultLanguageMiddleware(LocaleMiddleware):
    """Chinese by default whatever the browser says; English (or back) by the language switch,
    which sets the cookie. The API answers carry both languages anyway."""

    def process_request(self, request):
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
