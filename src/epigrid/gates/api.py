"""/api/v1 for checkpoints (docs/method.md "5" item 9): open and close entrances, scan passes (also in
batches from guards' phones that were offline), register visitors, issue passes, plan shifts."""

import datetime as dt
import uuid

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from epigrid.accounts.models import User
from epigrid.core.api import ERRORS
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound, RowErrors
from epigrid.core.scoping import authorize
from epigrid.grids.selectors import grid_node_get
from epigrid.health.api import BatchErrorOut
from epigrid.people import selectors as people_selectors

from . import services
from .choices import Direction, RefusalReason
from .models import Checkpoint, HouseholdPass, Shift

router = Router(tags=["gates"])

BATCH_MAX = 5000
BATCH_MAX_AGE = dt.timedelta(days=7)
CLOCK_SKEW = dt.timedelta(minutes=10)  # a phone's clock may run a little ahead


def _checkpoint(request, pk: int) -> Checkpoint:
    checkpoint = Checkpoint.objects.restrict(request.user).select_related("grid").filter(pk=pk).first()
    if checkpoint is None:
        raise NotFound("checkpoint_not_found", _("No such checkpoint."))
    return checkpoint


def _pass(request, pk: int) -> HouseholdPass:
    household_pass = HouseholdPass.objects.restrict(request.user).select_related("grid").filter(pk=pk).first()
    if household_pass is None:
        raise NotFound("pass_not_found", _("No such pass."))
    return household_pass


# ---------------------------------------------------------------- checkpoints


class CheckpointIn(Schema):
    grid: str
    name: str


class CheckpointOut(Schema):
    id: int
    grid: str
    name: str
    is_open: bool
    opened_at: dt.datetime
    closed_at: dt.datetime | None


def _checkpoint_out(c: Checkpoint) -> dict:
    return {
        "id": c.pk,
        "grid": c.grid.code,
        "name": c.name,
        "is_open": c.is_open,
        "opened_at": c.opened_at,
        "closed_at": c.closed_at,
    }


@router.get("/checkpoints", response={200: list[CheckpointOut], **ERRORS}, summary="防疫检查点 in the user's scope")
def checkpoint_list(request, is_open: bool | None = None):
    rows = Checkpoint.objects.restrict(request.user).select_related("grid").order_by("grid__path", "name")
    if is_open is not None:
        rows = rows.filter(is_open=is_open)
    return [_checkpoint_out(c) for c in rows[:500]]


@router.post("/checkpoints", response={201: CheckpointOut, **ERRORS}, summary="Open a checkpoint (idempotent)")
def checkpoint_open(request, payload: CheckpointIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    checkpoint = services.checkpoint_open(grid=grid, name=payload.name, principal=request.user)
    return Status(201, _checkpoint_out(checkpoint))


@router.post("/checkpoints/{pk}/close", response={200: CheckpointOut, **ERRORS}, summary="Close a checkpoint")
def checkpoint_close(request, pk: int):
    checkpoint = services.checkpoint_close(checkpoint=_checkpoint(request, pk), principal=request.user)
    return _checkpoint_out(checkpoint)


# ---------------------------------------------------------------- the gate


class ScanIn(Schema):
    token: str = ""
    number: str = ""
    direction: Direction
    temperature: float | str | None = None


class CodeOut(Schema):
    name: str
    colour: str


class ScanOut(Schema):
    passage_id: int
    verdict: str
    reason: str
    reason_label: str
    household_pass_number: str | None
    repeated: bool
    codes: list[CodeOut]


def _scan_out(answer: services.GateAnswer) -> dict:
    passage = answer.passage
    return {
        "passage_id": passage.pk,
        "verdict": passage.verdict,
        "reason": passage.reason,
        "reason_label": str(RefusalReason(passage.reason).label) if passage.reason else "",
        "household_pass_number": passage.household_pass.number if passage.household_pass_id else None,
        "repeated": answer.repeated,
        "codes": [{"name": name, "colour": colour} for name, colour in answer.codes],
    }


def _temperature(value):
    return "" if value is None else str(value)


@router.post(
    "/checkpoints/{pk}/scan",
    response={200: ScanOut, **ERRORS},
    summary="Scan (token) or type (number) a pass: allowed or refused with the reason; a rescan within 60 s "
    "answers the same passage",
)
def gate_scan(request, pk: int, payload: ScanIn):
    if not payload.token.strip() and not payload.number.strip():
        raise DomainError("pass_required", _("Scan the pass or type its number."), field="number")
    answer = services.gate_scan(
        checkpoint=_checkpoint(request, pk),
        direction=payload.direction.value,
        temperature=_temperature(payload.temperature),
        token=payload.token,
        number=payload.number,
        guard=request.user,
    )
    return _scan_out(answer)


class PassageIn(Schema):
    token: str = ""
    number: str = ""
    direction: Direction
    temperature: float | str | None = None
    at: dt.datetime
    client_id: uuid.UUID


class PassagesIn(Schema):
    checkpoint_id: int
    passages: list[PassageIn]


class PassageResultOut(Schema):
    index: int
    client_id: uuid.UUID
    passage_id: int
    verdict: str
    reason: str
    repeated: bool


class PassagesOut(Schema):
    stored: int
    repeated: int
    refused: int
    results: list[PassageResultOut]


def _row_error(index: int, code: str, message, field: str) -> dict:
    return {"index": index, **DomainError(code, message, field=field).as_dict()}


@router.post(
    "/passages/batch",
    response={200: PassagesOut, **ERRORS, 422: BatchErrorOut},
    summary="Passages recorded offline on a guard's phone, each at its own time (a resent batch stores nothing "
    "twice); any bad row refuses the whole batch",
)
def passages_batch(request, payload: PassagesIn):
    if len(payload.passages) > BATCH_MAX:
        raise DomainError("batch_too_large", _("At most 5000 passages per batch."), field="passages")
    checkpoint = _checkpoint(request, payload.checkpoint_id)
    authorize(request.user, Capability.GUARD_GATE, checkpoint.grid.path)
    now = timezone.now()
    errors, seen, todo = [], set(), []
    for index, item in enumerate(payload.passages):
        if timezone.is_naive(item.at):
            errors.append(_row_error(index, "time_zone", _("Give the time with its time zone."), "at"))
        elif item.at > now + CLOCK_SKEW:
            errors.append(_row_error(index, "at_in_future", _("The passage time is in the future."), "at"))
        elif item.at < now - BATCH_MAX_AGE:
            errors.append(_row_error(index, "at_too_old", _("Passages older than 7 days are not accepted."), "at"))
        elif not item.token.strip() and not item.number.strip():
            errors.append(_row_error(index, "pass_required", _("Scan the pass or type its number."), "number"))
        elif item.client_id not in seen:  # the same row twice in one batch is one passage
            seen.add(item.client_id)
            todo.append((index, item))
    results = []
    # In time order, so the 60-second double-scan rule sees the passages as the gate did. The
    # rows are scanned even when some were refused already, so that every bad row is listed;
    # then nothing is kept.
    todo.sort(key=lambda pair: pair[1].at)
    with transaction.atomic():
        for index, item in todo:
            try:
                answer = services.gate_scan(
                    checkpoint=checkpoint,
                    direction=item.direction.value,
                    temperature=_temperature(item.temperature),
                    token=item.token,
                    number=item.number,
                    guard=request.user,
                    now=item.at,
                )
            except DomainError as exc:
                errors.append({"index": index, **exc.as_dict()})
                continue
            results.append((index, item.client_id, answer))
        if errors:
            transaction.set_rollback(True)
    if errors:
        errors.sort(key=lambda row: row["index"])
        raise RowErrors("passages_rejected", _("Some passages are not valid; none were stored."), rows=errors)
    results.sort(key=lambda r: r[0])
    return {
        "stored": sum(1 for *_r, a in results if not a.repeated),
        "repeated": sum(1 for *_r, a in results if a.repeated),
        "refused": sum(1 for *_r, a in results if not a.repeated and a.passage.verdict == "refused"),
        "results": [
            {
                "index": index,
                "client_id": client_id,
                "passage_id": a.passage.pk,
                "verdict": a.passage.verdict,
                "reason": a.passage.reason,
                "repeated": a.repeated,
            }
            for index, client_id, a in results
        ],
    }


class VisitorIn(Schema):
    name: str
    phone: str
    id_number: str
    visiting_household_id: int
    reason: str
    direction: Direction = Direction.IN
    temperature: float | str | None = None


@router.post(
    "/checkpoints/{pk}/visitors",
    response={201: ScanOut, **ERRORS},
    summary="Register a visitor (来访人员): name, phone, ID, whom and why",
)
def visitor_register(request, pk: int, payload: VisitorIn):
    checkpoint = _checkpoint(request, pk)
    household = people_selectors.household_get(user=request.user, pk=payload.visiting_household_id)
    answer = services.visitor_register(
        checkpoint=checkpoint,
        name=payload.name,
        phone=payload.phone,
        id_number=payload.id_number,
        visiting=household,
        reason=payload.reason,
        direction=payload.direction.value,
        temperature=_temperature(payload.temperature),
        guard=request.user,
    )
    return Status(201, _scan_out(answer))


# ---------------------------------------------------------------- passes


class PassesIn(Schema):
    grid: str


class PassesOut(Schema):
    issued: int


class PassOut(Schema):
    id: int
    number: str
    household_id: int
    issued_at: dt.datetime
    revoked_at: dt.datetime | None


@router.post(
    "/households/passes",
    response={200: PassesOut, **ERRORS},
    summary="Issue a numbered pass to every household of a compound that has none (idempotent)",
)
def passes_issue(request, payload: PassesIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    return {"issued": services.passes_issue(grid=grid, principal=request.user)}


@router.post(
    "/passes/{pk}/reissue",
    response={200: PassOut, **ERRORS},
    summary="Same number, new token: the old card stops working",
)
def pass_reissue(request, pk: int):
    return services.pass_reissue(household_pass=_pass(request, pk), principal=request.user)


@router.post("/passes/{pk}/revoke", response={200: PassOut, **ERRORS}, summary="Revoke a pass")
def pass_revoke(request, pk: int):
    return services.pass_revoke(household_pass=_pass(request, pk), principal=request.user)


# ---------------------------------------------------------------- duty roster


class ShiftGuardOut(Schema):
    username: str
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None


class ShiftOut(Schema):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    leader: str
    guards: list[ShiftGuardOut]


class RosterOut(Schema):
    shifts: list[ShiftOut]
    uncovered_hours: list[dt.datetime]


class ShiftIn(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime
    leader: str
    guards: list[str] = []


def _shift_out(shift: Shift) -> dict:
    return {
        "id": shift.pk,
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
        "leader": shift.leader.username,
        "guards": [
            {"username": a.user.username, "checked_in_at": a.checked_in_at, "checked_out_at": a.checked_out_at}
            for a in sorted(shift.attendance.all(), key=lambda a: a.user.username)
        ],
    }


@router.get(
    "/checkpoints/{pk}/roster",
    response={200: RosterOut, **ERRORS},
    summary="24小时值班: shifts from 12 hours ago and the uncovered hours of the next 7 days",
)
def roster(request, pk: int):
    checkpoint = _checkpoint(request, pk)
    now = timezone.now()
    shifts = (
        Shift.objects.filter(checkpoint=checkpoint, ends_at__gte=now - dt.timedelta(hours=12))
        .select_related("leader")
        .prefetch_related("attendance__user")
        .order_by("starts_at")[:200]
    )
    return {
        "shifts": [_shift_out(s) for s in shifts],
        "uncovered_hours": services.uncovered_hours(checkpoint=checkpoint, start=now),
    }


@router.post("/checkpoints/{pk}/shifts", response={201: ShiftOut, **ERRORS}, summary="Plan a duty shift")
def shift_create(request, pk: int, payload: ShiftIn):
    checkpoint = _checkpoint(request, pk)
    for field in ("starts_at", "ends_at"):
        if timezone.is_naive(getattr(payload, field)):
            raise DomainError("time_zone", _("Give the time with its time zone."), field=field)
    names = {payload.leader, *payload.guards}
    users = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    missing = sorted(names - users.keys())
    if missing:
        field = "leader" if payload.leader in missing else "guards"
        raise DomainError(
            "user_unknown", _("No active user named %(name)s."), field=field, params={"name": ", ".join(missing)}
        )
    shift = services.shift_create(
        checkpoint=checkpoint,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        leader=users[payload.leader],
        guards=[users[name] for name in payload.guards if name != payload.leader],
        principal=request.user,
    )
    shift = Shift.objects.select_related("leader").prefetch_related("attendance__user").get(pk=shift.pk)
    return Status(201, _shift_out(shift))
