"""What a user may do where: capabilities come from roles held on grid nodes (fail closed)."""

from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import Forbidden, NotFound
from epigrid.core.scoping import path_visible

from .choices import ROLE_CAPABILITIES


def _role_paths(user) -> list[tuple[str, str]]:
    cached = getattr(user, "_epigrid_role_paths", None)
    if cached is None:
        cached = list(user.grid_assignments.filter(ended_at__isnull=True).values_list("node__path", "role"))
        user._epigrid_role_paths = cached
    return cached


def has_capability(user, capability: str, path: str | None = None) -> bool:
    """True when one of the user's roles grants `capability` over `path` (anywhere if None)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    for node_path, role in _role_paths(user):
        if capability in ROLE_CAPABILITIES.get(role, ()) and (path is None or path.startswith(node_path)):
            return True
    return False


def require_capability(user, capability: str, path: str | None = None) -> None:
    if not has_capability(user, capability, path):
        raise Forbidden("forbidden", _("Your role does not allow this here."))


def user_roles(user) -> list[str]:
    return sorted({role for _path, role in _role_paths(user)}) if user.is_authenticated else []


def require_here(actor, capability: str, path: str) -> None:
    """The check every write starts with: outside the actor's subtree is "not found" (never say
    it exists), inside it the role must grant the capability."""
    if not path_visible(actor, path):
        raise NotFound("not_found", _("Not found."))
    require_capability(actor, capability, path)
