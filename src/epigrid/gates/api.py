"""/api/v1 for checkpoints (docs/method.md "5" item 9): open and close entrances, scan passes (also in
batches from guards' phones that were offline), register visitors, issue passes, plan shifts."""

import datetime as dt
import uuid

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status
from pydantic import ConfigDict

from epigrid.accounts.models import User
from epigrid.core import access
from epigrid.core.api import ERRORS, ErrorOut, FilterTime, In, IsoTime, PlanTime, Temperature, page
from epigrid.core.capabilities import Capability
from epigrid.core.compiled import CompiledGet
from epigrid.core.errors import DomainError
from epigrid.core.job_api import JobOut, job_accepted
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors

from . import ledgers, services
from .choices import BatchOutcome, Direction, PassStatus, RefusalReason, Verdict
from .models import Checkpoint, HouseholdPass, Passage, Shift

router = Router(tags=["gates"])


# ---------------------------------------------------------------- checkpoints


class CheckpointIn(In):
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


@router.get(
    "/checkpoints",
    response={200: list[CheckpointOut], **ERRORS},
    summary="防疫检查点 in the user's scope",
    description=(
        "Who may call: any user with a role; answers only the checkpoints of the grids the caller sees; "
        "`is_open` filters. Ordered by grid, then name; at most 500, not paged. Reads only: no cascade."
    ),
)
def checkpoint_list(request, is_open: bool | None = None):
    rows = Checkpoint.objects.restrict(request.user).select_related("grid").order_by("grid__path", "name")
    if is_open is not None:
        rows = rows.filter(is_open=is_open)
    return [_checkpoint_out(c) for c in rows[:500]]


@router.post(
    "/checkpoints",
    response={201: CheckpointOut, **ERRORS},
    summary="Open a checkpoint (idempotent)",
    description=(
        "Who may call: a user with `manage_checkpoints` over `grid` (403 in sight without it, 404 out of "
        "sight, `grid_not_found`); a checkpoint belongs to a compound grid (400 `checkpoint_grid`). Opening "
        "one that exists by that name reopens it; one already open is answered as it is. Audited. No cascade."
    ),
)
def checkpoint_open(request, payload: CheckpointIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    checkpoint = services.checkpoint_open(grid=grid, name=payload.name, principal=request.user)
    return Status(201, _checkpoint_out(checkpoint))


@router.post(
    "/checkpoints/{pk}/close",
    response={200: CheckpointOut, **ERRORS},
    summary="Close a checkpoint",
    description=(
        "Who may call: a user with `manage_checkpoints` over the checkpoint's grid (403 in sight without it, "
        "404 out of sight). Closing a closed checkpoint changes nothing; while closed, scans there are "
        "refused. Audited. No cascade."
    ),
)
def checkpoint_close(request, pk: int):
    checkpoint = services.checkpoint_close(
        checkpoint=Checkpoint.objects.select_related("grid").get_for(
            request.user, Capability.MANAGE_CHECKPOINTS, pk=pk
        ),
        principal=request.user,
    )
    return _checkpoint_out(checkpoint)


# ---------------------------------------------------------------- the gate


class ScanIn(In):
    token: str = ""
    number: str = ""
    direction: Direction
    temperature: Temperature | None = None


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


# Every scan's checkpoint, with its grid: Checkpoint.objects.select_related("grid").get_for, compiled.
_GUARDED_CHECKPOINT = CompiledGet(Checkpoint, related=("grid",))


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


@router.post(
    "/checkpoints/{pk}/scan",
    response={200: ScanOut, **ERRORS, 429: ErrorOut},
    summary="Scan (token) or type (number) a pass of this checkpoint: allowed or refused with the reason; a "
    "rescan within 60 s answers the same passage. Any other pass is 404 pass_not_found, with nothing about it; "
    "too many typed numbers that match nothing: 429",
    description=(
        "Who may call: a user with `guard_gate` over the checkpoint's grid (the checkpoint guard, grid head "
        "and above; 403 in sight without it, 404 out of sight); the checkpoint must be open. A typed number "
        "may be the last digits of a pass of this compound: one match is used, several are a 409 to choose "
        "from. Coming in without a temperature is refused where the checkpoint requires one. Records the "
        "passage, allowed or refused with the reason (`revoked`, `fever`, and on the way out `quarantine` or "
        "`epidemic_point`). Cascade, run as `system:gate`: each refusal raises an urgent alert (`fever`, or "
        "`gate_refusal`) for the household's liaison, in the same transaction."
    ),
)
def gate_scan(request, pk: int, payload: ScanIn):
    answer = services.gate_scan(
        checkpoint=_GUARDED_CHECKPOINT(request.user, Capability.GUARD_GATE, pk=pk),
        direction=payload.direction.value,
        temperature=payload.temperature,
        token=payload.token,
        number=payload.number,
        principal=request.user,
    )
    return _scan_out(answer)


class PassageIn(In):
    # A token (scanned) or a number (typed): the schema says one of them is needed.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["token"], "properties": {"token": {"minLength": 1, "pattern": "\\S"}}},
                {"required": ["number"], "properties": {"number": {"minLength": 1, "pattern": "\\S"}}},
            ]
        },
    )

    token: str = ""
    number: str = ""
    direction: Direction
    temperature: Temperature | None = None
    # With its offset as given; without one, Asia/Shanghai time. Bounded per row by the service,
    # so that a bad row is listed with the others (the batch's error shape).
    at: IsoTime
    client_id: uuid.UUID


class PassagesIn(In):
    checkpoint_id: int
    passages: list[PassageIn]


class PassageResultOut(Schema):
    index: int
    client_id: uuid.UUID
    passage_id: int
    verdict: str
    reason: str
    # stored: this request stored it; resent: stored when this client id was sent before;
    # double_scan: the pass went the same way within 60 s, that passage answers.
    outcome: BatchOutcome
    repeated: bool


class PassagesOut(Schema):
    stored: int
    repeated: int
    refused: int
    results: list[PassageResultOut]


class PassageErrorOut(Schema):
    index: int
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None


class PassagesErrorOut(Schema):
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None
    rows: list[PassageErrorOut] = []


@router.post(
    "/passages/batch",
    response={200: PassagesOut, **ERRORS, 422: PassagesErrorOut, 429: ErrorOut},
    summary="Passages recorded offline on a guard's phone, each at its own time; a resent batch stores nothing "
    "twice and answers each row with the passage stored for it; any bad row refuses the whole batch",
    description=(
        "Who may call: a user with `guard_gate` over the checkpoint's grid (403 in sight without it, 404 out "
        "of sight). All rows are checked first: any bad row refuses the batch (422, every bad row listed) and "
        "nothing is stored. Cascade, run as `system:gate`: each refusal raises an urgent alert (`fever`, or "
        "`gate_refusal`) for the household's liaison, in the same transaction. The alerts' clock starts when "
        "the batch arrives."
    ),
)
def passages_batch(request, payload: PassagesIn):
    result = services.passages_record_batch(
        checkpoint=Checkpoint.objects.select_related("grid").get_for(
            request.user, Capability.GUARD_GATE, pk=payload.checkpoint_id
        ),
        passages=[
            services.PassageRow(
                client_id=p.client_id,
                direction=p.direction.value,
                at=p.at,
                token=p.token,
                number=p.number,
                temperature=p.temperature,
            )
            for p in payload.passages
        ],
        principal=request.user,
    )
    return _batch_out(result)


def _batch_out(result: services.BatchResult) -> dict:
    return {
        "stored": result.stored,
        "repeated": result.repeated,
        "refused": result.refused,
        "results": [
            {
                "index": r.index,
                "client_id": r.client_id,
                "passage_id": r.passage.pk,
                "verdict": r.passage.verdict,
                "reason": r.passage.reason,
                "outcome": r.outcome,
                "repeated": r.repeated,
            }
            for r in result.results
        ],
    }


class VisitorIn(In):
    name: str
    phone: str
    id_number: str
    # The household visited: as the guard types it (address, "1-301", pass number), or its id.
    visiting: str = ""
    visiting_household_id: int | None = None
    reason: str
    direction: Direction = Direction.IN
    temperature: Temperature | None = None


@router.post(
    "/checkpoints/{pk}/visitors",
    response={201: ScanOut, **ERRORS, 429: ErrorOut},
    summary="Register a visitor (来访人员): name, phone, ID, whom (the household's address, unit-room or pass "
    "number, within the checkpoint's compound; several matches: 409) and why. A visit into home quarantine or a "
    "closed epidemic point is refused with the reason",
    description=(
        "Who may call: a user with `guard_gate` over the checkpoint's grid (403 in sight without it, 404 out "
        "of sight); the household visited is looked up in this compound only (`visiting`: address, "
        "unit-room or pass number; 404 when nothing matches, 409 listing the choices when several do; "
        "typed misses are throttled per guard, 429). A visitor with a fever, into a household under home "
        "quarantine or into a closed epidemic point is refused with the reason. Cascade, run as "
        "`system:gate`: each refusal raises an urgent alert (`fever`, or `gate_refusal`) for the "
        "household's liaison, in the same transaction."
    ),
)
def visitor_register(request, pk: int, payload: VisitorIn):
    checkpoint = Checkpoint.objects.select_related("grid").get_for(request.user, Capability.GUARD_GATE, pk=pk)
    if payload.visiting or payload.visiting_household_id is None:
        household = services.visited_household_find(
            checkpoint=checkpoint, text=payload.visiting, principal=request.user
        )
    else:
        household = people_selectors.household_get(user=request.user, pk=payload.visiting_household_id)
    answer = services.visitor_register(
        checkpoint=checkpoint,
        name=payload.name,
        phone=payload.phone,
        id_number=payload.id_number,
        visiting=household,
        reason=payload.reason,
        direction=payload.direction.value,
        temperature=payload.temperature,
        principal=request.user,
    )
    return Status(201, _scan_out(answer))


class VisitorBatchIn(In):
    name: str
    phone: str
    id_number: str
    visiting: str  # as the guard typed it: address, unit-room or pass number
    reason: str
    direction: Direction = Direction.IN
    temperature: Temperature | None = None
    at: IsoTime  # with its offset as given; without one, Asia/Shanghai time
    client_id: uuid.UUID


class VisitorsIn(In):
    checkpoint_id: int
    visitors: list[VisitorBatchIn]


@router.post(
    "/visitors/batch",
    response={200: PassagesOut, **ERRORS, 422: PassagesErrorOut, 429: ErrorOut},
    summary="Visitors registered offline on a guard's phone, each at its own time and with its client id; a "
    "resent batch registers no visitor twice; any bad row refuses the whole batch",
    description=(
        "Who may call: a user with `guard_gate` over the checkpoint's grid (403 in sight without it, 404 out "
        "of sight). Each row is checked when it arrives, as at the gate: the household visited is found in "
        "the checkpoint's compound (`visiting`), and a visit into home quarantine or a closed epidemic point, "
        "or with a fever, is refused with the reason. Any bad row (including a household not found or "
        "ambiguous) refuses the batch (422, every bad row listed) and nothing is stored. A client id stored "
        "before answers with its passage (`resent`); sent before for something else: 409 `client_id_reused`. "
        "Cascade, run as `system:gate`: each refusal raises an urgent alert for the household's liaison, in "
        "the same transaction; the alerts' clock starts when the batch arrives."
    ),
)
def visitors_batch(request, payload: VisitorsIn):
    result = services.visitors_record_batch(
        checkpoint=Checkpoint.objects.select_related("grid").get_for(
            request.user, Capability.GUARD_GATE, pk=payload.checkpoint_id
        ),
        visitors=[
            services.VisitorRow(
                client_id=v.client_id,
                at=v.at,
                name=v.name,
                phone=v.phone,
                id_number=v.id_number,
                visiting=v.visiting,
                reason=v.reason,
                direction=v.direction.value,
                temperature=v.temperature,
            )
            for v in payload.visitors
        ],
        principal=request.user,
    )
    return _batch_out(result)


# ---------------------------------------------------------------- passes


class PassesIn(In):
    grid: str


class PassesOut(Schema):
    issued: int


class PassOut(Schema):
    id: int
    number: str
    household_id: int
    status: PassStatus
    issued_at: dt.datetime
    revoked_at: dt.datetime | None


@router.get(
    "/households/{pk}/passes",
    response={200: list[PassOut], **ERRORS},
    summary="A household's passes (临时出入证): number and status, never the token",
    description=(
        "Who may call: a user who sees the household's grid (else 404 `household_not_found`, "
        "whether or not it exists). Every pass the household was issued, the one in force "
        "(`active`) and those revoked, newest first; a reissued card keeps its number and is a new "
        "row. The QR token and its hash are never answered. Reads only: no cascade."
    ),
)
def household_passes(request, pk: int):
    household = people_selectors.household_get(user=request.user, pk=pk)
    return list(
        HouseholdPass.objects.restrict(request.user)
        .filter(household=household)
        .only("id", "number", "household_id", "status", "issued_at", "revoked_at")
        .order_by("-issued_at", "-id")
    )


@router.post(
    "/households/passes",
    response={200: PassesOut, **ERRORS},
    summary="Issue a numbered pass to every household of a compound that has none (idempotent)",
    description=(
        "Who may call: a user with `issue_passes` over `grid` (403 in sight without it, 404 out of sight, "
        "`grid_not_found`). Issues a pass to every household (not archived) of the compound `grid` belongs to "
        "(a grid above the compounds numbers its own) that holds no pass in force; answers how many. "
        "Idempotent; audited. No cascade."
    ),
)
def passes_issue(request, payload: PassesIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    return {"issued": services.passes_issue(grid=grid, principal=request.user)}


@router.post(
    "/passes/{pk}/reissue",
    response={200: PassOut, **ERRORS},
    summary="Same number, new token: the old card stops working",
    description=(
        "Who may call: a user with `issue_passes` over the pass's grid (403 in sight without it, 404 out of "
        "sight). The pass is revoked and a new one with the same number issued; reissuing an old card of a "
        "household that already holds a newer one is 409 `pass_superseded`. Audited. No cascade."
    ),
)
def pass_reissue(request, pk: int):
    household_pass = HouseholdPass.objects.select_related("grid").get_for(request.user, Capability.ISSUE_PASSES, pk=pk)
    return services.pass_reissue(household_pass=household_pass, principal=request.user)


@router.post(
    "/passes/{pk}/revoke",
    response={200: PassOut, **ERRORS},
    summary="Revoke a pass",
    description=(
        "Who may call: a user with `issue_passes` over the pass's grid (403 in sight without it, 404 out of "
        "sight). The card stops working at the gates; revoking again changes nothing. Audited. No cascade."
    ),
)
def pass_revoke(request, pk: int):
    household_pass = HouseholdPass.objects.select_related("grid").get_for(request.user, Capability.ISSUE_PASSES, pk=pk)
    return services.pass_revoke(household_pass=household_pass, principal=request.user)


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


class ShiftIn(In):
    starts_at: PlanTime
    ends_at: PlanTime
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
    description=(
        "Who may call: a user who sees the checkpoint's grid (else 404). Answers the shifts that ended less "
        "than 12 hours ago or are still to come (at most 200, by start) and the hours of the next 7 days no "
        "shift covers. Reads only: no cascade."
    ),
)
def roster(request, pk: int):
    checkpoint = Checkpoint.objects.select_related("grid").get_for(request.user, pk=pk)
    now = timezone.now()
    shifts = (
        Shift.objects.restrict(request.user)
        .filter(checkpoint=checkpoint, ends_at__gte=now - dt.timedelta(hours=12))
        .select_related("leader")
        .prefetch_related("attendance__user")
        .order_by("starts_at")[:200]
    )
    return {
        "shifts": [_shift_out(s) for s in shifts],
        "uncovered_hours": services.uncovered_hours(checkpoint=checkpoint, start=now),
    }


@router.post(
    "/checkpoints/{pk}/shifts",
    response={201: ShiftOut, **ERRORS},
    summary="Plan a duty shift",
    description=(
        "Who may call: a user with `manage_checkpoints` over the checkpoint's grid (403 in sight without it, "
        "404 out of sight); `leader` and `guards` are active usernames (400 `user_unknown`). A shift ends "
        "after it starts and lasts at most 24 hours. Audited. No cascade."
    ),
)
def shift_create(request, pk: int, payload: ShiftIn):
    checkpoint = Checkpoint.objects.select_related("grid").get_for(request.user, Capability.MANAGE_CHECKPOINTS, pk=pk)
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


# ---------------------------------------------------------------- passages (进出登记), read back


class PassageOut(Schema):
    id: int
    checkpoint_id: int
    checkpoint: str
    direction: Direction
    temperature: float | None
    verdict: str
    reason: str
    at: dt.datetime
    guard: str
    # The household pass, only when it is one the checkpoint serves (of its compound).
    pass_number: str | None
    household_id: int | None
    visitor_id: int | None


class PassagePage(Schema):
    items: list[PassageOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


def _passage_out(p) -> dict:
    served = p.served_pass
    return {
        "id": p.pk,
        "checkpoint_id": p.checkpoint_id,
        "checkpoint": p.checkpoint.name,
        "direction": p.direction,
        "temperature": float(p.temperature) if p.temperature is not None else None,
        "verdict": p.verdict,
        "reason": p.reason,
        "at": p.at,
        "guard": p.guard.username,
        "pass_number": served.number if served else None,
        "household_id": served.household_id if served else None,
        "visitor_id": p.visitor_id,
    }


@router.get(
    "/passages",
    response={200: PassagePage, **ERRORS},
    summary="Passages (进出登记) through the checkpoints of the caller's grids, newest first",
    description=(
        "Who may call: any user with a role; answers only passages at checkpoints of the grids the "
        "caller sees. Filters: `checkpoint` (404 outside sight), `household` (its passes' passages; "
        "404 if not visible; the read goes to the access log), `grid` (a subtree), `direction`, "
        "`verdict`, `at_from` ≤ at < `at_to` (naive = Asia/Shanghai). A visitor is answered by id; "
        "a pass of another compound by nothing. Ordered by time, then id, descending; "
        "`next_offset` pages. Reads only: no cascade."
    ),
)
def passage_list(
    request,
    checkpoint: int | None = None,
    household: int | None = None,
    grid: str | None = None,
    direction: Direction | None = None,
    verdict: Verdict | None = None,
    at_from: FilterTime | None = None,
    at_to: FilterTime | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = Passage.objects.restrict(request.user).select_related("checkpoint", "grid", "guard", "household_pass__grid")
    if checkpoint is not None:
        rows = rows.filter(checkpoint=Checkpoint.objects.get_for(request.user, pk=checkpoint))
    if household is not None:
        home = people_selectors.household_get(user=request.user, pk=household)
        access.log_read(request, "household.passages", home, home.grid.path)
        rows = rows.filter(household_pass__household=home)
    if grid:
        rows = rows.in_subtree(grid_node_get(user=request.user, code=grid).path)
    if direction:
        rows = rows.filter(direction=direction.value)
    if verdict:
        rows = rows.filter(verdict=verdict.value)
    if at_from:
        rows = rows.filter(at__gte=at_from)
    if at_to:
        rows = rows.filter(at__lt=at_to)
    items, next_offset, total = page(rows.order_by("-at", "-id"), limit=limit, offset=offset, with_total=with_total)
    return {"items": [_passage_out(p) for p in items], "next_offset": next_offset, "total": total}


@router.post(
    "/passes/sheet-jobs",
    response={202: JobOut, **ERRORS},
    summary="The print sheet of all of a grid's pass cards, drawn in a background job",
    description=(
        "Who may call: a user with `issue_passes` over `grid` (403 in sight without it, 404 out of sight, "
        "`grid_not_found`). 202 with the job (`/api/v1/jobs/{id}`: follow it, cancel it); when it is `done`, "
        "its `download_url` serves one PDF of A4 pages, eight cards a page with cut lines (every card's QR "
        "code, pass number, address and grid), to the caller alone until `result_expires_at` (then 410, and the "
        "sweep deletes it). The cards carry the passes' tokens: the printing is audited (`passes.print`, how "
        "many cards), and each download. No cascade."
    ),
)
def pass_sheet_job(request, payload: PassesIn):
    grid = grid_node_get(user=request.user, code=payload.grid, capability=Capability.ISSUE_PASSES)
    job = ledgers.pass_sheet_start(grid=grid, principal=request.user)
    return job_accepted(job)
