"""API of the daily reports (日报): the day's reports in the caller's area, one report with the
version of its figures, and signing it."""

import datetime as dt

from django.utils import timezone
from ninja import Router, Schema

from epigrid.core.api import ERRORS, FilterDate, In

from . import reports
from .models import DailyReport

router = Router(tags=["daily reports"])


class DailyReportOut(Schema):
    id: int
    grid: str
    grid_name: str
    level: str
    day: dt.date
    status: str
    due_at: dt.datetime
    late: bool
    signed_at: dt.datetime | None
    signed_by: str | None
    remarks: str


class DailyReportDetailOut(DailyReportOut):
    figures: dict[str, int]
    missing: list[str]
    version: str


class SignIn(In):
    remarks: str = ""
    version: str


def _out(report: DailyReport) -> dict:
    return {
        "id": report.pk,
        "grid": report.grid.code,
        "grid_name": report.grid.name,
        "level": report.grid.level,
        "day": report.day,
        "status": report.status,
        "due_at": report.due_at,
        "late": report.late_at is not None or (report.signed_at is None and report.due_at < timezone.now()),
        "signed_at": report.signed_at,
        "signed_by": report.signed_by.username if report.signed_by else None,
        "remarks": report.remarks,
    }


def _detail(report: DailyReport) -> dict:
    figures, missing = reports.current(report)
    return {**_out(report), "figures": figures, "missing": missing, "version": reports.version(figures, missing)}


@router.get(
    "/reports",
    response={200: list[DailyReportOut], **ERRORS},
    summary="The daily reports of a day in the caller's area",
    description=(
        "Who may call: any user with a role; answers the reports of the grids, communities and the subdistrict "
        "in the caller's subtrees (a grid member: their grid's; the command center: all) for `day` (default "
        "today), ordered by the grid tree; `late` is true for one unsigned past its deadline. Not paged (one "
        "row per grid node). Reads only: no cascade."
    ),
)
def report_list(request, day: FilterDate | None = None):
    return [_out(r) for r in reports.reports_for(request.user, day=day or timezone.localdate())]


@router.get(
    "/reports/{int:pk}",
    response={200: DailyReportDetailOut, **ERRORS},
    description=(
        "Who may call: a user who sees the report's grid (404 `report_not_found` otherwise). `figures`: a grid's "
        "as drafted from the day's data; a community's or the subdistrict's the sums of its children's signed "
        "reports (`missing`: the children not signed); once signed, as signed. `version` is what signing "
        "must quote. Reads only: no cascade."
    ),
)
def report_detail(request, pk: int):
    return _detail(reports.report_get(user=request.user, pk=pk))


@router.post(
    "/reports/{int:pk}/sign",
    response={200: DailyReportDetailOut, **ERRORS},
    description=(
        "Who may call: a user with `sign_reports` over the report's grid (grid heads, community and subdistrict "
        "staff, the commander): 403 in sight without it, 404 out of sight. `version` must be the one read "
        "(409 `report_changed` when the figures moved since; 409 `report_signed` when signed already). "
        "Freezes the figures, records the remarks and the signer; audited. No cascade: the level above sums "
        "it when its report is read or signed."
    ),
)
def report_sign(request, pk: int, payload: SignIn):
    report = reports.report_get(user=request.user, pk=pk, capability=reports.SIGN)
    signed = reports.report_sign(report=report, remarks=payload.remarks, seen=payload.version, principal=request.user)
    return _detail(reports.report_get(user=request.user, pk=signed.pk))
