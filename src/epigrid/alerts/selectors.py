from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import NotFound
from epigrid.core.scoping import VIEW

from .choices import AlertKind, EscalationLevel
from .models import Alert
from .services import LEVEL_OWNERS, ack_minutes


def alert_text(alert: Alert) -> str:
    """The alert in a sentence: "漏报体温（第2次时段 12:00）· 待处理 · 李刚"."""
    detail = alert.detail or {}
    if alert.kind == AlertKind.MISSED_SLOT and "slot" in detail:
        what = gettext("Missed temperature report (slot %(n)s, %(time)s)") % {
            "n": int(detail["slot"]) + 1,
            "time": detail.get("time", ""),
        }
    elif alert.kind == AlertKind.FEVER and detail.get("value"):
        what = gettext("Fever: %(value)s °C") % {"value": detail["value"]}
    else:
        what = str(alert.get_kind_display())
    parts = [what, str(alert.get_status_display())]
    if alert.owner_id:
        parts.append(gettext("owner %(name)s") % {"name": alert.owner})
    return " · ".join(parts)


def alert_timeline(person):
    return [
        {
            "at": a.raised_at,
            "kind": f"alert.{a.kind}",
            "actor": str(a.owner or ""),
            "changes": {"status": [None, a.status]},
            "source": "alerts",
            "text": alert_text(a),
        }
        for a in Alert.objects.filter(person=person).select_related("owner").order_by("-raised_at")[:200]
    ]


def alert_list(
    *,
    user,
    mine: bool = False,
    unresolved: bool = True,
    person_id: int | None = None,
    kind: str = "",
    grid_path: str = "",
):
    alerts = Alert.objects.restrict(user).select_related("person", "person__household", "grid", "owner")
    if unresolved:
        alerts = alerts.unresolved()
    if mine:
        alerts = alerts.filter(owner=user)
    if person_id:
        alerts = alerts.filter(person_id=person_id)
    if kind:
        alerts = alerts.filter(kind=kind)
    if grid_path:
        alerts = alerts.in_subtree(grid_path)
    # Urgent first, then the oldest: what has waited longest at a severity comes first.
    return alerts.order_by("-severity", "raised_at", "id")


def alert_get(*, user, pk, capability: str = VIEW) -> Alert:
    """The alert, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Alert.objects.select_related("person", "grid", "owner").get_for(
        user, capability, pk=pk, missing=NotFound("alert_not_found", _("No such alert."))
    )


def alert_timing() -> list[dict]:
    """Each escalation level: who owns an alert there, the minutes they have to acknowledge it
    (settings.ALERT_ACK_MINUTES) and the level it moves to when they do not (None at the top)."""
    levels = list(EscalationLevel)
    return [
        {
            "level": level.value,
            "label": str(level.label),
            "owner_roles": ["liaison"]
            if level == EscalationLevel.LIAISON
            else [str(r) for r in LEVEL_OWNERS[level][1]],
            "ack_minutes": ack_minutes(level.value),
            "escalates_to": levels[i + 1].value if i + 1 < len(levels) else None,
        }
        for i, level in enumerate(levels)
    ]
