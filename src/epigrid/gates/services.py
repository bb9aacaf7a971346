"""Checkpoints (docs/method.md "5" item 9): household passes with QR tokens, the gate decision, visitors,
the 24-hour duty roster."""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, Severity
from epigrid.alerts.services import NewAlert, alerts_raise
from epigrid.control.choices import OPEN_ORDER_STATUSES, OrderKind
from epigrid.control.models import ControlOrder
from epigrid.control.selectors import liaison_for
from epigrid.core import audit, extensions
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, seal
from epigrid.core.errors import Conflict, DomainError, NotFound
from epigrid.core.extensions import GapCheck
from epigrid.core.scoping import VIEW, allows, authorize
from epigrid.core.validators import parse_id_number, parse_phone
from epigrid.grids.choices import GridLevel
from epigrid.health.services import parse_temperature, policy
from epigrid.people.models import Household, Person

from .choices import Direction, RefusalReason, Verdict
from .models import Checkpoint, HouseholdPass, Passage, Shift, ShiftGuard, Visitor

STEP = 4
DOUBLE_SCAN_SECONDS = 60

def _compound_path(path: str) -> str:
    return path[: 3 * STEP]


# ---------------------------------------------------------------- checkpoints


def checkpoint_open(*, grid, name: str, principal) -> Checkpoint:
    authorize(principal, Capability.MANAGE_CHECKPOINTS, grid.path)
    if grid.level != GridLevel.GRID:
        raise DomainError("checkpoint_grid", _("A checkpoint belongs to a compound grid."), field="grid")
    name = (name or "").strip()
    if not name:
        raise DomainError("name_required", _("Name the entrance (e.g. 北门)."), field="name")
    with transaction.atomic():
        checkpoint, created = Checkpoint.objects.get_or_create(grid=grid, name=name[:50])
        if not created and checkpoint.is_open:
            return checkpoint
        checkpoint.is_open, checkpoint.closed_at = True, None
        checkpoint.save()
        audit.record(principal=principal, action="checkpoint.open", obj=checkpoint, grid_path=grid.path)
    return checkpoint


def checkpoint_close(*, checkpoint: Checkpoint, principal) -> Checkpoint:
    authorize(principal, Capability.MANAGE_CHECKPOINTS, checkpoint.grid.path)
    with transaction.atomic():
        locked = Checkpoint.objects.select_for_update().get(pk=checkpoint.pk)
        if not locked.is_open:
            return locked
        locked.is_open, locked.closed_at = False, timezone.now()
        locked.save()
        audit.record(principal=principal, action="checkpoint.close", obj=locked, grid_path=locked.grid.path)
    return locked


# ---------------------------------------------------------------- passes


def _token() -> tuple[str, str, bytes]:
    token = secrets.token_urlsafe(18)
    return token, hashlib.sha256(token.encode()).hexdigest(), seal(token)


def passes_issue(*, grid, principal) -> int:
    """A numbered pass for every household of a compound that has none (bulk, idempotent)."""
    authorize(principal, Capability.ISSUE_PASSES, grid.path)
    compound = grid if grid.depth <= 3 else grid.__class__.objects.get(path=_compound_path(grid.path))
    with transaction.atomic():
        compound.__class__.objects.select_for_update().filter(pk=compound.pk).first()  # one issuer at a time
        households = (
            Household.objects.in_subtree(compound.path)
            .filter(archived_at__isnull=True)
            .exclude(Exists(HouseholdPass.objects.filter(household=OuterRef("pk"), revoked_at__isnull=True)))
            .select_related("grid")
            .order_by("grid__path", "number")
        )
        taken = HouseholdPass.objects.filter(number__startswith=f"{compound.code}-").count()
        passes = []
        for offset, household in enumerate(households, start=1):
            _t, token_hash, sealed = _token()
            passes.append(
                HouseholdPass(
                    household=household,
                    grid=household.grid,
                    number=f"{compound.code}-{taken + offset:04d}",
                    token_hash=token_hash,
                    token_sealed=sealed,
                    issued_by=principal,
                )
            )
        HouseholdPass.objects.bulk_create(passes, batch_size=2000)
        if passes:
            audit.record(
                principal=principal,
                action="passes.issue",
                object_type="grids.gridnode",
                object_id=str(compound.pk),
                grid_path=compound.path,
                changes={"issued": [None, len(passes)]},
            )
    return len(passes)


def pass_reissue(*, household_pass: HouseholdPass, principal) -> HouseholdPass:
    """Same number, new token: the old card stops working."""
    authorize(principal, Capability.ISSUE_PASSES, household_pass.grid.path)
    with transaction.atomic():
        old = HouseholdPass.objects.select_for_update().get(pk=household_pass.pk)
        if old.revoked_at is None:
            old.revoked_at = timezone.now()
            old.save(update_fields=["revoked_at"])
        _t, token_hash, sealed = _token()
        new = HouseholdPass.objects.create(
            household=old.household,
            grid=old.grid,
            number=old.number,
            token_hash=token_hash,
            token_sealed=sealed,
            issued_by=principal,
        )
        audit.record(
            principal=principal,
            action="pass.reissue",
            object_type="people.household",
            object_id=str(old.household_id),
            grid_path=old.grid.path,
            changes={"number": [None, old.number]},
        )
    return new


def pass_revoke(*, household_pass: HouseholdPass, principal) -> HouseholdPass:
    authorize(principal, Capability.ISSUE_PASSES, household_pass.grid.path)
    with transaction.atomic():
        locked = HouseholdPass.objects.select_for_update().get(pk=household_pass.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit.record(
                principal=principal,
                action="pass.revoke",
                object_type="people.household",
                object_id=str(locked.household_id),
                grid_path=locked.grid.path,
                changes={"number": [locked.number, None]},
            )
    return locked


def _find_pass(*, token: str = "", number: str = "") -> HouseholdPass:
    if token:
        found = HouseholdPass.objects.filter(token_hash=hashlib.sha256(token.strip().encode()).hexdigest())
    else:
        # A typed number finds the active pass, else the newest revoked one (to say it is revoked).
        found = HouseholdPass.objects.filter(number=(number or "").strip().upper()).order_by(
            F("revoked_at").desc(nulls_first=True), "-issued_at"
        )
    household_pass = found.select_related("household__grid", "grid").first()
    if household_pass is None:
        raise NotFound("pass_not_found", _("No such pass: check the number or scan again."), field="number")
    return household_pass


# ---------------------------------------------------------------- the gate


@dataclass
class GateAnswer:
    passage: Passage
    codes: list[tuple[str, str]]  # (name, colour) of the household's members
    repeated: bool = False


def _exit_suspension(household) -> str | None:
    quarantined = ControlOrder.objects.filter(
        person__household=household, status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
    ).exists()
    if quarantined:
        return RefusalReason.QUARANTINE
    # Other apps add reasons to suspend a household's exit ("exit_suspensions": the emergency
    # response's closed epidemic point): f(household) -> RefusalReason or None.
    for check in extensions.get("exit_suspensions"):
        reason = check(household)
        if reason:
            return reason
    return None


def _open_checkpoint(checkpoint: Checkpoint, guard) -> None:
    authorize(guard, Capability.GUARD_GATE, checkpoint.grid.path)
    if not checkpoint.is_open:
        raise DomainError("checkpoint_closed", RefusalReason.CHECKPOINT_CLOSED.label)


def _codes(household) -> list[tuple[str, str]]:
    from epigrid.health.selectors import health_codes

    members = list(Person.objects.current().filter(household=household))
    codes = health_codes(members)
    return [(p.name, codes[p.pk].colour) for p in members]


def gate_scan(
    *,
    checkpoint: Checkpoint,
    direction: str,
    temperature=None,
    token: str = "",
    number: str = "",
    guard,
    now: dt.datetime | None = None,
) -> GateAnswer:
    """Scan or type a pass: one passage (a double scan within 60 s by any guard is the same one),
    allowed or refused with the reason; a refusal and a fever raise alerts."""
    now = now or timezone.now()
    _open_checkpoint(checkpoint, guard)
    if direction not in Direction.values:
        raise DomainError("direction", _("Choose in or out."), field="direction")
    value = parse_temperature(temperature, field="temperature") if temperature not in (None, "") else None
    household_pass = _find_pass(token=token, number=number)
    with transaction.atomic():
        HouseholdPass.objects.select_for_update().filter(pk=household_pass.pk).first()  # serialise scans of a pass
        window = dt.timedelta(seconds=DOUBLE_SCAN_SECONDS)
        # Either side of `now`: an offline phone's late passage is a repeat only of one near it.
        recent = (
            Passage.objects.filter(
                household_pass=household_pass, direction=direction, at__gte=now - window, at__lte=now + window
            )
            .order_by("-at")
            .first()
        )
        if recent is not None:
            return GateAnswer(recent, _codes(household_pass.household), repeated=True)
        reason = ""
        if household_pass.revoked_at is not None:
            reason = RefusalReason.REVOKED
        elif _compound_path(household_pass.grid.path) != checkpoint.grid.path:
            reason = RefusalReason.WRONG_CHECKPOINT
        elif value is not None and value >= policy().fever_threshold:
            reason = RefusalReason.FEVER
        elif direction == Direction.OUT:
            reason = _exit_suspension(household_pass.household) or ""
        passage = Passage.objects.create(
            checkpoint=checkpoint,
            grid=checkpoint.grid,
            household_pass=household_pass,
            direction=direction,
            temperature=value,
            verdict=Verdict.REFUSED if reason else Verdict.ALLOWED,
            reason=reason,
            guard=guard,
            at=now,
        )
        if reason:
            _gate_alert(passage=passage, household=household_pass.household, now=now)
    return GateAnswer(passage, _codes(household_pass.household))


def _gate_alert(*, passage: Passage, household, now) -> None:
    members = list(Person.objects.current().filter(household=household).select_related("grid")[:1])
    owner = liaison_for(members[0]) if members else None
    kind = AlertKind.FEVER if passage.reason == RefusalReason.FEVER else AlertKind.GATE_REFUSAL
    alerts_raise(
        principal=passage.guard,
        now=now,
        alerts=[
            NewAlert(
                kind=kind,
                dedup_key=f"gate:{passage.pk}",
                grid_id=household.grid_id,
                grid_path=household.grid.path,
                owner_id=getattr(owner, "pk", None),
                severity=Severity.URGENT,
                detail={
                    "checkpoint": str(passage.checkpoint),
                    "reason": passage.reason,
                    "value": str(passage.temperature) if passage.temperature is not None else "",
                    "household": household.address,
                },
            )
        ],
    )


def visitor_register(
    *,
    checkpoint: Checkpoint,
    name: str,
    phone: str,
    id_number: str,
    visiting: Household,
    reason: str,
    direction: str = Direction.IN,
    temperature=None,
    guard,
) -> GateAnswer:
    _open_checkpoint(checkpoint, guard)
    if not allows(guard, VIEW, visiting.grid.path) or _compound_path(visiting.grid.path) != checkpoint.grid.path:
        raise DomainError("visiting_unknown", _("The household visited is not in this compound."), field="visiting")
    if not (name or "").strip() or not (reason or "").strip():
        raise DomainError("visitor_required", _("Give the visitor's name and the reason."), field="name")
    number = parse_id_number(id_number).number
    phone_number = parse_phone(phone)
    value = parse_temperature(temperature, field="temperature") if temperature not in (None, "") else None
    refused = value is not None and value >= policy().fever_threshold
    with transaction.atomic():
        visitor = Visitor.objects.create(
            name=name.strip()[:50],
            phone_sealed=seal(phone_number.number),
            phone_masked=phone_number.masked,
            id_number_sealed=seal(number),
            id_number_hash=lookup_hash("id", number),
            id_number_masked=number[:6] + "*" * 8 + number[-4:],
            visiting=visiting,
            reason=reason.strip()[:100],
        )
        passage = Passage.objects.create(
            checkpoint=checkpoint,
            grid=checkpoint.grid,
            visitor=visitor,
            direction=direction,
            temperature=value,
            verdict=Verdict.REFUSED if refused else Verdict.ALLOWED,
            reason=RefusalReason.FEVER if refused else "",
            guard=guard,
            at=timezone.now(),
        )
        audit.record(
            principal=guard,
            action="visitor.register",
            object_type="people.household",
            object_id=str(visiting.pk),
            grid_path=visiting.grid.path,
            changes={"visitor": [None, visitor.pk], "verdict": [None, passage.verdict]},
        )
        if refused:
            _gate_alert(passage=passage, household=visiting, now=passage.at)
    return GateAnswer(passage, [])


# ---------------------------------------------------------------- duty roster


def shift_create(
    *, checkpoint: Checkpoint, starts_at: dt.datetime, ends_at: dt.datetime, leader, guards, principal
) -> Shift:
    authorize(principal, Capability.MANAGE_CHECKPOINTS, checkpoint.grid.path)
    if ends_at <= starts_at or ends_at - starts_at > dt.timedelta(hours=24):
        raise DomainError("shift_times", _("A shift ends after it starts and lasts at most 24 hours."), field="ends_at")
    with transaction.atomic():
        shift = Shift.objects.create(
            checkpoint=checkpoint, grid=checkpoint.grid, starts_at=starts_at, ends_at=ends_at, leader=leader
        )
        ShiftGuard.objects.bulk_create([ShiftGuard(shift=shift, user=u) for u in {leader, *guards}])
        audit.record(
            principal=principal,
            action="shift.create",
            obj=shift,
            grid_path=checkpoint.grid.path,
            changes={"starts_at": [None, starts_at.isoformat()], "ends_at": [None, ends_at.isoformat()]},
        )
    return shift


def shift_check(*, shift: Shift, guard, out: bool = False) -> ShiftGuard:
    with transaction.atomic():
        attendance = ShiftGuard.objects.select_for_update().filter(shift=shift, user=guard).first()
        if attendance is None:
            raise Conflict("not_on_shift", _("You are not on this shift."))
        field = "checked_out_at" if out else "checked_in_at"
        if getattr(attendance, field) is None:
            setattr(attendance, field, timezone.now())
            attendance.save(update_fields=[field])
            audit.record(
                principal=guard,
                action=f"shift.{'check_out' if out else 'check_in'}",
                obj=shift,
                grid_path=shift.grid.path,
            )
    return attendance


def uncovered_hours(*, checkpoint: Checkpoint, start: dt.datetime, hours: int = 7 * 24) -> list[dt.datetime]:
    """The hours (from `start`, on the hour) when no guard is on duty at the checkpoint."""
    start = start.replace(minute=0, second=0, microsecond=0)
    end = start + dt.timedelta(hours=hours)
    shifts = list(
        Shift.objects.filter(checkpoint=checkpoint, starts_at__lt=end, ends_at__gt=start)
        .filter(Exists(ShiftGuard.objects.filter(shift=OuterRef("pk"))))
        .values_list("starts_at", "ends_at")
    )
    gaps = []
    for h in range(hours):
        hour = start + dt.timedelta(hours=h)
        if not any(s <= hour and e >= hour + dt.timedelta(hours=1) for s, e in shifts):
            gaps.append(hour)
    return gaps


def checkpoints_with_gaps():
    """Open checkpoints with an uncovered hour in the next 7 days (a coverage gap)."""
    now = timezone.now()
    ids = [c.pk for c in Checkpoint.objects.filter(is_open=True) if uncovered_hours(checkpoint=c, start=now)]
    return Checkpoint.objects.filter(pk__in=ids)


CHECKPOINT_GAP = GapCheck(
    "checkpoint_uncovered",
    _("Checkpoint with an hour of the next 7 days without a guard"),
    checkpoints_with_gaps,
    "gates:checkpoint",
)
