import datetime as dt

from ninja import Router, Schema

from epigrid.core.api import ERRORS, page
from epigrid.core.capabilities import Capability

from . import selectors, services
from .choices import AlertKind, AlertStatus

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


class ResolveIn(Schema):
    resolution: str


@router.get("/alerts", response={200: AlertPage, **ERRORS})
def alert_list(request, mine: bool = False, include_resolved: bool = False, limit: int = 50, offset: int = 0):
    rows = selectors.alert_list(user=request.user, mine=mine, unresolved=not include_resolved)
    items, next_offset = page(rows, limit=limit, offset=offset)
    return {"items": [AlertOut.from_model(a) for a in items], "next_offset": next_offset}


@router.post("/alerts/{pk}/acknowledge", response={200: AlertOut, **ERRORS})
def alert_acknowledge(request, pk: int):
    alert = selectors.alert_get(user=request.user, pk=pk, capability=Capability.HANDLE_ALERTS)
    alert = services.alert_acknowledge(alert=alert, principal=request.user)
    return AlertOut.from_model(selectors.alert_get(user=request.user, pk=alert.pk))


@router.post("/alerts/{pk}/resolve", response={200: AlertOut, **ERRORS})
def alert_resolve(request, pk: int, payload: ResolveIn):
    alert = selectors.alert_get(user=request.user, pk=pk, capability=Capability.HANDLE_ALERTS)
    alert = services.alert_resolve(alert=alert, resolution=payload.resolution, principal=request.user)
    return AlertOut.from_model(selectors.alert_get(user=request.user, pk=alert.pk))
