import datetime as dt

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from epigrid.accounts.models import User
from epigrid.core.api import ERRORS, EventTime, FilterTime, In, PlanTime, page
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Household, Person

from . import selectors, services
from .choices import KeyPersonStatus, OrderKind, OrderReason, OrderStatus, TeamRole, TravelMode
from .models import ControlOrder, ControlRule, HouseholdTeam, KeyPerson, RiskArea, TeamMember, Tip

router = Router(tags=["control"])


class RiskAreaIn(In):
    code: str
    name: str = ""
    active: bool = True


class RiskAreaOut(Schema):
    code: str
    name: str
    active: bool


@router.get(
    "/risk-areas",
    response={200: list[RiskAreaOut], **ERRORS},
    description=(
        "Who may call: any signed-in user (configuration, not grid data). Every risk area (中高风险地区), active or "
        "not, by region code; a tip from a region inside an active one is marked. Reads only: no cascade."
    ),
)
def risk_area_list(request):
    return list(RiskArea.objects.order_by("code"))


@router.post(
    "/risk-areas",
    response={200: RiskAreaOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_orders` in at least one grid (403 otherwise; risk areas are not "
        "grid data). Creates or updates the area of that region code; tips already recorded keep what they "
        "were marked with. Audited. No cascade."
    ),
)
def risk_area_save(request, payload: RiskAreaIn):
    return services.risk_area_save(code=payload.code, name=payload.name, active=payload.active, principal=request.user)


class NewPersonIn(In):
    name: str
    id_number: str
    phone: str | None = None
    household_id: int | None = None
    grid: str | None = None


class TipIn(In):
    person_ids: list[int] = []
    household_id: int | None = None
    new_persons: list[NewPersonIn] = []
    reported_at: EventTime
    reporter: str
    origin_code: str
    travel_mode: TravelMode
    expected_arrival_at: PlanTime | None = None
    note: str = ""


class KeyPersonOut(Schema):
    id: int
    tip_id: int
    person_id: int
    person_name: str
    grid: str
    status: KeyPersonStatus
    origin: str
    risk_area: str | None
    reported_at: dt.datetime
    assessed_at: dt.datetime | None
    controlled_at: dt.datetime | None
    minutes_to_control: float | None

    @staticmethod
    def from_model(kp: KeyPerson) -> dict:
        minutes = (kp.controlled_at - kp.tip.reported_at).total_seconds() / 60 if kp.controlled_at else None
        return {
            "id": kp.pk,
            "tip_id": kp.tip_id,
            "person_id": kp.person_id,
            "person_name": kp.person.name,
            "grid": kp.grid.code,
            "status": kp.status,
            "origin": kp.tip.origin_name,
            "risk_area": kp.tip.risk_area.name if kp.tip.risk_area_id else None,
            "reported_at": kp.tip.reported_at,
            "assessed_at": kp.assessed_at,
            "controlled_at": kp.controlled_at,
            "minutes_to_control": round(minutes, 1) if minutes is not None else None,
        }


class TipOut(Schema):
    id: int
    origin: str
    risk_area: str | None
    key_persons: list[KeyPersonOut]


@router.post(
    "/tips",
    response={201: TipOut, **ERRORS},
    summary="Record a tip; its persons become key persons",
    description=(
        "Who may call: a user with `intake` over the grid of every person the tip names (403 in sight without "
        "it, 404 out of sight); with `household_id`, over that household and all its current members; a new "
        "person is registered in a household or grid the caller sees, which needs `edit_people` there. An ID "
        "number already registered is 409 as on POST /persons. All or nothing: the tip, the new files, and "
        "every person named becomes a key person (重点人员) awaiting a decision, as the caller; audited. No "
        "cascade."
    ),
)
def tip_create(request, payload: TipIn):
    persons = [
        Person.objects.select_related("grid").get_for(request.user, Capability.INTAKE, pk=pk)
        for pk in dict.fromkeys(payload.person_ids)
    ]
    if payload.household_id:
        household = Household.objects.get_for(request.user, Capability.INTAKE, pk=payload.household_id)
        persons += list(people_selectors.person_list(user=request.user, household_id=household.pk))
    tip = services.tip_record(
        persons=persons,
        new_persons=[
            services.NewPerson(
                name=new.name,
                id_number=new.id_number,
                phone=new.phone,
                household=Household.objects.select_related("grid").get_for(request.user, pk=new.household_id)
                if new.household_id
                else None,
                grid=GridNode.objects.get_for(request.user, code=new.grid) if new.grid else None,
            )
            for new in payload.new_persons
        ],
        reported_at=payload.reported_at,
        reporter=payload.reporter,
        origin_code=payload.origin_code,
        travel_mode=payload.travel_mode.value,
        expected_arrival_at=payload.expected_arrival_at,
        note=payload.note,
        principal=request.user,
    )
    key_persons = tip.key_persons.select_related("person", "grid", "tip__risk_area")
    return Status(
        201,
        {
            "id": tip.pk,
            "origin": tip.origin_name,
            "risk_area": tip.risk_area.name if tip.risk_area_id else None,
            "key_persons": [KeyPersonOut.from_model(kp) for kp in key_persons],
        },
    )


class TipDetailOut(Schema):
    id: int
    reported_at: dt.datetime
    reporter: str
    origin_code: str
    origin: str
    risk_area: str | None
    travel_mode: TravelMode
    expected_arrival_at: dt.datetime | None
    note: str
    grid: str
    created_at: dt.datetime
    key_persons: list[KeyPersonOut]

    @staticmethod
    def from_model(tip: Tip) -> dict:
        return {
            "id": tip.pk,
            "reported_at": tip.reported_at,
            "reporter": tip.reporter,
            "origin_code": tip.origin_code,
            "origin": tip.origin_name,
            "risk_area": tip.risk_area.name if tip.risk_area_id else None,
            "travel_mode": tip.travel_mode,
            "expected_arrival_at": tip.expected_arrival_at,
            "note": tip.note,
            "grid": tip.grid.code,
            "created_at": tip.created_at,
            "key_persons": [KeyPersonOut.from_model(kp) for kp in tip.visible_key_persons],
        }


class TipPage(Schema):
    items: list[TipDetailOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/tips",
    response={200: TipPage, **ERRORS},
    summary="Tips (线索) in the caller's grids, newest report first",
    description=(
        "Who may call: any user with a role; answers only tips filed in the grids the caller sees "
        "(their subtree), each with only the key persons the caller sees. Filters: `grid` (a "
        "subtree, 404 outside sight), `person` (tips naming that person, 404 if not visible), "
        "`reported_from` ≤ reported_at < `reported_to` (naive = Asia/Shanghai). Ordered by "
        "reported_at, then id, descending; `next_offset` pages. Reads only: no cascade."
    ),
)
def tip_list(
    request,
    grid: str | None = None,
    person: int | None = None,
    reported_from: FilterTime | None = None,
    reported_to: FilterTime | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = selectors.tip_list(
        user=request.user,
        grid_path=grid_node_get(user=request.user, code=grid).path if grid else "",
        person_id=people_selectors.person_get(user=request.user, pk=person).pk if person is not None else None,
        reported_from=reported_from,
        reported_to=reported_to,
    )
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [TipDetailOut.from_model(t) for t in items], "next_offset": next_offset, "total": total}


@router.get(
    "/tips/{pk}",
    response={200: TipDetailOut, **ERRORS},
    summary="One tip with its key persons",
    description=(
        "Who may call: a user who sees the tip's grid (else 404 `tip_not_found`, whether or not it "
        "exists). Key persons outside the caller's sight are left out. Reads only: no cascade."
    ),
)
def tip_detail(request, pk: int):
    return TipDetailOut.from_model(selectors.tip_get(user=request.user, pk=pk))


class KeyPersonPage(Schema):
    items: list[KeyPersonOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/key-persons",
    response={200: KeyPersonPage, **ERRORS},
    description=(
        "Who may call: any user with a role; answers only the key persons of the grids the caller sees. "
        "Filters: `status`, `grid` (a subtree, 404 outside sight). Ordered by the tip's report time, newest "
        "first, then id; `next_offset` pages. Reads only: no cascade."
    ),
)
def key_person_list(
    request,
    status: KeyPersonStatus | None = None,
    grid: str | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    grid_path = grid_node_get(user=request.user, code=grid).path if grid else ""
    rows = selectors.key_person_list(
        user=request.user, status=[status.value] if status else None, grid_path=grid_path
    ).select_related("tip__risk_area")
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [KeyPersonOut.from_model(kp) for kp in items], "next_offset": next_offset, "total": total}


@router.get(
    "/key-persons/{pk}",
    response={200: KeyPersonOut, **ERRORS},
    description=(
        "Who may call: a user who sees the key person's grid (else 404, whether or not it exists). Reads only: "
        "no cascade."
    ),
)
def key_person_detail(request, pk: int):
    return KeyPersonOut.from_model(selectors.key_person_get(user=request.user, pk=pk))


class AssessIn(In):
    assessment: str


@router.post(
    "/key-persons/{pk}/assess",
    response={200: KeyPersonOut, **ERRORS},
    description=(
        "Who may call: a user with `intake` over the key person's grid (403 in sight without it, 404 out of "
        "sight). Records the assessment (key person `assessed`); from a status that does not allow it, 400 "
        "`key_person_transition`. Audited. No cascade: an order is started with POST /orders."
    ),
)
def key_person_assess(request, pk: int, payload: AssessIn):
    kp = services.key_person_assess(
        key_person=selectors.key_person_get(user=request.user, pk=pk, capability=Capability.INTAKE),
        assessment=payload.assessment,
        principal=request.user,
    )
    return KeyPersonOut.from_model(selectors.key_person_get(user=request.user, pk=kp.pk))


@router.post(
    "/key-persons/{pk}/close",
    response={200: KeyPersonOut, **ERRORS},
    description=(
        "Who may call: a user with `intake` over the key person's grid (403 in sight without it, 404 out of "
        "sight). The key person is closed without an order; closing again changes nothing, from a status that "
        "does not allow it 400 `key_person_transition`. Audited. No cascade."
    ),
)
def key_person_close(request, pk: int):
    kp = services.key_person_close(
        key_person=selectors.key_person_get(user=request.user, pk=pk, capability=Capability.INTAKE),
        principal=request.user,
    )
    return KeyPersonOut.from_model(selectors.key_person_get(user=request.user, pk=kp.pk))


class OrderOut(Schema):
    id: int
    person_id: int
    person_name: str
    grid: str
    kind: OrderKind
    reason: OrderReason
    status: OrderStatus
    site: str
    transport: str
    starts_at: dt.datetime
    last_exposure_at: dt.datetime | None
    days: int
    ends_at: dt.datetime
    requires_negative_test: bool
    previous_id: int | None
    release_proposed_at: dt.datetime | None
    released_at: dt.datetime | None

    @staticmethod
    def from_model(o: ControlOrder) -> dict:
        return {
            "id": o.pk,
            "person_id": o.person_id,
            "person_name": o.person.name,
            "grid": o.grid.code,
            "kind": o.kind,
            "reason": o.reason,
            "status": o.status,
            "site": o.site,
            "transport": o.transport,
            "starts_at": o.starts_at,
            "last_exposure_at": o.last_exposure_at,
            "days": o.days,
            "ends_at": o.ends_at,
            "requires_negative_test": o.requires_negative_test,
            "previous_id": o.previous_id,
            "release_proposed_at": o.release_proposed_at,
            "released_at": o.released_at,
        }


class OrderPage(Schema):
    items: list[OrderOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


class OrderIn(In):
    person_id: int | None = None
    household_id: int | None = None
    kind: OrderKind
    reason: OrderReason
    starts_at: PlanTime | None = None
    last_exposure_at: EventTime | None = None
    site: str = ""
    transport: str = ""


@router.get(
    "/orders",
    response={200: OrderPage, **ERRORS},
    summary="Control orders (隔离台账)",
    description=(
        "Who may call: any user with a role; answers only orders in the grids the caller sees. "
        "Filters: `status`, `kind`, `grid` (a subtree), `person`, `household` (a person or "
        "household outside sight is a 404), `starts_from` ≤ starts_at < `starts_to` (naive = "
        "Asia/Shanghai). Ordered by starts_at, then id, descending; "
        "`next_offset` pages. Reads only: no cascade."
    ),
)
def order_list(
    request,
    status: OrderStatus | None = None,
    kind: OrderKind | None = None,
    grid: str | None = None,
    person: int | None = None,
    household: int | None = None,
    starts_from: FilterTime | None = None,
    starts_to: FilterTime | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    grid_path = grid_node_get(user=request.user, code=grid).path if grid else ""
    rows = selectors.order_list(
        user=request.user,
        status=[status.value] if status else None,
        kind=kind.value if kind else "",
        grid_path=grid_path,
        person_id=people_selectors.person_get(user=request.user, pk=person).pk if person is not None else None,
        household_id=people_selectors.household_get(user=request.user, pk=household).pk
        if household is not None
        else None,
    )
    if starts_from:
        rows = rows.filter(starts_at__gte=starts_from)
    if starts_to:
        rows = rows.filter(starts_at__lt=starts_to)
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [OrderOut.from_model(o) for o in items], "next_offset": next_offset, "total": total}


@router.get(
    "/orders/{pk}",
    response={200: OrderOut, **ERRORS},
    description=(
        "Who may call: a user who sees the order's grid (else 404, whether or not it exists). Reads only: no cascade."
    ),
)
def order_detail(request, pk: int):
    return OrderOut.from_model(selectors.order_get(user=request.user, pk=pk))


@router.post(
    "/orders",
    response={201: list[OrderOut], **ERRORS},
    summary="Start a control order (person or household)",
    description=(
        "Who may call: a user with `manage_orders` over the person's grid, or the household's for all its "
        "current members at once (403 in sight without it, 404 out of sight). The period comes from the "
        "control rules (GET /control-periods) and counts from the last exposure when given, else from "
        "`starts_at` (default now); it never ends before it starts. A person already under an order is 409 "
        "`order_open`. The person's pending key person becomes `controlled` at `starts_at`, as the caller. "
        'Cascade "order_started", run as `system:household-support`: an order of home quarantine gives the '
        "person's household its default services (shopping, check-in, supplies) at once, the next day's "
        "service tasks written after commit through the outbox (`care.materialize`). All orders, or none."
    ),
)
def order_start(request, payload: OrderIn):
    fields = {
        "kind": payload.kind.value,
        "reason": payload.reason.value,
        "starts_at": payload.starts_at,
        "last_exposure_at": payload.last_exposure_at,
        "site": payload.site,
        "transport": payload.transport,
        "principal": request.user,
    }
    if payload.household_id:
        household = Household.objects.get_for(request.user, Capability.MANAGE_ORDERS, pk=payload.household_id)
        orders = services.control_orders_start_household(household=household, **fields)
    elif payload.person_id:
        person = Person.objects.select_related("grid").get_for(
            request.user, Capability.MANAGE_ORDERS, pk=payload.person_id
        )
        pending = selectors.key_persons_pending(persons=[person]).get(person.pk)
        orders = [services.control_order_start(person=person, key_person=pending, **fields)]
    else:
        raise DomainError("person_required", _("Give a person or a household."), field="person_id")
    return Status(201, [OrderOut.from_model(o) for o in orders])


class PeriodIn(In):
    days: int
    reason: str


@router.post(
    "/orders/{pk}/period",
    response={200: OrderOut, **ERRORS},
    summary="Extend or shorten",
    description=(
        "Who may call: a user with `manage_orders` over the order's grid (403 in sight without it, 404 out of "
        "sight); only an order in force (400 `order_closed`), with the reason. Audited. No cascade."
    ),
)
def order_period(request, pk: int, payload: PeriodIn):
    order = services.control_order_change_period(
        order=selectors.order_get(user=request.user, pk=pk, capability=Capability.MANAGE_ORDERS),
        days=payload.days,
        reason_text=payload.reason,
        principal=request.user,
    )
    return OrderOut.from_model(order)


class TransferIn(In):
    kind: OrderKind
    reason: OrderReason
    site: str = ""
    transport: str = ""
    at: EventTime | None = None


@router.post(
    "/orders/{pk}/transfer",
    response={200: OrderOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_orders` over the order's grid (403 in sight without it, 404 out of "
        "sight). The order ends as `transferred` at `at` (default now) and a new one of the given measure "
        "starts; transferring it again answers the order it was transferred to when the measure is the same (a "
        'retry), else 409 `order_transferred`. Cascades "order_ended" then "order_started", run as '
        "`system:household-support`: leaving home quarantine ends the household's default services when no "
        "member remains under it; entering it starts them (tasks through the outbox, `care.materialize`)."
    ),
)
def order_transfer(request, pk: int, payload: TransferIn):
    order = services.control_order_transfer(
        order=selectors.order_get(user=request.user, pk=pk, capability=Capability.MANAGE_ORDERS),
        kind=payload.kind.value,
        reason=payload.reason.value,
        site=payload.site,
        transport=payload.transport,
        at=payload.at,
        principal=request.user,
    )
    return OrderOut.from_model(order)


class OrderReleaseIn(In):
    early_reason: str = ""
    at: EventTime | None = None


@router.post(
    "/orders/{pk}/release",
    response={200: OrderOut, **ERRORS},
    summary="Approve the release (解除隔离)",
    description=(
        "Who may call: a user with `approve_release` over the order's grid (command center, subdistrict staff, "
        "community secretary; 403 in sight without it, 404 out of sight). Approves a proposed release, or "
        'releases early with `early_reason` (400 `release_not_proposed` without one). Cascade "order_ended", '
        "run as `system:household-support`: when no member of the household remains under home quarantine, its "
        "default services end (services set up by hand stay)."
    ),
)
def order_release(request, pk: int, payload: OrderReleaseIn):
    order = services.control_order_release(
        order=selectors.order_get(user=request.user, pk=pk, capability=Capability.APPROVE_RELEASE),
        early_reason=payload.early_reason,
        at=payload.at,
        principal=request.user,
    )
    return OrderOut.from_model(order)


class RuleIn(In):
    kind: OrderKind
    reason: OrderReason | None = None
    days: int
    requires_negative_test: bool = False


class RuleOut(Schema):
    kind: str
    reason: str
    days: int
    requires_negative_test: bool


@router.get(
    "/control-rules",
    response={200: list[RuleOut], **ERRORS},
    description=(
        "Who may call: any signed-in user (configuration, not grid data). The control rules as stored (a "
        "measure, optionally a reason); GET /control-periods gives every measure × reason with the defaults. "
        "Reads only: no cascade."
    ),
)
def rule_list(request):
    return list(ControlRule.objects.order_by("kind", "reason"))


@router.post(
    "/control-rules",
    response={200: RuleOut, **ERRORS},
    description=(
        "Who may call: a user with `approve_release` in at least one grid (command center, subdistrict staff, "
        "community secretary; 403 otherwise). Creates or updates the rule for the measure (and reason); it "
        "applies to orders started afterwards. Audited. No cascade."
    ),
)
def rule_save(request, payload: RuleIn):
    return services.control_rule_save(
        kind=payload.kind.value,
        reason=payload.reason.value if payload.reason else "",
        days=payload.days,
        requires_negative_test=payload.requires_negative_test,
        principal=request.user,
    )


class ControlPeriodOut(Schema):
    kind: OrderKind
    reason: OrderReason
    days: int
    requires_negative_test: bool
    source: str


@router.get(
    "/control-periods",
    response={200: list[ControlPeriodOut], **ERRORS},
    summary="The control period of every measure and reason, defaults included",
    description=(
        "Who may call: any signed-in user (configuration, not grid data). One row per measure × "
        "reason: the days an order of that kind and reason runs and whether its release needs a "
        "negative test. `source` says where it comes from: `kind_and_reason` (a rule for both), "
        "`kind` (the measure's rule), `default` (no rule: the configured default period, no test). "
        "Rules are changed with POST /control-rules (capability `approve_release`); a change "
        "applies to orders started afterwards. Reads only: no cascade."
    ),
)
def control_periods(request):
    return selectors.control_periods()


class TeamMemberOut(Schema):
    id: int
    username: str
    full_name: str
    role: TeamRole


class TeamOut(Schema):
    household_id: int
    members: list[TeamMemberOut]
    missing_roles: list[str]


class TeamMemberIn(In):
    username: str
    role: TeamRole


def _team_out(household) -> dict:
    from .choices import REQUIRED_TEAM_ROLES

    members = list(
        TeamMember.objects.filter(team__household=household, ended_at__isnull=True)
        .select_related("user")
        .order_by("role", "id")
    )
    roles = {m.role for m in members}
    return {
        "household_id": household.pk,
        "members": [
            {"id": m.pk, "username": m.user.username, "full_name": m.user.full_name, "role": m.role} for m in members
        ],
        "missing_roles": [r.value for r in REQUIRED_TEAM_ROLES if r not in roles],
    }


@router.get(
    "/households/{pk}/team",
    response={200: TeamOut, **ERRORS},
    summary="一户一专班",
    description=(
        "Who may call: a user who sees the household's grid (else 404 `household_not_found`, whether or not it "
        "exists). The household's team (一户一专班): its members in office and the roles still missing. Reads only: "
        "no cascade."
    ),
)
def team_detail(request, pk: int):
    return _team_out(people_selectors.household_get(user=request.user, pk=pk))


@router.post(
    "/households/{pk}/team",
    response={200: TeamOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` over the household's grid (403 in sight without it, 404 out "
        "of sight); `username` is an active account (404 otherwise); the same role twice is 409 "
        "`team_member_exists`. Audited. No cascade."
    ),
)
def team_member_add(request, pk: int, payload: TeamMemberIn):
    household = Household.objects.select_related("grid").get_for(request.user, Capability.MANAGE_TEAMS, pk=pk)
    user = get_object_or_404(User, username=payload.username, is_active=True)
    services.team_member_add(household=household, user=user, role=payload.role.value, principal=request.user)
    return _team_out(household)


@router.post(
    "/team-members/{pk}/end",
    response={200: TeamOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` over the grid of the member's household (403 in sight "
        "without it, 404 out of sight). Ends the member's place on the team. Audited. No cascade."
    ),
)
def team_member_end(request, pk: int):
    # A member is in sight through its team (TeamMember has no grid of its own).
    team = HouseholdTeam.objects.select_related("household__grid").get_for(
        request.user, Capability.MANAGE_TEAMS, members__pk=pk
    )
    member = team.members.select_related("team__household__grid").get(pk=pk)
    services.team_member_end(member=member, principal=request.user)
    return _team_out(team.household)


class TipToControlOut(Schema):
    grid: str
    controlled: int
    median_minutes: float | None
    max_minutes: float | None


@router.get(
    "/metrics/tip-to-control",
    response={200: list[TipToControlOut], **ERRORS},
    summary="Time from tip to control, per compound grid",
    description=(
        "Who may call: any user with a role; counts only the key persons of the grids the caller sees (`grid`: "
        "a subtree, 404 outside sight). Per compound grid, the minutes from the tip's report to the start of "
        "control (median and maximum). Reads only: no cascade."
    ),
)
def tip_to_control(request, grid: str | None = None):
    grid_path = grid_node_get(user=request.user, code=grid).path if grid else ""
    return selectors.tip_to_control_by_grid(user=request.user, grid_path=grid_path)
