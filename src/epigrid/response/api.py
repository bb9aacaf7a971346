import datetime as dt

from ninja import Router, Schema

from epigrid.core.api import ERRORS, EventTime, In, PlanTime, page
from epigrid.core.capabilities import Capability
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Person

from . import selectors, services
from .choices import Evidence, ExposureDegree, PointStatus, Setting, TaskStatus

router = Router(tags=["response"])


class StepIn(In):
    title: str
    responsible_role: str
    deadline_hours: int
    evidence: Evidence = Evidence.NOTE


class StepOut(StepIn):
    position: int


class PlanIn(In):
    name: str
    steps: list[StepIn]


class PlanOut(Schema):
    id: int
    name: str
    version: int
    steps: list[StepOut]


def _plan_out(plan) -> dict:
    return {
        "id": plan.pk,
        "name": plan.name,
        "version": plan.version,
        "steps": [
            {
                "position": s.position,
                "title": s.title,
                "responsible_role": s.responsible_role,
                "deadline_hours": s.deadline_hours,
                "evidence": s.evidence,
            }
            for s in plan.steps.all()
        ],
    }


@router.get(
    "/plans/current",
    response={200: PlanOut, **ERRORS},
    summary="The emergency plan (应急预案) in force",
    description=(
        "Who may call: any signed-in user (configuration, not grid data). The plan in force with its steps "
        "(responsible role, deadline, evidence); when none was ever saved, the first call stores the default "
        "plan. No cascade."
    ),
)
def plan_current(request):
    return _plan_out(services.plan_current())


@router.post(
    "/plans",
    response={200: PlanOut, **ERRORS},
    summary="Save a new version of the plan",
    description=(
        "Who may call: a user with `manage_plans` in at least one grid (command center, subdistrict staff; 403 "
        "otherwise); the plan is the deployment's one, not a grid's. Saves a new version that becomes the plan "
        "in force; emergency responses already started keep the version they started with. Audited. No "
        "cascade."
    ),
)
def plan_save(request, payload: PlanIn):
    plan = services.plan_save(name=payload.name, steps=[s.dict() for s in payload.steps], principal=request.user)
    return _plan_out(plan)


class TaskOut(Schema):
    id: int
    title: str
    owner: str | None
    due_at: dt.datetime
    status: TaskStatus
    evidence: Evidence
    evidence_note: str
    evidence_count: int | None
    done_at: dt.datetime | None

    @staticmethod
    def from_model(t) -> dict:
        return {
            "id": t.pk,
            "title": t.title,
            "owner": t.owner.username if t.owner_id else None,
            "due_at": t.due_at,
            "status": t.status,
            "evidence": t.step.evidence,
            "evidence_note": t.evidence_note,
            "evidence_count": t.evidence_count,
            "done_at": t.done_at,
        }


class PointOut(Schema):
    id: int
    grid: str
    status: PointStatus
    declared_at: dt.datetime
    last_case_left_at: dt.datetime | None
    disinfected_at: dt.datetime | None
    proposed_release_at: dt.datetime | None
    released_at: dt.datetime | None

    @staticmethod
    def from_model(p) -> dict:
        return {
            "id": p.pk,
            "grid": p.grid.code,
            "status": p.status,
            "declared_at": p.declared_at,
            "last_case_left_at": p.last_case_left_at,
            "disinfected_at": p.disinfected_at,
            "proposed_release_at": p.proposed_release_at,
            "released_at": p.released_at,
        }


class IncidentOut(Schema):
    id: int
    grid: str
    plan: str
    activated_at: dt.datetime
    closed_at: dt.datetime | None
    case_person_ids: list[int]
    case_count: int
    tasks: list[TaskOut]
    points: list[PointOut]
    close_contacts: int
    secondary_contacts: int
    contact_orders: dict[str, int]


def _incident_out(data: dict) -> dict:
    activation = data["activation"]
    return {
        "id": activation.pk,
        "grid": activation.grid.code,
        "plan": str(activation.plan),
        "activated_at": activation.activated_at,
        "closed_at": activation.closed_at,
        "case_person_ids": [c.person_id for c in data["cases"]],
        "case_count": data["case_count"],
        "tasks": [TaskOut.from_model(t) for t in data["tasks"]],
        "points": [PointOut.from_model(p) for p in data["points"]],
        "close_contacts": data["close_contacts"],
        "secondary_contacts": data["secondary_contacts"],
        "contact_orders": data["contact_orders"],
    }


@router.get(
    "/activations",
    response={200: list[IncidentOut], **ERRORS},
    summary="Emergency responses",
    description=(
        "Who may call: any user with a role; answers only the emergency responses (a confirmed case's plan "
        "activated for its compound) of the grids the caller sees. Newest first; at most 100, not paged. Reads "
        "only: no cascade."
    ),
)
def activation_list(request):
    activations = selectors.activations_in(user=request.user).select_related("plan")[:100]
    return [_incident_out(data) for data in selectors.incidents(activations=activations)]


@router.get(
    "/activations/{pk}",
    response={200: IncidentOut, **ERRORS},
    summary="The incident page's data",
    description=(
        "Who may call: a user who sees the response's compound (else 404 `activation_not_found`, whether or "
        "not it exists). The incident page's data: tasks, cases, the epidemic point, contacts and their "
        "orders. Reads only: no cascade."
    ),
)
def activation_detail(request, pk: int):
    return _incident_out(selectors.incident(activation=selectors.activation_get(user=request.user, pk=pk)))


class ChainOut(Schema):
    nodes: list[dict]
    edges: list[dict]
    next_offset: int | None


@router.get(
    "/activations/{pk}/chain",
    response={200: ChainOut, **ERRORS},
    summary="Transmission chain",
    description=(
        "Who may call: a user who sees the response's compound (else 404 `activation_not_found`, whether or "
        "not it exists). The transmission chain as nodes and edges: the response's cases, their close contacts "
        "and those contacts' contacts, paged by edge (`limit`, `offset`). A person outside the caller's grids "
        "is a node with `name: null`. Reads only: no cascade."
    ),
)
def activation_chain(request, pk: int, limit: int = 2000, offset: int = 0):
    return selectors.chain(
        activation=selectors.activation_get(user=request.user, pk=pk),
        user=request.user,
        limit=max(1, min(limit, 5000)),
        offset=max(0, offset),
    )


class TaskDoneIn(In):
    note: str = ""
    count: int | None = None


@router.post(
    "/tasks/{pk}/complete",
    response={200: TaskOut, **ERRORS},
    summary="Complete a task with its evidence (photos: use the page)",
    description=(
        "Who may call: a user with `do_tasks` over the task's grid (403 in sight without it, 404 out of sight, "
        "`task_not_found`). The step's evidence is required (a count, or a note; a photo step is completed on "
        "the page); completing a done task again changes nothing. Audited. No cascade."
    ),
)
def task_complete(request, pk: int, payload: TaskDoneIn):
    task = services.task_complete(
        task=selectors.task_get(user=request.user, pk=pk, capability=Capability.DO_TASKS),
        note=payload.note,
        count=payload.count,
        principal=request.user,
    )
    return TaskOut.from_model(selectors.task_get(user=request.user, pk=task.pk))


class ExposureIn(In):
    source_id: int
    contact_id: int
    last_exposure_at: EventTime
    degree: ExposureDegree = ExposureDegree.CLOSE
    place: str = ""
    setting: Setting = Setting.OTHER
    # When the contact's measure takes effect (the orders that follow start then); default now.
    starts_at: PlanTime | None = None


class ExposureOut(Schema):
    id: int
    # null when the source lives outside the caller's grids: the contact's grid member learns of
    # the exposure, not who in another compound it came from.
    source_id: int | None
    contact_id: int
    degree: ExposureDegree
    last_exposure_at: dt.datetime
    place: str
    setting: Setting
    grid: str
    recorded_at: dt.datetime

    @staticmethod
    def from_model(e, visible_sources: set[int]) -> dict:
        return {
            "id": e.pk,
            "source_id": e.source_id if e.source_id in visible_sources else None,
            "contact_id": e.contact_id,
            "degree": e.degree,
            "last_exposure_at": e.last_exposure_at,
            "place": e.place,
            "setting": e.setting,
            "grid": e.grid.code,
            "recorded_at": e.recorded_at,
        }


def _visible_sources(user, exposures) -> set[int]:
    ids = {e.source_id for e in exposures}
    return set(Person.objects.restrict(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()


class ExposurePage(Schema):
    items: list[ExposureOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/exposures",
    response={200: ExposurePage, **ERRORS},
    summary="Close and secondary contacts (密接/次密接) in the caller's grids",
    description=(
        "Who may call: any user with a role; answers only exposures filed in the grids the caller "
        "sees (an exposure is filed in its contact's grid). Filters: `person` (as the source or as "
        "the contact; 404 if the person is not visible), `grid` (a subtree), `degree`. Ordered by "
        "last exposure, then id, descending; `next_offset` pages. Reads only: no cascade."
    ),
)
def exposure_list(
    request,
    person: int | None = None,
    grid: str | None = None,
    degree: ExposureDegree | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = selectors.exposure_list(
        user=request.user,
        person_id=people_selectors.person_get(user=request.user, pk=person).pk if person is not None else None,
        grid_path=grid_node_get(user=request.user, code=grid).path if grid else "",
        degree=degree.value if degree else "",
    )
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    seen = _visible_sources(request.user, items)
    return {"items": [ExposureOut.from_model(e, seen) for e in items], "next_offset": next_offset, "total": total}


@router.get(
    "/exposures/{pk}",
    response={200: ExposureOut, **ERRORS},
    summary="One exposure",
    description=(
        "Who may call: a user who sees the contact's grid (else 404 `exposure_not_found`, whether or "
        "not it exists). Reads only: no cascade."
    ),
)
def exposure_detail(request, pk: int):
    exposure = selectors.exposure_get(user=request.user, pk=pk)
    return ExposureOut.from_model(exposure, _visible_sources(request.user, [exposure]))


@router.post(
    "/exposures",
    response={200: ExposureOut, **ERRORS},
    summary="Record a close or secondary contact",
    description=(
        "Who may call: a user with `record_exposures` over the contact's grid (and sight of the source). "
        "Cascade, run as `system:contact-tracing`: a close contact of a confirmed case gets the configured "
        "measure (centralized quarantine by default), their own contacts health monitoring; the orders start "
        "at `starts_at` (default now) and run from the last exposure."
    ),
)
def exposure_create(request, payload: ExposureIn):
    exposure = services.exposure_record(
        source=people_selectors.person_get(user=request.user, pk=payload.source_id),
        contact=people_selectors.person_get(
            user=request.user, pk=payload.contact_id, capability=Capability.RECORD_EXPOSURES
        ),
        last_exposure_at=payload.last_exposure_at,
        degree=payload.degree.value,
        place=payload.place,
        setting=payload.setting.value,
        starts_at=payload.starts_at,
        principal=request.user,
    )
    return ExposureOut.from_model(exposure, {exposure.source_id})  # the caller named the source


@router.get(
    "/epidemic-points",
    response={200: list[PointOut], **ERRORS},
    summary="疫点",
    description=(
        "Who may call: any user with a role; answers only the epidemic points (疫点) of the grids the caller "
        "sees. Newest declared first; at most 200, not paged. Reads only: no cascade."
    ),
)
def point_list(request):
    from .models import EpidemicPoint

    return [
        PointOut.from_model(p)
        for p in EpidemicPoint.objects.restrict(request.user).select_related("grid").order_by("-declared_at")[:200]
    ]


@router.get(
    "/epidemic-points/{pk}",
    response={200: PointOut, **ERRORS},
    description=(
        "Who may call: a user who sees the point's grid (else 404 `point_not_found`, whether or not it "
        "exists). Reads only: no cascade."
    ),
)
def point_detail(request, pk: int):
    return PointOut.from_model(selectors.point_get(user=request.user, pk=pk))


class PointPatch(In):
    last_case_left_at: EventTime | None = None
    disinfected_at: EventTime | None = None


@router.patch(
    "/epidemic-points/{pk}",
    response={200: PointOut, **ERRORS},
    summary="Record when the last case left and terminal disinfection; the release time is proposed",
    description=(
        "Who may call: a user with `do_tasks` over the point's grid (403 in sight without it, 404 out of "
        "sight, `point_not_found`); a released point is 400 `point_released`. Records the times and computes "
        "the proposed release time. Audited. No cascade in the request: when that time has passed, the sweep "
        "`system:point-watch` proposes the release, which POST /epidemic-points/{id}/release approves."
    ),
)
def point_update(request, pk: int, payload: PointPatch):
    point = services.point_update(
        point=selectors.point_get(user=request.user, pk=pk, capability=Capability.DO_TASKS),
        last_case_left_at=payload.last_case_left_at,
        disinfected_at=payload.disinfected_at,
        principal=request.user,
    )
    return PointOut.from_model(point)


class HouseholdsIn(In):
    household_ids: list[int]


@router.post(
    "/epidemic-points/{pk}/households",
    response={200: PointOut, **ERRORS},
    summary="Home quarantine for households inside the point (ended by its release)",
    description=(
        "Who may call: a user with `manage_orders` over the point's grid and over each household's (403 in "
        "sight without it, 404 out of sight); every household must be inside the point (400 "
        "`household_outside_point`) and the point not released. Starts home quarantine (reason "
        "`epidemic_point`) for every current member, tied to the point; a member already under an order is 409 "
        '`order_open`; all or none. Cascade "order_started", run as `system:household-support`: each household '
        "gets its default services (tasks through the outbox, `care.materialize`)."
    ),
)
def point_households(request, pk: int, payload: HouseholdsIn):
    # Starting the households' orders is what this writes (control_order_start: MANAGE_ORDERS).
    point = selectors.point_get(user=request.user, pk=pk, capability=Capability.MANAGE_ORDERS)
    households = [
        people_selectors.household_get(user=request.user, pk=h, capability=Capability.MANAGE_ORDERS)
        for h in payload.household_ids
    ]
    services.point_quarantine_households(point=point, households=households, principal=request.user)
    return PointOut.from_model(point)


class PointReleaseIn(In):
    at: EventTime | None = None


@router.post(
    "/epidemic-points/{pk}/release",
    response={200: PointOut, **ERRORS},
    summary="Approve the proposed release (command center)",
    description=(
        "Who may call: a user with `manage_plans` over the point's grid (command center, subdistrict staff; "
        "403 in sight without it, 404 out of sight, `point_not_found`); only a proposed release (400 "
        "`point_not_proposed`); releasing a released point changes nothing. Closed management ends, and with "
        "it the exit suspension at the gates. Cascade, run as `system:point-release`, in the same transaction: "
        'the orders tied to the point end (each "order_ended", so `system:household-support` ends the '
        "households' default services), the compound's disinfection and garbage services end "
        '("compound_reopened"), and the emergency response closes once none of its points is under closed '
        "management."
    ),
)
def point_release(request, pk: int, payload: PointReleaseIn):
    point = selectors.point_get(user=request.user, pk=pk, capability=Capability.MANAGE_PLANS)
    point = services.point_release(point=point, at=payload.at, principal=request.user)
    return PointOut.from_model(point)
