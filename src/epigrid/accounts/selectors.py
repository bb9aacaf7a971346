"""Reads about staff assignments and accounts, scoped to the user's grid subtrees."""

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import Forbidden, NotFound
from epigrid.core.scoping import EVERYWHERE, VIEW, grant_paths

from .choices import Capability
from .models import GridAssignment, User
from .permissions import may_manage


def grid_assignment_get(*, user, pk, capability: str = VIEW) -> GridAssignment:
    """The assignment, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return GridAssignment.objects.select_related("user", "node").get_for(
        user, capability, pk=pk, missing=NotFound("assignment_not_found", _("No such assignment."))
    )


def users_visible(*, user):
    """The accounts `user` sees as an administrator: those placed (permissions.scope_assignments:
    their active assignments, or all of them when none is active) at a node inside `user`'s
    MANAGE_ASSIGNMENTS subtrees. Everyone for a superuser; nobody for anyone else."""
    paths = grant_paths(user, Capability.MANAGE_ASSIGNMENTS)
    if paths is EVERYWHERE:
        return User.objects.all()
    if not paths:
        return User.objects.none()
    inside = GridAssignment.objects.restrict(user, Capability.MANAGE_ASSIGNMENTS)
    holding = GridAssignment.objects.filter(ended_at__isnull=True).values("user")
    return User.objects.filter(
        Q(pk__in=inside.filter(ended_at__isnull=True).values("user"))
        | (~Q(pk__in=holding) & Q(pk__in=inside.values("user")))
    )


def user_get(*, user, pk, manage: bool = False) -> User:
    """One account: 404 when `user` does not see it (users_visible); with `manage`, 403 when it
    sees it but may not manage it (permissions.may_manage)."""
    try:
        target = users_visible(user=user).get(pk=pk)
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound("user_not_found", _("No such user.")) from None
    if manage and not may_manage(user, target):
        raise Forbidden("forbidden", _("Your role does not allow this here."))
    return target
