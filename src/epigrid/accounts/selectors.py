"""Reads about staff assignments, scoped to the user's grid subtrees."""

from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import NotFound
from epigrid.core.scoping import VIEW

from .models import GridAssignment


def grid_assignment_get(*, user, pk, capability: str = VIEW) -> GridAssignment:
    """The assignment, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return GridAssignment.objects.select_related("user", "node").get_for(
        user, capability, pk=pk, missing=NotFound("assignment_not_found", _("No such assignment."))
    )
