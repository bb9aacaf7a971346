"""Raising, acknowledging, resolving and escalating alerts. Every move is audited."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.scoping import SystemPrincipal, authorize, user_of
from epigrid.core.transitions import move
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import ancestor_path

from .choices import AlertStatus, EscalationLevel, Severity
from .models import Alert

# Who owns an alert at each level above the liaison, and at which level of the tree they sit.
LEVEL_OWNERS = {
    EscalationLevel.GRID_HEAD: (GridLevel.GRID, (Role.GRID_HEAD,)),
    EscalationLevel.COMMUNITY: (GridLevel.COMMUNITY, (Role.COMMUNITY_SECRETARY, Role.COMMUNITY_STAFF)),
    EscalationLevel.COMMAND: (GridLevel.SUBDISTRICT, (Role.COMMANDER, Role.SUBDISTRICT_STAFF)),
}


def ack_minutes(level: int) -> int:
    return settings.ALERT_ACK_MINUTES[min(level, len(settings.ALERT_ACK_MINUTES) - 1)]


def level_owner(*, level: int, grid_path: str):
    """The responsible user at `level` above the grid at `grid_path` (None if the post is empty:
    the coverage audit reports that gap)."""
    grid_level, roles = LEVEL_OWNERS[EscalationLevel(level)]
    ancestor = ancestor_path(grid_path, grid_level)
    assignment = (
        GridAssignment.objects.active()
        .filter(node__path=ancestor, role__in=roles)
        .order_by("role", "id")
        .select_related("user")
        .first()
    )
    return assignment.user if assignment else None


@dataclass
class NewAlert:
    kind: str
    dedup_key: str
    grid_id: int
    grid_path: str
    person_id: int | None = None
    owner_id: int | None = None
    severity: str = Severity.NORMAL
    level: int = EscalationLevel.LIAISON
    detail: dict | None = None


ESCALATION = SystemPrincipal("system:escalation", {Capability.HANDLE_ALERTS})


def alerts_raise(*, alerts: list[NewAlert], principal, now: dt.datetime | None = None) -> list[Alert]:
    """Raise alerts in bulk; an alert whose dedup key exists already is not raised again."""
    now = now or timezone.now()
    if not alerts:
        return []
    with transaction.atomic():
        keys = [a.dedup_key for a in alerts]
        existing = set(Alert.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True))
        fresh = {a.dedup_key: a for a in alerts if a.dedup_key not in existing}
        rows = [
            Alert(
                kind=a.kind,
                severity=a.severity,
                dedup_key=a.dedup_key,
                person_id=a.person_id,
                grid_id=a.grid_id,
                owner_id=a.owner_id,
                level=a.level,
                detail=a.detail or {},
                raised_at=now,
                due_at=now + dt.timedelta(minutes=ack_minutes(a.level)),
            )
            for a in fresh.values()
        ]
        # ignore_conflicts: a concurrent raiser of the same fact wins, this one adds nothing.
        Alert.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
        created = list(Alert.objects.filter(dedup_key__in=list(fresh), raised_at=now))
        audit.record_many(
            principal=principal,
            entries=[
                audit.AuditEntry(
                    "alert.raise",
                    "alerts.alert",
                    str(a.pk),
                    fresh[a.dedup_key].grid_path,
                    {"kind": [None, a.kind], "person": [None, a.person_id], "owner": [None, a.owner_id]},
                )
                for a in created
            ],
        )
    return created


def _move(*, alert: Alert, target: str, principal, note: str = "") -> Alert:
    authorize(principal, Capability.HANDLE_ALERTS, alert.grid.path)
    if target == AlertStatus.RESOLVED and not note.strip():
        raise DomainError("resolution_required", _("Say how the alert was handled."), field="resolution")
    user = user_of(principal)
    if target == AlertStatus.ACKNOWLEDGED:
        fields = {"acknowledged_by": user}
    else:
        # Resolving an open alert acknowledges it too.
        now = timezone.now()
        fields = {"resolved_by": user, "resolution": note.strip()[:200]}
        if alert.acknowledged_at is None:
            fields |= {"acknowledged_at": now, "acknowledged_by": user}
    action = f"alert.{'acknowledge' if target == AlertStatus.ACKNOWLEDGED else 'resolve'}"
    return move(alert, target, principal=principal, fields=fields, action=action)


def alert_acknowledge(*, alert: Alert, principal) -> Alert:
    return _move(alert=alert, target=AlertStatus.ACKNOWLEDGED, principal=principal)


def alert_resolve(*, alert: Alert, resolution: str, principal) -> Alert:
    return _move(alert=alert, target=AlertStatus.RESOLVED, principal=principal, note=resolution)


def alerts_escalate_due(*, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Open alerts past their deadline move one level up the tree, to that level's owner."""
    now = now or timezone.now()
    due = list(
        Alert.objects.filter(status=AlertStatus.OPEN, due_at__lt=now, level__lt=EscalationLevel.COMMAND)
        .select_related("grid")
        .order_by("due_at")[:limit]
    )
    owners: dict[tuple[int, str], object] = {}
    entries = []
    with transaction.atomic():
        for alert in due:
            level = alert.level + 1
            key = (level, ancestor_path(alert.grid.path, LEVEL_OWNERS[EscalationLevel(level)][0]))
            if key not in owners:
                owners[key] = level_owner(level=level, grid_path=alert.grid.path)
            owner = owners[key]
            updated = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN, level=alert.level).update(
                level=level, owner=owner, due_at=now + dt.timedelta(minutes=ack_minutes(level))
            )
            if updated:
                entries.append(
                    audit.AuditEntry(
                        "alert.escalate",
                        "alerts.alert",
                        str(alert.pk),
                        alert.grid.path,
                        {"level": [alert.level, level], "owner": [alert.owner_id, getattr(owner, "pk", None)]},
                    )
                )
        audit.record_many(principal=ESCALATION, entries=entries)
    return len(entries)
