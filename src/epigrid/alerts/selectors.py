from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import NotFound
from epigrid.core.scoping import VIEW

from .models import Alert


def alert_timeline(person):
    return [
        {
            "at": a.raised_at,
            "kind": f"alert.{a.kind}",
            "actor": str(a.owner or ""),
            "changes": {"status": [None, a.get_status_display()]},
            "source": "alerts",
        }
        for a in Alert.objects.filter(person=person).select_related("owner").order_by("-raised_at")[:200]
    ]


def alert_list(*, user, mine: bool = False, unresolved: bool = True):
    alerts = Alert.objects.restrict(user).select_related("person", "grid", "owner")
    if unresolved:
        alerts = alerts.unresolved()
    if mine:
        alerts = alerts.filter(owner=user)
    return alerts.order_by("-severity", "due_at", "id")


def alert_get(*, user, pk, capability: str = VIEW) -> Alert:
    """The alert, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Alert.objects.select_related("person", "grid", "owner").get_for(
        user, capability, pk=pk, missing=NotFound("alert_not_found", _("No such alert."))
    )
