"""Raising, acknowledging, resolving and escalating alerts. Every move is audited."""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment, User
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Conflict, DomainError, NotFound, RowErrors
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
    owner_id = level_owners([(level, grid_path)])[(level, grid_path)]
    return User.objects.get(pk=owner_id) if owner_id else None


def level_owners(wanted) -> dict[tuple[int, str], int | None]:
    """The responsible user's id for each (level, grid path) of a sweep's rows, one query a level:
    the post's holder at the grid's ancestor of that level, first by role, then by appointment."""
    wanted = set(wanted)
    owners: dict[tuple[int, str], int | None] = {}
    for level in {pair[0] for pair in wanted}:
        grid_level, roles = LEVEL_OWNERS[EscalationLevel(level)]
        ancestors = {path: ancestor_path(path, grid_level) for at, path in wanted if at == level}
        first: dict[str, int] = {}
        rows = (
            GridAssignment.objects.active()
            .filter(node__path__in=set(ancestors.values()), role__in=roles)
            .order_by("role", "id")
            .values_list("node__path", "user_id")
        )
        for node_path, user_id in rows:
            first.setdefault(node_path, user_id)
        owners.update({(level, path): first.get(ancestor) for path, ancestor in ancestors.items()})
    return owners


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


def _move(*, alert: Alert, target: str, principal, note: str = "", at=None, client_id=None) -> Alert:
    authorize(principal, Capability.HANDLE_ALERTS, alert.grid.path)
    if target == AlertStatus.RESOLVED and not note.strip():
        raise DomainError("resolution_required", _("Say how the alert was handled."), field="resolution")
    user = user_of(principal)
    if target == AlertStatus.ACKNOWLEDGED:
        fields = {"acknowledged_by": user}
        if client_id is not None:
            fields["acknowledged_client_id"] = client_id
    else:
        # Resolving an open alert acknowledges it too.
        now = at or timezone.now()
        fields = {"resolved_by": user, "resolution": note.strip()[:200]}
        if client_id is not None:
            fields["resolved_client_id"] = client_id
        if alert.acknowledged_at is None:
            fields |= {"acknowledged_at": now, "acknowledged_by": user}
    action = f"alert.{'acknowledge' if target == AlertStatus.ACKNOWLEDGED else 'resolve'}"
    return move(alert, target, principal=principal, fields=fields, action=action, at=at)


def alert_acknowledge(*, alert: Alert, principal) -> Alert:
    return _move(alert=alert, target=AlertStatus.ACKNOWLEDGED, principal=principal)


def alert_resolve(*, alert: Alert, resolution: str, principal) -> Alert:
    return _move(alert=alert, target=AlertStatus.RESOLVED, principal=principal, note=resolution)


# ---------------------------------------------------------------- moves taken offline

ACTIONS_BATCH_MAX = 200
CLOCK_SKEW = dt.timedelta(minutes=10)  # a phone's clock may run a little ahead
ACTIONS_MAX_AGE = dt.timedelta(days=7)


class ActionOutcome:
    STORED = "stored"  # this request made the move
    RESENT = "resent"  # made when this client id was sent before
    ALREADY = "already"  # the alert had got there meanwhile (another user): nothing to do


@dataclass(frozen=True)
class AlertActionRow:
    """An acknowledgement or a resolution as a grid member's phone took it while offline."""

    client_id: object
    alert_id: int
    action: str  # "acknowledge" or "resolve"
    at: dt.datetime | None
    resolution: str = ""


@dataclass(frozen=True)
class AlertActionResult:
    index: int
    client_id: uuid.UUID
    alert: Alert
    outcome: str


def _client_id_reused() -> Conflict:
    return Conflict("client_id_reused", _("This client id was sent before for another move."), field="client_id")


def alert_actions_record_batch(*, actions, principal, now: dt.datetime | None = None) -> list[AlertActionResult]:
    """Acknowledgements and resolutions a grid member's phone took offline, made in the order they
    were taken, each at its own time. Each keeps the phone's client id on the alert: sent again,
    it changes nothing and answers `resent`. An alert that got there meanwhile (acknowledged or
    resolved by someone else) answers `already`. Any bad row (not the caller's alert, no note to
    a resolution, a time in the future) refuses the batch, listing every bad row: nothing moves."""
    rows = list(actions)
    if len(rows) > ACTIONS_BATCH_MAX:
        raise DomainError("batch_too_large", _("At most 200 alert actions per batch."), field="actions")
    now = now or timezone.now()
    ids = []
    for row in rows:
        try:
            ids.append(uuid.UUID(str(row.client_id)))
        except (TypeError, ValueError, AttributeError):
            ids.append(None)
    known = {c for c in ids if c is not None}
    sent_before: dict[uuid.UUID, tuple[int, str]] = {}
    for pk, ack, res in Alert.objects.filter(
        Q(acknowledged_client_id__in=known) | Q(resolved_client_id__in=known)
    ).values_list("pk", "acknowledged_client_id", "resolved_client_id"):
        if ack in known:
            sent_before[ack] = (pk, "acknowledge")
        if res in known:
            sent_before[res] = (pk, "resolve")
    errors: list[dict] = []
    results: dict[int, AlertActionResult] = {}
    seen: dict[uuid.UUID, int] = {}
    order = sorted(range(len(rows)), key=lambda i: (_when(rows[i].at, now), i))
    with transaction.atomic():
        for index in order:
            row, client_id = rows[index], ids[index]
            try:
                if client_id is None:
                    raise DomainError("client_id_invalid", _("The client id must be a UUID."), field="client_id")
                if row.action not in ("acknowledge", "resolve"):
                    raise DomainError("action_invalid", _("Acknowledge or resolve."), field="action")
                if client_id in sent_before or client_id in seen:
                    first = sent_before.get(client_id) or (rows[seen[client_id]].alert_id, rows[seen[client_id]].action)
                    if first != (row.alert_id, row.action):
                        raise _client_id_reused()
                    alert = Alert.objects.get(pk=row.alert_id)
                    results[index] = AlertActionResult(index, client_id, alert, ActionOutcome.RESENT)
                    continue
                seen[client_id] = index
                at = _when(row.at, now)
                if at > now + CLOCK_SKEW:
                    raise DomainError("at_in_future", _("The time is in the future."), field="at")
                if at < now - ACTIONS_MAX_AGE:
                    raise DomainError("at_too_old", _("Moves older than 7 days are not accepted."), field="at")
                alert = Alert.objects.select_related("grid").get_for(
                    principal,
                    Capability.HANDLE_ALERTS,
                    pk=row.alert_id,
                    missing=NotFound("alert_not_found", _("No such alert.")),
                )
                target = AlertStatus.ACKNOWLEDGED if row.action == "acknowledge" else AlertStatus.RESOLVED
                if alert.status == AlertStatus.RESOLVED or alert.status == target:
                    if target == AlertStatus.RESOLVED and not (row.resolution or "").strip():
                        raise DomainError(
                            "resolution_required", _("Say how the alert was handled."), field="resolution"
                        )
                    results[index] = AlertActionResult(index, client_id, alert, ActionOutcome.ALREADY)
                    continue
                # Never before the alert was raised or acknowledged (a phone's clock running late).
                at = max(at, alert.raised_at, alert.acknowledged_at or alert.raised_at)
                alert = _move(
                    alert=alert,
                    target=target,
                    principal=principal,
                    note=row.resolution or "",
                    at=min(at, now),
                    client_id=client_id,
                )
                results[index] = AlertActionResult(index, client_id, alert, ActionOutcome.STORED)
            except DomainError as exc:
                errors.append({"index": index, **exc.as_dict()})
        if errors:
            errors.sort(key=lambda e: e["index"])
            # Raised inside the transaction: every move of the batch is undone.
            raise RowErrors("alert_actions_rejected", _("Some moves are not valid; none were made."), rows=errors)
    return [results[i] for i in range(len(rows))]


def _when(value, now: dt.datetime) -> dt.datetime:
    """The time a move was taken; one without an offset is Asia/Shanghai time; none is now."""
    if not isinstance(value, dt.datetime):
        return now
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def alerts_escalate_due(*, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Open alerts past their deadline move one level up the tree, to that level's owner."""
    now = now or timezone.now()
    due = list(
        Alert.objects.filter(status=AlertStatus.OPEN, due_at__lt=now, level__lt=EscalationLevel.COMMAND)
        .select_related("grid")
        .order_by("due_at")[:limit]
    )
    owners = level_owners([(alert.level + 1, alert.grid.path) for alert in due])
    entries = []
    with transaction.atomic():
        for alert in due:
            level = alert.level + 1
            owner_id = owners[(level, alert.grid.path)]
            updated = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN, level=alert.level).update(
                level=level, owner_id=owner_id, due_at=now + dt.timedelta(minutes=ack_minutes(level))
            )
            if updated:
                entries.append(
                    audit.AuditEntry(
                        "alert.escalate",
                        "alerts.alert",
                        str(alert.pk),
                        alert.grid.path,
                        {"level": [alert.level, level], "owner": [alert.owner_id, owner_id]},
                    )
                )
        audit.record_many(principal=ESCALATION, entries=entries)
    return len(entries)
