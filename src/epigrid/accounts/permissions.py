"""What a user's roles grant: the capabilities of each role held on a grid node (fail closed).

The check itself (`restrict`, `get_for`, `authorize`) lives in `epigrid.core.scoping`; this module
only answers, for a user, where each capability is held, and builds the principals commands act as.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from epigrid.core.scoping import SystemPrincipal, minimal_paths

from .choices import ROLE_CAPABILITIES, Capability


def role_paths(user) -> list[tuple[str, str]]:
    """(node path, role) of the user's active assignments, read once per request."""
    cached = getattr(user, "_epigrid_role_paths", None)
    if cached is None:
        cached = list(user.grid_assignments.filter(ended_at__isnull=True).values_list("node__path", "role"))
        user._epigrid_role_paths = cached
    return cached


def user_grant_paths(user, capability: str) -> list[str]:
    return minimal_paths(path for path, role in role_paths(user) if capability in ROLE_CAPABILITIES.get(role, ()))


def operator_principal() -> SystemPrincipal:
    """The operator at the console (who holds the database anyway): every capability, as the system."""
    return SystemPrincipal("system:cli", Capability.values)


def principal_from_option(username: str | None):
    """`--user NAME` makes a command act as that user, scoped like their pages; without it the
    operator acts as `system:cli`."""
    if not username:
        return operator_principal()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return user
