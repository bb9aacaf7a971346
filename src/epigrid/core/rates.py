"""Request rates on django-ninja's throttling (its sliding window of timestamps in the cache):
how often an endpoint may be called from one address or one link. Domain limits that are
counted per user and audited when crossed (exact searches, duplicate probes) are core/throttle.py.

Two changes to ninja's `SimpleRateThrottle`: the rate is read from `settings.THROTTLE_RATES[scope]`
at each request (so the environment sets it and a test may change it), and the state of one
check lives in the thread, not on the shared throttle object (ninja keeps one object per
endpoint; with threads, two requests would otherwise mix their histories). The client is
REMOTE_ADDR alone, never a header the client sends (a trusted proxy's is turned into REMOTE_ADDR
by the middleware). Counting is as exact as ninja's: a read and a write of the cache, so parallel
requests may slip one or two past the rate; limits that must hold exactly (failed logins) are
counted in the database instead (accounts/login_guard.py).

Use on an endpoint, `throttle=AddressThrottle("token_issue")`, or in a view, `allow_request(request)`.
"""

import hashlib
import threading

from django.conf import settings
from ninja.throttling import SimpleRateThrottle


class SettingsRateThrottle(SimpleRateThrottle):
    def __init__(self, scope: str):  # no super(): the rate is read per request
        self.scope = scope
        self._local = threading.local()

    def get_ident(self, request) -> str | None:
        return request.META.get("REMOTE_ADDR")

    def allow_request(self, request) -> bool:
        num_requests, duration = self.parse_rate(settings.THROTTLE_RATES[self.scope])
        self._local.wait = None
        key = self.get_cache_key(request)
        if key is None or num_requests is None:
            return True
        now = self.timer()
        history = [t for t in self.cache.get(key, []) if t > now - duration]
        if len(history) >= num_requests:
            self._local.wait = max(0.0, duration - (now - history[-1]))
            return False
        history.insert(0, now)
        self.cache.set(key, history, duration)
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)


class AddressThrottle(SettingsRateThrottle):
    """Per client address."""

    def get_cache_key(self, request) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PathTokenThrottle(SettingsRateThrottle):
    """Per secret token in the URL (a resident's personal link: `<token>`), whoever sends it; the
    cache key holds a hash of the token, never the token."""

    def get_cache_key(self, request) -> str | None:
        match = getattr(request, "resolver_match", None)
        token = match.kwargs.get("token") if match else None
        if not token:
            return None
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(token.encode()).hexdigest()}
