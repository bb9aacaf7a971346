"""Per-user counters in the cache, for throttles shared by every web process.

`hit(key, limit=, window=)` counts an attempt and says where the count stood before and after;
the caller decides what is refused (core.errors.Throttled, 429) and what is audited. The window
starts at the first attempt and is not extended by later ones.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from .errors import Throttled
from .scoping import SystemPrincipal, user_of


@dataclass(frozen=True)
class Count:
    before: int
    after: int
    limit: int

    @property
    def refused(self) -> bool:
        """The attempt came when the limit was already reached."""
        return self.before >= self.limit

    @property
    def crossed(self) -> bool:
        """This attempt took the count over the limit (the moment to audit, once a window)."""
        return self.before <= self.limit < self.after


def actor_key(principal) -> str:
    """Whose count it is: the user behind the principal, or the system principal's name."""
    user = user_of(principal)
    if user is not None:
        return f"user:{user.pk}"
    if isinstance(principal, SystemPrincipal):
        return principal.name
    return "anonymous"


def _key(name: str, principal) -> str:
    return f"throttle:{name}:{actor_key(principal)}"


def hit(name: str, principal, *, limit: int, window: int, count: int = 1) -> Count:
    key = _key(name, principal)
    cache.add(key, 0, timeout=window)  # the window starts at the first attempt
    try:
        after = cache.incr(key, count)
    except ValueError:  # expired between add and incr
        cache.set(key, count, timeout=window)
        after = count
    return Count(before=after - count, after=after, limit=limit)


def peek(name: str, principal, *, limit: int) -> Count:
    """Where the count stands, without counting."""
    value = cache.get(_key(name, principal)) or 0
    return Count(before=value, after=value, limit=limit)


# ---------------------------------------------------------------- existence probes

DUPLICATE_PROBES = "duplicate-probes"


def duplicate_probes_refused() -> Throttled:
    """The answer once the allowance is used up (it names no number and no person)."""
    return Throttled(
        "duplicate_probes",
        _("Too many numbers that could not be registered here: try again later, or contact the community office."),
    )


def duplicate_probes_check(principal) -> None:
    """Refuse to register (429) while the principal has used up its allowance of duplicates it
    may not read in full (settings.DUPLICATE_PROBE_LIMIT per DUPLICATE_PROBE_WINDOW_SECONDS).
    Checked before anything is looked up, so the refusal says nothing about the number sent."""
    if peek(DUPLICATE_PROBES, principal, limit=settings.DUPLICATE_PROBE_LIMIT).refused:
        raise duplicate_probes_refused()


def duplicate_probes_count(principal, count: int = 1) -> Count:
    """Count duplicates the principal was refused without being allowed to read them."""
    return hit(
        DUPLICATE_PROBES,
        principal,
        limit=settings.DUPLICATE_PROBE_LIMIT,
        window=settings.DUPLICATE_PROBE_WINDOW_SECONDS,
        count=count,
    )
