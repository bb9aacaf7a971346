"""Who may do what, decided once: `restrict(principal, capability)` and `get_for`.

A principal (a user, or a named system principal) is granted a capability over the grid subtrees
where it holds a role that grants it; reading is the capability VIEW. Everything fails closed: no
role, no rows. A subtree is a range on the materialised path (`path >= p AND path < p || U+FFFF`),
which uses the index on SQLite and PostgreSQL (docs/architecture.md "Subtree queries, measured").

The answer for an object outside what the principal may see is 404 (never say it exists); for
an object it may see but not change, 403. `authorize` and `QuerySet.get_for` are the only places
that decide this.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .errors import Forbidden, NotFound

PATH_END = "\uffff"
VIEW = "view"
EVERYWHERE = None  # what `grant_paths` answers for a principal whose grant has no bounds


def subtree_q(lookup: str, path: str) -> Q:
    return Q(**{f"{lookup}__gte": path, f"{lookup}__lt": path + PATH_END})


def minimal_paths(paths) -> list[str]:
    """Drop paths that lie inside another path of the set."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not kept or not path.startswith(kept[-1]):
            kept.append(path)
    return kept


class SystemPrincipal:
    """The system acting by the method's rules (a sweep, a task, a cascade), never a person.

    It has a name (`system:activation`), the capabilities it is declared to need, and the user
    whose action set it off (None for a sweep); the audit log records both.
    """

    is_authenticated = True
    is_active = True
    is_superuser = False
    pk = None

    def __init__(self, name: str, capabilities, *, on_behalf_of=None):
        if not name.startswith("system:"):
            raise ValueError("a system principal's name starts with 'system:'")
        self.name = name
        self.capabilities = frozenset(capabilities)
        self.on_behalf_of = user_of(on_behalf_of)

    @property
    def username(self) -> str:
        return self.name

    def grant_paths(self, capability: str) -> list[str] | None:
        return EVERYWHERE if capability in self.capabilities else []

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<SystemPrincipal {self.name} by {self.on_behalf_of}>"


def system(name: str, capabilities, *, cause=None) -> SystemPrincipal:
    """The system principal a cascade runs as, carrying the user who caused it along."""
    return SystemPrincipal(name, capabilities, on_behalf_of=cause)


def user_of(principal):
    """The user behind a principal: itself for a user, the triggering user for the system."""
    if principal is None:
        return None
    if isinstance(principal, SystemPrincipal):
        return principal.on_behalf_of
    return principal if getattr(principal, "pk", None) else None


def grant_paths(principal, capability: str) -> list[str] | None:
    """The subtree roots where the principal holds `capability`: None = everywhere, [] = nowhere.
    The principal answers for itself (a superuser: everywhere, except what it may not do without
    a second factor, see accounts.permissions.user_grant_paths)."""
    if principal is None or not getattr(principal, "is_authenticated", False) or not principal.is_active:
        return []
    return principal.grant_paths(capability)


def allows(principal, capability: str, path: str | None = None) -> bool:
    """True when the principal holds `capability` over `path` (anywhere at all when path is None)."""
    paths = grant_paths(principal, capability)
    if paths is EVERYWHERE:
        return True
    if path is None:
        return bool(paths)
    return any(path.startswith(p) for p in paths)


def authorize(principal, capability: str, path: str | None = None) -> None:
    """The entry check of every write: 404 where the principal cannot see `path`, 403 where it
    can but its role does not grant `capability` there."""
    if allows(principal, capability, path):
        return
    if path is not None and not allows(principal, VIEW, path):
        raise NotFound("not_found", _("Not found."))
    raise Forbidden("forbidden", _("Your role does not allow this here."))


def not_found() -> NotFound:
    return NotFound("not_found", _("Not found."))


class GridScopedQuerySet(models.QuerySet):
    """Base queryset of every model that lives in the grid tree."""

    # Lookups that reach a grid path; a row is inside a subtree when any of them is.
    grid_path_lookups: tuple[str, ...] = ("grid__path",)

    def restrict(self, principal, capability: str = VIEW):
        """The rows where the principal holds `capability` (one range per subtree, fail closed)."""
        paths = grant_paths(principal, capability)
        if paths is EVERYWHERE:
            return self
        if not paths:
            return self.none()
        return self.within(minimal_paths(paths))

    def within(self, paths: list[str]):
        """The rows inside any of these subtrees (the paths `grant_paths` answered, made minimal):
        `restrict`'s filter, for a read that resolved the grant itself (core.compiled)."""
        condition = Q()
        for lookup in self.grid_path_lookups:
            for path in paths:
                condition |= subtree_q(lookup, path)
        return self.filter(condition)

    def get_for(self, principal, capability: str = VIEW, *, missing: NotFound | None = None, **lookup):
        """The one row `lookup` names, if the principal may `capability` it: else 404 (`missing`,
        or a plain "not found"), or 403 when the principal may see the row but not do this to it."""
        try:
            return self.restrict(principal, capability).get(**lookup)
        except self.model.DoesNotExist:
            pass
        except self.model.MultipleObjectsReturned:
            raise missing or not_found() from None
        except (ValueError, TypeError):  # a malformed id in a URL or a body
            raise missing or not_found() from None
        if capability != VIEW and self.restrict(principal, VIEW).filter(**lookup).exists():
            raise Forbidden("forbidden", _("Your role does not allow this here."))
        raise missing or not_found()

    def in_subtree(self, path: str):
        condition = Q()
        for lookup in self.grid_path_lookups:
            condition |= subtree_q(lookup, path)
        return self.filter(condition)
