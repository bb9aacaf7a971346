"""Reads about the grid tree: scoped nodes, their children and ancestors."""

from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import NotFound
from epigrid.core.scoping import EVERYWHERE, VIEW, grant_paths

from .choices import GridLevel
from .models import GridNode, Place


def grid_node_get(*, user, code: str, capability: str = VIEW) -> GridNode:
    """The node, if `user` may `capability` there: else 404 (outside their area) or 403."""
    return GridNode.objects.get_for(user, capability, code=code, missing=NotFound("grid_not_found", _("No such grid.")))


def place_get(*, user, pk, capability: str = VIEW, archived: bool = False) -> Place:
    """The place (seen from its grid or its thematic grid), if `user` may `capability` it: else
    404 (outside their area) or 403. Archived places only when asked for."""
    places = Place.objects.select_related("grid", "thematic_grid")
    if not archived:
        places = places.filter(archived_at__isnull=True)
    return places.get_for(user, capability, pk=pk, missing=NotFound("place_not_found", _("No such place.")))


def grid_roots(*, user):
    """The topmost nodes the user may see (their assignments' subtrees, or the real roots)."""
    paths = grant_paths(user, VIEW)
    if paths is EVERYWHERE:
        return GridNode.objects.get_root_nodes()
    return GridNode.objects.filter(path__in=paths)


def grid_children(*, node: GridNode, levels=None):
    """The node's direct children in path order; `levels` keeps only those levels (the dashboard
    leaves out thematic grids, the daily reports buildings too)."""
    children = GridNode.objects.in_subtree(node.path).filter(depth=node.depth + 1)
    if levels is not None:
        children = children.filter(level__in=list(levels))
    return children.order_by("path")


def grid_ancestors(*, node: GridNode):
    """Names on the way down for breadcrumbs (only names: ancestors' contents stay scoped)."""
    return GridNode.objects.get_ancestors(node)


def grid_choices(*, user, limit: int = 300) -> list[GridNode]:
    """The grids a list may be narrowed to: those the user sees, down to compound grids (a
    building is one click further, on the grid's page), in tree order; at most `limit`."""
    return list(
        GridNode.objects.restrict(user)
        .exclude(level=GridLevel.BUILDING)
        .order_by("path")
        .only("code", "name", "path", "depth", "level")[:limit]
    )
