"""Reads about the grid tree: scoped nodes, their children and ancestors."""

from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import NotFound
from epigrid.core.scoping import EVERYWHERE, VIEW, grant_paths, subtree_q

from .models import GridNode, Place


def grid_node_get(*, user, code: str, capability: str = VIEW) -> GridNode:
    """The node, if `user` may `capability` there: else 404 (outside their area) or 403."""
    try:
        return GridNode.objects.get_for(user, capability, code=code)
    except NotFound:
        raise NotFound("grid_not_found", _("No such grid.")) from None


def place_get(*, user, pk, capability: str = VIEW, archived: bool = False) -> Place:
    """The place (seen from its grid or its thematic grid), if `user` may `capability` it: else
    404 (outside their area) or 403. Archived places only when asked for."""
    places = Place.objects.select_related("grid", "thematic_grid")
    if not archived:
        places = places.filter(archived_at__isnull=True)
    try:
        return places.get_for(user, capability, pk=pk)
    except NotFound:
        raise NotFound("place_not_found", _("No such place.")) from None


def grid_roots(*, user):
    """The topmost nodes the user may see (their assignments' subtrees, or the real roots)."""
    paths = grant_paths(user, VIEW)
    if paths is EVERYWHERE:
        return GridNode.objects.get_root_nodes()
    return GridNode.objects.filter(path__in=paths)


def grid_children(*, node: GridNode):
    return GridNode.objects.filter(subtree_q("path", node.path), depth=node.depth + 1)


def grid_ancestors(*, node: GridNode):
    """Names on the way down for breadcrumbs (only names: ancestors' contents stay scoped)."""
    return GridNode.objects.get_ancestors(node)
