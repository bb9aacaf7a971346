"""One fail-closed rule for who sees what: a user sees the grid subtrees they are assigned to.

Every page, API endpoint, export and command reads through `visible_to(user)`. A subtree is a
range on the materialised path (`path >= p AND path < p || U+FFFF`), which uses the index on
both SQLite and PostgreSQL (ARCHITECTURE "Subtree queries, measured").
"""

from django.db import models
from django.db.models import Q

PATH_END = "\uffff"


def subtree_q(lookup: str, path: str) -> Q:
    return Q(**{f"{lookup}__gte": path, f"{lookup}__lt": path + PATH_END})


def minimal_paths(paths) -> list[str]:
    """Drop paths that lie inside another path of the set."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not kept or not path.startswith(kept[-1]):
            kept.append(path)
    return kept


def scope_paths(user) -> list[str] | None:
    """The subtree roots the user may see; None means everything (superuser); [] nothing."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    if user.is_superuser:
        return None
    cached = getattr(user, "_epigrid_scope_paths", None)
    if cached is None:
        cached = minimal_paths(user.active_assignment_paths())
        user._epigrid_scope_paths = cached
    return cached


def path_visible(user, path: str | None) -> bool:
    paths = scope_paths(user)
    if paths is None:
        return True
    return bool(path) and any(path.startswith(p) for p in paths)


class GridScopedQuerySet(models.QuerySet):
    """Base queryset of every model that lives in the grid tree."""

    # Lookups that reach a grid path; a row is visible when any of them is in scope.
    grid_path_lookups: tuple[str, ...] = ("grid__path",)

    def visible_to(self, user):
        paths = scope_paths(user)
        if paths is None:
            return self
        if not paths:
            return self.none()
        condition = Q()
        for lookup in self.grid_path_lookups:
            for path in paths:
                condition |= subtree_q(lookup, path)
        return self.filter(condition)

    def in_subtree(self, path: str):
        condition = Q()
        for lookup in self.grid_path_lookups:
            condition |= subtree_q(lookup, path)
        return self.filter(condition)
