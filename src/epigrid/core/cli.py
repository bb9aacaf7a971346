"""Who a management command acts as: `--user NAME` scopes it like that user's pages; without
it, the operator (who holds the database anyway) sees everything as the system."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


class SystemActor:
    """The CLI operator: full scope, recorded in the audit log as "system"."""

    pk = None
    username = "system"
    is_authenticated = True
    is_active = True
    is_superuser = True

    def __str__(self) -> str:
        return "system"


def actor_from_option(username: str | None):
    if not username:
        return SystemActor()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return user
