"""/api/v1/mobilization: 双报到 — registered units, their party members and their assignments,
and the appeals (倡议书) with each unit's acknowledgement; mounted on the mobilization router."""

import datetime as dt

from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, In
from epigrid.core.errors import NotFound
from epigrid.grids.selectors import grid_node_get

from . import units
from .choices import AssignmentKind, ShiftKind, UnitKind
from .models import Appeal, AppealAck, ReportingUnit, TemporaryBranch, UnitMember, Wish

router = Router(tags=["mobilization"])

MANAGERS = "`manage_teams` (command center, subdistrict staff, community secretary and staff, grid heads)"


class UnitMemberOut(Schema):
    id: int
    unit_id: int
    name: str
    phone_masked: str
    skills: str
    hours_offered: int
    assignment: AssignmentKind | None
    branch_id: int | None
    duty: ShiftKind | None
    wish_id: int | None
    assigned_at: dt.datetime | None
    note: str

    @staticmethod
    def from_model(m: UnitMember) -> dict:
        return {
            "id": m.pk,
            "unit_id": m.unit_id,
            "name": m.name,
            "phone_masked": m.phone_masked,
            "skills": m.skills,
            "hours_offered": m.hours_offered,
            "assignment": m.assignment or None,
            "branch_id": m.branch_id,
            "duty": m.duty or None,
            "wish_id": m.wish_id,
            "assigned_at": m.assigned_at,
            "note": m.note,
        }


class ReportingUnitOut(Schema):
    id: int
    grid: str
    kind: UnitKind
    name: str
    contact_name: str
    contact_phone_masked: str
    skills: str
    hours_offered: int
    created_at: dt.datetime

    @staticmethod
    def from_model(u: ReportingUnit) -> dict:
        return {
            "id": u.pk,
            "grid": u.grid.code,
            "kind": u.kind,
            "name": u.name,
            "contact_name": u.contact_name,
            "contact_phone_masked": u.contact_phone_masked,
            "skills": u.skills,
            "hours_offered": u.hours_offered,
            "created_at": u.created_at,
        }


class ReportingUnitDetailOut(ReportingUnitOut):
    members: list[UnitMemberOut]


class AppealAckOut(Schema):
    id: int
    unit_id: int
    unit_name: str
    acknowledged_at: dt.datetime | None
    acknowledged_name: str

    @staticmethod
    def from_model(a: AppealAck) -> dict:
        return {
            "id": a.pk,
            "unit_id": a.unit_id,
            "unit_name": a.unit.name,
            "acknowledged_at": a.acknowledged_at,
            "acknowledged_name": a.acknowledged_name,
        }


class AppealOut(Schema):
    id: int
    grid: str
    title: str
    text: str
    issued_at: dt.datetime
    units: int
    acknowledged: int

    @staticmethod
    def from_model(a: Appeal) -> dict:
        total = getattr(a, "unit_count", None)
        done = getattr(a, "acknowledged", None)
        if total is None:
            total = a.acks.count()
            done = a.acks.filter(acknowledged_at__isnull=False).count()
        return {
            "id": a.pk,
            "grid": a.grid.code,
            "title": a.title,
            "text": a.text,
            "issued_at": a.issued_at,
            "units": total,
            "acknowledged": done,
        }


class AppealDetailOut(AppealOut):
    acks: list[AppealAckOut]


class ReportingUnitIn(In):
    grid: str
    kind: UnitKind
    name: str
    contact_name: str
    contact_phone: str
    skills: str = ""
    hours_offered: int = 0


class UnitMemberIn(In):
    name: str
    phone: str = ""
    skills: str = ""
    hours_offered: int = 0


class UnitMemberAssignIn(In):
    branch_id: int | None = None
    duty: ShiftKind | None = None
    wish_id: int | None = None
    note: str = ""


class AppealIn(In):
    grid: str
    title: str
    text: str


class AppealAckIn(In):
    by_name: str


def _unit_detail(unit: ReportingUnit) -> dict:
    return {
        **ReportingUnitOut.from_model(unit),
        "members": [UnitMemberOut.from_model(m) for m in units.unit_members(unit)],
    }


def _appeal_detail(appeal: Appeal) -> dict:
    return {**AppealOut.from_model(appeal), "acks": [AppealAckOut.from_model(a) for a in units.appeal_acks(appeal)]}


@router.get(
    "/mobilization/units",
    response={200: list[ReportingUnitOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the units registered (双报到) with the communities the caller "
        "sees, contact phones masked. Ordered by community, kind and name; at most 500; not paged. Reads only: no "
        "cascade."
    ),
)
def unit_list(request):
    return [ReportingUnitOut.from_model(u) for u in units.unit_list(user=request.user)[:500]]


@router.post(
    "/mobilization/units",
    response={201: ReportingUnitOut, **ERRORS},
    summary="Register a unit with its community (双报到)",
    description=(
        f"Who may call: a user with {MANAGERS} over the community `grid` (403 in sight without it, 404 out of "
        "sight); a grid that is not a community is 400 `grid_not_community`, a bad phone 400 `phone_invalid`, "
        "hours outside 0–168 400 `hours_invalid`. The same name again in the community is answered as it is. "
        "Audited. No cascade."
    ),
)
def unit_register(request, payload: ReportingUnitIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    unit = units.unit_register(
        grid=grid,
        kind=payload.kind,
        name=payload.name,
        contact_name=payload.contact_name,
        contact_phone=payload.contact_phone,
        skills=payload.skills,
        hours_offered=payload.hours_offered,
        principal=request.user,
    )
    return Status(201, ReportingUnitOut.from_model(unit))


@router.get(
    "/mobilization/units/{pk}",
    response={200: ReportingUnitDetailOut, **ERRORS},
    description=(
        "Who may call: any user who sees the unit's community (404 otherwise); answers the unit with its party "
        "members and where each is assigned, phones masked. Reads only: no cascade."
    ),
)
def unit_get(request, pk: int):
    return _unit_detail(units.unit_get(user=request.user, pk=pk))


@router.post(
    "/mobilization/units/{pk}/members",
    response={201: UnitMemberOut, **ERRORS},
    description=(
        f"Who may call: a user with {MANAGERS} over the unit's community (403 in sight without it, 404 out of "
        "sight). Registers a party member of the unit (phone optional, sealed and masked). The same name and "
        "phone again is answered as it is. Audited. No cascade."
    ),
)
def unit_member_add(request, pk: int, payload: UnitMemberIn):
    unit = units.unit_get(user=request.user, pk=pk, capability=units.MANAGE)
    member = units.unit_member_add(
        unit=unit,
        name=payload.name,
        phone=payload.phone,
        skills=payload.skills,
        hours_offered=payload.hours_offered,
        principal=request.user,
    )
    return Status(201, UnitMemberOut.from_model(member))


@router.post(
    "/mobilization/unit-members/{pk}/assign",
    response={200: UnitMemberOut, **ERRORS},
    description=(
        f"Who may call: a user with {MANAGERS} over the member's community (403 in sight without it, 404 out of "
        "sight). Give exactly one of `branch_id` (an open temporary branch of the community; 404 "
        "`branch_not_found` elsewhere, 409 `branch_closed`), `duty`, or `wish_id` (an open or claimed wish of "
        "the community; 404 `wish_not_found` elsewhere, 409 `wish_not_open`); none or several is 400 "
        "`assignment_one`. Replaces the last assignment; the same again changes nothing. Audited. No cascade."
    ),
)
def unit_member_assign(request, pk: int, payload: UnitMemberAssignIn):
    member = units.unit_member_get(user=request.user, pk=pk, capability=units.MANAGE)
    branch = wish = None
    if payload.branch_id is not None:
        branch = TemporaryBranch.objects.select_related("grid").filter(pk=payload.branch_id).first()
        if branch is None:
            raise NotFound("branch_not_found", "No such temporary branch in this community.")
    if payload.wish_id is not None:
        wish = Wish.objects.select_related("grid").filter(pk=payload.wish_id).first()
        if wish is None:
            raise NotFound("wish_not_found", "No such wish.")
    member = units.unit_member_assign(
        member=member,
        branch=branch,
        duty=payload.duty.value if payload.duty else "",
        wish=wish,
        note=payload.note,
        principal=request.user,
    )
    return UnitMemberOut.from_model(member)


@router.get(
    "/mobilization/appeals",
    response={200: list[AppealOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the appeals (倡议书) of the communities the caller sees, "
        "with how many units acknowledged them. Newest first; at most 100; not paged. Reads only: no cascade."
    ),
)
def appeal_list(request):
    return [AppealOut.from_model(a) for a in units.appeal_list(user=request.user)[:100]]


@router.post(
    "/mobilization/appeals",
    response={201: AppealDetailOut, **ERRORS},
    summary="Issue an appeal (倡议书) to all units registered with a community",
    description=(
        f"Who may call: a user with {MANAGERS} over the community `grid` (403 in sight without it, 404 out of "
        "sight). Every unit registered with the community gets a pending acknowledgement; a community without "
        "one is 409 `appeal_no_units`. Audited. No cascade."
    ),
)
def appeal_issue(request, payload: AppealIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    appeal = units.appeal_issue(grid=grid, title=payload.title, text=payload.text, principal=request.user)
    return Status(201, _appeal_detail(appeal))


@router.get(
    "/mobilization/appeals/{pk}",
    response={200: AppealDetailOut, **ERRORS},
    description=(
        "Who may call: any user who sees the appeal's community (404 otherwise); answers the appeal and each "
        "unit's acknowledgement, the units that have not acknowledged first. Reads only: no cascade."
    ),
)
def appeal_get(request, pk: int):
    return _appeal_detail(units.appeal_get(user=request.user, pk=pk))


@router.post(
    "/mobilization/appeal-acks/{pk}/acknowledge",
    response={200: AppealAckOut, **ERRORS},
    description=(
        f"Who may call: a user with {MANAGERS} over the appeal's community (403 in sight without it, 404 out of "
        "sight). Records that the unit acknowledged the appeal, and who there (`by_name`, required). "
        "Acknowledged once: a retry changes nothing. Audited. No cascade."
    ),
)
def appeal_acknowledge(request, pk: int, payload: AppealAckIn):
    ack = units.ack_get(user=request.user, pk=pk, capability=units.MANAGE)
    return AppealAckOut.from_model(units.appeal_acknowledge(ack=ack, by_name=payload.by_name, principal=request.user))
