"""Daily reports (日报): each compound grid's report is drafted by the sweep from the day's
figures (the rollup), its grid head reviews it, adds remarks and signs; the community's report
sums its grids' signed reports, the subdistrict's its communities'. A report not signed by its
deadline alerts the level above; the command center sees who has not reported.

The figures a person signs are the figures they saw: the page carries a version (a hash of the
figures and of who is missing) and signing refuses when they changed meanwhile.
"""

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, EscalationLevel
from epigrid.alerts.services import NewAlert, alerts_raise, level_owners
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Conflict, DomainError, NotFound
from epigrid.core.scoping import VIEW, authorize, system, user_of
from epigrid.core.transitions import move
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_children

from . import rollup
from .choices import ReportStatus
from .models import DailyReport, NodeDay, NodeFigure

SIGN = Capability.SIGN_REPORTS
LEVELS = (GridLevel.GRID, GridLevel.COMMUNITY, GridLevel.SUBDISTRICT)
DAY_FIGURES = [
    "key_persons",
    "orders_started",
    "orders_ended",
    "readings",
    "missed",
    "fevers",
    "cases",
    "tasks_done",
    "gate_refusals",
]
CURRENT_FIGURES = [
    "orders_home_quarantine",
    "orders_centralized_quarantine",
    "orders_hospital_isolation",
    "orders_health_monitoring",
    "tasks_overdue",
    "alerts_open",
    "omissions_open",
]
FIGURES = DAY_FIGURES + CURRENT_FIGURES
# Whom a late report alerts: the level above.
LATE_LEVEL = {
    GridLevel.GRID: EscalationLevel.COMMUNITY,
    GridLevel.COMMUNITY: EscalationLevel.COMMAND,
    GridLevel.SUBDISTRICT: EscalationLevel.COMMAND,
}
DRAFTER = system("system:daily-reports", set())
LATE_WATCH = system("system:daily-report-watch", {Capability.HANDLE_ALERTS})


def figure_labels() -> dict:
    labels = {key: s.label for key, s in rollup.SERIES_KEYS.items() if key in DAY_FIGURES}
    labels.update({key: rollup.CURRENT_KEYS[key].label for key in CURRENT_FIGURES})
    return {key: labels[key] for key in FIGURES}


def _local(day: dt.date, hhmm: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.fromisoformat(hhmm)))


def due_at(day: dt.date, level: str) -> dt.datetime:
    return _local(day, settings.DAILY_REPORT_DUE[level])


def version(figures: dict, missing: list) -> str:
    """What the signer saw, in 16 hex digits."""
    text = json.dumps([figures, missing], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _leaf_figures(node_ids: list[int], day: dt.date) -> dict[int, dict[str, int]]:
    """A grid's figures from the rollup: the day's series and the current state."""
    result: dict[int, dict[str, int]] = {pk: dict.fromkeys(FIGURES, 0) for pk in node_ids}
    for node_id, figure, value in NodeDay.objects.filter(
        node_id__in=node_ids, day=day, figure__in=DAY_FIGURES
    ).values_list("node_id", "figure", "value"):
        result[node_id][figure] = value
    for node_id, figure, value in NodeFigure.objects.filter(
        node_id__in=node_ids, figure__in=CURRENT_FIGURES
    ).values_list("node_id", "figure", "value"):
        result[node_id][figure] = value
    return result


def _children(node: GridNode):
    return grid_children(node=node, levels=LEVELS)


def rolled_up(report: DailyReport) -> tuple[dict[str, int], list[str], list[DailyReport]]:
    """A community's or the subdistrict's figures: the sum of its children's signed reports of the
    day; `missing` lists the children (codes) whose report is not signed."""
    signed = signed_children(report)
    figures = dict.fromkeys(FIGURES, 0)
    for child_report in signed:
        for key in FIGURES:
            figures[key] += int(child_report.figures.get(key, 0))
    done = {r.grid_id for r in signed}
    missing = [code for pk, code in _children(report.grid).values_list("pk", "code") if pk not in done]
    return figures, missing, signed


def signed_children(report: DailyReport) -> list[DailyReport]:
    """The children's reports of the day that are signed (what a rolled-up report sums)."""
    return list(
        DailyReport.objects.filter(grid__in=_children(report.grid), day=report.day, status=ReportStatus.SIGNED)
        .select_related("grid", "signed_by")
        .order_by("grid__path")
    )


def current(report: DailyReport) -> tuple[dict[str, int], list[str]]:
    """The figures the page shows (and signing freezes): a signed report's as signed; a grid's
    draft as last drafted; a draft above the grids as its children's signed reports now."""
    if report.status == ReportStatus.SIGNED or report.grid.level == GridLevel.GRID:
        return report.figures, report.missing
    figures, missing, _signed = rolled_up(report)
    return figures, missing


def reports_draft(*, now: dt.datetime | None = None) -> int:
    """The sweep's step: from the drafting hour on, today's report of every grid, community and
    the subdistrict exists; the unsigned grid drafts take the latest figures of the rollup (which
    runs just before). Set-based: a few queries whatever the number of grids."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    if now < _local(day, settings.DAILY_REPORT_DRAFT_AT):
        return 0
    with transaction.atomic():
        nodes = list(GridNode.objects.filter(level__in=LEVELS).values_list("pk", "level"))
        have = set(DailyReport.objects.filter(day=day).values_list("grid_id", flat=True))
        leaves = [pk for pk, level in nodes if level == GridLevel.GRID]
        figures = _leaf_figures(leaves, day)
        fresh = [
            DailyReport(
                grid_id=pk,
                day=day,
                figures=figures.get(pk, dict.fromkeys(FIGURES, 0)),
                drafted_at=now,
                due_at=due_at(day, level),
            )
            for pk, level in nodes
            if pk not in have
        ]
        DailyReport.objects.bulk_create(fresh, ignore_conflicts=True)
        drafts = list(
            DailyReport.objects.select_for_update()
            .filter(day=day, status=ReportStatus.DRAFT, grid_id__in=leaves)
            .exclude(pk__in=[r.pk for r in fresh if r.pk])
        )
        changed = [r for r in drafts if r.figures != figures[r.grid_id]]
        for r in changed:
            r.figures, r.drafted_at = figures[r.grid_id], now
        DailyReport.objects.bulk_update(changed, ["figures", "drafted_at"], batch_size=1000)
        if fresh:
            audit.record(
                principal=DRAFTER,
                action="daily_report.drafted",
                object_type="oversight.dailyreport",
                changes={"day": [None, day.isoformat()], "reports": [None, len(fresh)]},
            )
    return len(fresh) + len(changed)


def reports_late(*, now: dt.datetime | None = None) -> int:
    """A report unsigned at its deadline alerts the level above, once."""
    now = now or timezone.now()
    with transaction.atomic():
        late = list(
            DailyReport.objects.select_for_update(of=("self",))
            .filter(status=ReportStatus.DRAFT, due_at__lt=now, late_at__isnull=True)
            .select_related("grid")[:5000]
        )
        if not late:
            return 0
        # Marked first: the alerts' audit append holds the chain's head, so it comes last.
        DailyReport.objects.filter(pk__in=[r.pk for r in late]).update(late_at=now)
        owners = level_owners([(LATE_LEVEL[r.grid.level], r.grid.path) for r in late])
        alerts = []
        for r in late:
            level = LATE_LEVEL[r.grid.level]
            alerts.append(
                NewAlert(
                    kind=AlertKind.REPORT_LATE,
                    dedup_key=f"daily_report:{r.pk}",
                    grid_id=r.grid_id,
                    grid_path=r.grid.path,
                    owner_id=owners[(level, r.grid.path)],
                    level=level,
                    detail={"report": r.pk, "day": r.day.isoformat(), "due_at": r.due_at.isoformat()},
                )
            )
        alerts_raise(alerts=alerts, principal=LATE_WATCH, now=now)
    return len(late)


DRAFT_SWEEP = ("daily_reports_drafted", reports_draft)
LATE_SWEEP = ("daily_reports_late", reports_late)


def report_sign(*, report: DailyReport, remarks: str, seen: str, principal) -> DailyReport:
    """Sign what was seen: `seen` is the version the page showed; the figures are frozen."""
    authorize(principal, SIGN, report.grid.path)
    remarks = (remarks or "").strip()
    if len(remarks) > 2000:
        raise DomainError("remarks_too_long", _("Keep the remarks under 2,000 characters."), field="remarks")
    with transaction.atomic():
        report = DailyReport.objects.select_for_update().select_related("grid").get(pk=report.pk)
        if report.status == ReportStatus.SIGNED:
            raise Conflict("report_signed", _("This report is signed already."))
        figures, missing = current(report)
        if seen != version(figures, missing):
            raise Conflict(
                "report_changed",
                _("The figures changed since the page was opened: check them again, then sign."),
            )
        return move(
            report,
            ReportStatus.SIGNED,
            principal=principal,
            fields={"figures": figures, "missing": missing, "remarks": remarks, "signed_by": user_of(principal)},
            changes={"remarks": ["", remarks]} if remarks else None,
        )


def report_remarks_save(*, report: DailyReport, remarks: str, principal) -> DailyReport:
    """Remarks of a draft, kept until it is signed."""
    authorize(principal, SIGN, report.grid.path)
    remarks = (remarks or "").strip()
    if len(remarks) > 2000:
        raise DomainError("remarks_too_long", _("Keep the remarks under 2,000 characters."), field="remarks")
    with transaction.atomic():
        report = DailyReport.objects.select_for_update().get(pk=report.pk)
        if report.status == ReportStatus.SIGNED:
            raise Conflict("report_signed", _("This report is signed already."))
        if report.remarks != remarks:
            audit.record(
                principal=principal,
                action="daily_report.remarks",
                obj=report,
                grid_path=report.grid.path,
                changes={"remarks": [report.remarks, remarks]},
            )
            report.remarks = remarks
            report.save(update_fields=["remarks"])
    return report


# ---------------------------------------------------------------- reads


def reports_for(user, *, day: dt.date):
    return DailyReport.objects.restrict(user).filter(day=day).select_related("grid", "signed_by").order_by("grid__path")


def report_get(*, user, pk, capability: str = VIEW) -> DailyReport:
    return DailyReport.objects.select_related("grid", "signed_by").get_for(
        user, capability, pk=pk, missing=NotFound("report_not_found", _("No such report."))
    )
