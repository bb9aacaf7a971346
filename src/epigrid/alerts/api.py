import datetime as dt
import uuid
from typing import Literal

from ninja import Router, Schema

from epigrid.core.api import ERRORS, FilterTime, In, IsoTime, page
from epigrid.core.capabilities import Capability
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors

from . import selectors, services
from .choices import AlertKind, AlertStatus, EscalationLevel

router = Router(tags=["alerts"])


class AlertOut(Schema):
    id: int
    kind: AlertKind
    severity: str
    status: AlertStatus
    person_id: int | None
    grid: str
    owner: str | None
    level: int
    raised_at: dt.datetime
    due_at: dt.datetime
    detail: dict

    @staticmethod
    def from_model(a) -> dict:
        return {
            "id": a.pk,
            "kind": a.kind,
            "severity": a.severity,
            "status": a.status,
            "person_id": a.person_id,
            "grid": a.grid.code,
            "owner": a.owner.username if a.owner_id else None,
            "level": a.level,
            "raised_at": a.raised_at,
            "due_at": a.due_at,
            "detail": a.detail,
        }


class AlertPage(Schema):
    items: list[AlertOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


class ResolveIn(In):
    resolution: str


@router.get(
    "/alerts",
    response={200: AlertPage, **ERRORS},
    summary="Alerts (预警) in the caller's grids, most urgent first",
    description=(
        "Who may call: any user with a role; answers only alerts in the grids the caller sees. "
        "Unresolved only unless `include_resolved`; `mine` keeps those the caller owns. Filters: "
        "`person` (404 if not visible), `kind`, `grid` (a subtree), `raised_from` ≤ raised_at < "
        "`raised_to` (naive = Asia/Shanghai). Ordered by severity, due time, "
        "then id; `next_offset` pages. Reads only: no cascade."
    ),
)
def alert_list(
    request,
    mine: bool = False,
    include_resolved: bool = False,
    person: int | None = None,
    kind: AlertKind | None = None,
    grid: str | None = None,
    raised_from: FilterTime | None = None,
    raised_to: FilterTime | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = selectors.alert_list(
        user=request.user,
        mine=mine,
        unresolved=not include_resolved,
        person_id=people_selectors.person_get(user=request.user, pk=person).pk if person is not None else None,
        kind=kind.value if kind else "",
        grid_path=grid_node_get(user=request.user, code=grid).path if grid else "",
    )
    if raised_from:
        rows = rows.filter(raised_at__gte=raised_from)
    if raised_to:
        rows = rows.filter(raised_at__lt=raised_to)
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [AlertOut.from_model(a) for a in items], "next_offset": next_offset, "total": total}


@router.post(
    "/alerts/{pk}/acknowledge",
    response={200: AlertOut, **ERRORS},
    description=(
        "Who may call: a user with `handle_alerts` over the alert's grid (403 in sight without it, 404 out of "
        "sight); acknowledging again changes nothing, a resolved alert is 400 `alert_transition`. "
        "Acknowledging stops the escalation clock of the alert. Audited. No cascade."
    ),
)
def alert_acknowledge(request, pk: int):
    alert = selectors.alert_get(user=request.user, pk=pk, capability=Capability.HANDLE_ALERTS)
    alert = services.alert_acknowledge(alert=alert, principal=request.user)
    return AlertOut.from_model(selectors.alert_get(user=request.user, pk=alert.pk))


@router.post(
    "/alerts/{pk}/resolve",
    response={200: AlertOut, **ERRORS},
    description=(
        "Who may call: a user with `handle_alerts` over the alert's grid (403 in sight without it, 404 out of "
        "sight); `resolution` says how it was handled (400 `resolution_required`). Resolving an alert not yet "
        "acknowledged acknowledges it too. Audited. No cascade."
    ),
)
def alert_resolve(request, pk: int, payload: ResolveIn):
    alert = selectors.alert_get(user=request.user, pk=pk, capability=Capability.HANDLE_ALERTS)
    alert = services.alert_resolve(alert=alert, resolution=payload.resolution, principal=request.user)
    return AlertOut.from_model(selectors.alert_get(user=request.user, pk=alert.pk))


class AlertActionIn(In):
    client_id: uuid.UUID
    alert_id: int
    action: Literal["acknowledge", "resolve"]
    resolution: str = ""
    at: IsoTime  # when it was taken; with its offset as given, without one Asia/Shanghai time


class AlertActionsIn(In):
    actions: list[AlertActionIn]


class AlertActionResultOut(Schema):
    index: int
    client_id: uuid.UUID
    alert_id: int
    status: AlertStatus
    # stored: made by this request; resent: made when this client id was sent before;
    # already: the alert had got there meanwhile (another user), nothing was changed.
    outcome: Literal["stored", "resent", "already"]


class AlertActionsOut(Schema):
    stored: int
    results: list[AlertActionResultOut]


class AlertActionErrorOut(Schema):
    index: int
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None


class AlertActionsErrorOut(Schema):
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None
    rows: list[AlertActionErrorOut] = []


@router.post(
    "/alerts/actions/batch",
    response={200: AlertActionsOut, **ERRORS, 422: AlertActionsErrorOut},
    summary="Acknowledgements and resolutions taken offline on a grid member's phone, each with its client id; "
    "a resent batch changes nothing twice; any bad row refuses the whole batch",
    description=(
        "Who may call: any user with a role; each row needs `handle_alerts` over its alert's grid (a row "
        "error: 404 out of sight, 403 in sight without it). Made in the order taken, each at its own time; "
        "a client id sent before for the same move answers `resent`, for another move 409 `client_id_reused`; "
        "an alert already acknowledged or resolved by someone else answers `already`. Any bad row (unknown "
        "alert, a resolution without a note, a time in the future or older than 7 days) refuses the batch: "
        "422 listing every bad row, nothing moved. Audited per move. No cascade."
    ),
)
def alert_actions_batch(request, payload: AlertActionsIn):
    results = services.alert_actions_record_batch(
        actions=[
            services.AlertActionRow(
                client_id=a.client_id, alert_id=a.alert_id, action=a.action, at=a.at, resolution=a.resolution
            )
            for a in payload.actions
        ],
        principal=request.user,
    )
    return {
        "stored": sum(1 for r in results if r.outcome == services.ActionOutcome.STORED),
        "results": [
            {
                "index": r.index,
                "client_id": r.client_id,
                "alert_id": r.alert.pk,
                "status": r.alert.status,
                "outcome": r.outcome,
            }
            for r in results
        ],
    }


class AlertTimingOut(Schema):
    level: EscalationLevel
    label: str
    owner_roles: list[str]
    ack_minutes: int
    escalates_to: EscalationLevel | None


@router.get(
    "/alert-timing",
    response={200: list[AlertTimingOut], **ERRORS},
    summary="Minutes to acknowledge an alert at each escalation level",
    description=(
        "Who may call: any signed-in user (configuration, not grid data). An open alert not acknowledged "
        "within `ack_minutes` of reaching a level moves one level up, to the owner of that level (the liaison, "
        "then the grid head, the community secretary, the command center); at the command center it stays. "
        "`owner_roles`: `liaison` is the household team's liaison, else a grid member of the compound. Set in "
        "the deployment's settings (ALERT_ACK_MINUTES). Reads only: no cascade."
    ),
)
def alert_timing(request):
    return selectors.alert_timing()
