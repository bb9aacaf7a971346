import re
import uuid

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from .context import Origin, reset_origin, set_origin

# A client's request id is kept only when it is a plain token (it goes into the audit log).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The browser features a page may use: the camera (the gate's QR scan), nothing else.
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"


class RequestContextMiddleware:
    """Stamps every request with an id and the client address for the audit log, and every
    answer with the headers that keep personal data out of caches and features off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        asked = request.headers.get("X-Request-ID", "")
        request_id = asked if _REQUEST_ID.fullmatch(asked) else uuid.uuid4().hex
        channel = "api" if request.path.startswith("/api/") else "web"
        token = set_origin(Origin(remote_addr=request.META.get("REMOTE_ADDR"), request_id=request_id, channel=channel))
        try:
            response = self.get_response(request)
        finally:
            reset_origin(token)
        response["X-Request-ID"] = request_id
        # Pages, API answers and ledgers carry personal data: no browser or proxy keeps a copy.
        # (Static files never reach this middleware: WhiteNoise answers them with their own.)
        if "Cache-Control" not in response:
            response["Cache-Control"] = "no-store, private"
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class DefaultLanguageMiddleware(LocaleMiddleware):
    """Pages: Chinese by default whatever the browser says; English (or back) by the language
    switch, which sets the cookie. The API follows Accept-Language (Chinese by default), and its
    errors carry both languages anyway."""

    def process_request(self, request):
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if request.path.startswith("/api/"):
            language = _accepted_language(request.META.get("HTTP_ACCEPT_LANGUAGE", "")) or settings.LANGUAGE_CODE
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


def _accepted_language(header: str) -> str | None:
    """The first language of an Accept-Language header we speak (zh-CN → zh-hans, en-US → en)."""
    for accepted, _quality in parse_accept_lang_header(header[:255]):
        if accepted == "*":
            continue
        try:
            return translation.get_supported_language_variant(accepted)
        except LookupError:
            continue
    return None
