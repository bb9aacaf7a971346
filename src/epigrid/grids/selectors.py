"""Reads about the grid tree: scoped nodes, their children and ancestors."""

from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import NotFound
from epigrid.core.scoping import EVERYWHERE, VIEW, grant_paths

from .models import GridNode


def grid_node_get(*, user, code: str) -> GridNode:
    node = GridNode.objects.restrict(user).filter(code=code).first()
    if node is None:
        raise NotFound("grid_not_found", _("No such grid."))
    return node


def grid_roots(*, user):
    """The topmost nodes the user may see (their assignments' subtrees, or the real roots)."""
    paths = grant_paths(user, VIEW)
    if paths is EVERYWHERE:
        return GridNode.objects.get_root_nodes()
    return GridNode.objects.filter(path__in=paths)


def grid_children(*, node: GridNode):
    return GridNode.objects.in_subtree(node.path).filter(depth=node.depth + 1)


def grid_ancestors(*, node: GridNode):
    """Names on the way down for breadcrumbs (only names: ancestors' contents stay scoped)."""
    return GridNode.objects.get_ancestors(node)
