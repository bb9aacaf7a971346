import ipaddress
import re
import uuid

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from .context import Origin, reset_origin, set_origin

# A client's request id is kept only when it is a plain token that fits the audit log's column
# (36: a UUID with its dashes); anything else gets an id of ours.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,36}")
# The browser features a page may use: the camera (the gate's QR scan), nothing else.
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"


# Headers a client can send to claim another address; after TrustedProxyMiddleware only
# REMOTE_ADDR says who the client is (libraries that read these headers find nothing to believe).
CLIENT_ADDRESS_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_FORWARDED_FOR",
    "HTTP_X_FORWARDED",
    "HTTP_CLIENT_IP",
    "HTTP_X_CLIENT_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_FASTLY_CLIENT_IP",
)
# Entries of X-Forwarded-For looked at, from the right (a longer header is a client's invention).
_MAX_HOPS = 20


def trusted_networks(values) -> tuple:
    """settings.TRUSTED_PROXIES as networks; a value that is no IP address or network stops the
    start-up (a typo must not silently trust nobody, or everybody)."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"EPIGRID_TRUSTED_PROXIES: {value!r} is not an IP address or network") from None
    return tuple(networks)


def _address(value: str):
    """An IP address from a header entry or REMOTE_ADDR ("1.2.3.4", "1.2.3.4:5678", "[::1]:80",
    "::1"), else None."""
    value = (value or "").strip().strip('"')
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    return (ip.ipv4_mapped or ip) if ip.version == 6 else ip


def client_address(meta, networks) -> str | None:
    """The client's address: the direct peer, unless the peer is a trusted proxy; then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy. Reading stops at an
    entry that is not an address (what lies left of it cannot be trusted) and the nearest hop
    known is the answer."""
    peer = meta.get("REMOTE_ADDR")
    peer_ip = _address(peer)

    def trusted(ip) -> bool:
        return any(ip.version == net.version and ip in net for net in networks)

    if peer_ip is None or not trusted(peer_ip):
        return peer
    client = peer_ip
    entries = [entry for entry in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    for entry in reversed(entries[-_MAX_HOPS:]):
        ip = _address(entry)
        if ip is None:
            break
        client = ip
        if not trusted(ip):
            break
    return str(client)


class TrustedProxyMiddleware:
    """REMOTE_ADDR becomes the client's address when the request came through a trusted proxy
    (settings.TRUSTED_PROXIES); headers claiming an address are then removed, whoever sent them."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.networks = trusted_networks(settings.TRUSTED_PROXIES)

    def __call__(self, request):
        meta = request.META
        if self.networks:
            meta["REMOTE_ADDR"] = client_address(meta, self.networks)
        for header in CLIENT_ADDRESS_HEADERS:
            meta.pop(header, None)
        return self.get_response(request)


class RequestContextMiddleware:
    """Stamps every request with an id and the client address for the audit log, and every
    answer with the headers that keep personal data out of caches and features off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Chosen by core.logs.RequestLogMiddleware when it runs first (its request line carries it).
        request_id = getattr(request, "request_id", None)
        if not request_id:
            asked = request.headers.get("X-Request-ID", "")
            request_id = asked if REQUEST_ID_PATTERN.fullmatch(asked) else uuid.uuid4().hex
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
