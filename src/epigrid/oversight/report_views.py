"""Pages of the daily reports (日报): the day's reports in the user's area and who has not
signed, one report to review and sign, its printable page and its .xlsx."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors, refused_back
from epigrid.core.xlsx import write_ledger, xlsx_response
from epigrid.grids.choices import GridLevel

from . import reports
from .choices import ReportStatus


def _day(request) -> dt.date:
    try:
        return dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return timezone.localdate()


@login_required
def report_list(request):
    day = _day(request)
    rows = list(reports.reports_for(request.user, day=day))
    now = timezone.now()
    for r in rows:
        r.is_late = r.status == ReportStatus.DRAFT and (r.late_at is not None or r.due_at < now)
    levels = [
        (label, [r for r in rows if r.grid.level == level])
        for level, label in (
            (GridLevel.SUBDISTRICT, _("Subdistrict")),
            (GridLevel.COMMUNITY, _("Communities")),
            (GridLevel.GRID, _("Compound grids")),
        )
    ]
    unsigned = [r for r in rows if r.status == ReportStatus.DRAFT]
    return render(
        request,
        "oversight/reports/list.html",
        {
            "day": day,
            "previous": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1) if day < timezone.localdate() else None,
            "levels": [(label, items) for label, items in levels if items],
            "signed": len(rows) - len(unsigned),
            "total": len(rows),
            "late": [r for r in unsigned if r.is_late],
            "now": now,
        },
    )


def _context(request, report) -> dict:
    figures, missing = reports.current(report)
    labels = reports.figure_labels()
    children = []
    if report.grid.level != GridLevel.GRID:
        signed = reports.signed_children(report)
        children = [{"report": r, "values": [r.figures.get(k, 0) for k in labels]} for r in signed]
    return {
        "report": report,
        "rows": [{"key": k, "label": label, "value": figures.get(k, 0)} for k, label in labels.items()],
        "labels": list(labels.values()),
        "totals": [figures.get(k, 0) for k in labels],
        "children": children,
        "missing": missing,
        "seen": reports.version(figures, missing),
        "can_sign": report.status == ReportStatus.DRAFT and allows(request.user, reports.SIGN, report.grid.path),
        "late": report.status == ReportStatus.DRAFT and (report.late_at is not None or report.due_at < timezone.now()),
    }


@login_required
@domain_errors
def report_page(request, pk):
    report = reports.report_get(user=request.user, pk=pk)
    if request.method == "POST":
        report = reports.report_get(user=request.user, pk=pk, capability=reports.SIGN)
        remarks = request.POST.get("remarks", "")
        try:
            if request.POST.get("action") == "sign":
                reports.report_sign(
                    report=report, remarks=remarks, seen=request.POST.get("seen", ""), principal=request.user
                )
                messages.success(request, _("Report signed."))
            else:
                reports.report_remarks_save(report=report, remarks=remarks, principal=request.user)
                messages.success(request, _("Remarks saved."))
        except DomainError as exc:
            return refused_back(request, exc, request.path)
        return redirect("reports:report", pk=report.pk)
    return render(request, "oversight/reports/report.html", _context(request, report))


@login_required
@domain_errors
def report_print(request, pk):
    report = reports.report_get(user=request.user, pk=pk)
    return render(request, "oversight/reports/print.html", _context(request, report))


@login_required
@domain_errors
def report_xlsx(request, pk):
    """The 日报 layout: one row per unit (the grids of a community, or the grid itself), a figure
    per column, the total, then the remarks."""
    report = reports.report_get(user=request.user, pk=pk)
    context = _context(request, report)
    headers = [_("Unit"), *[str(label) for label in context["labels"]]]
    rows = [[c["report"].grid.name, *c["values"]] for c in context["children"]]
    rows.append([_("Total") if rows else report.grid.name, *context["totals"]])
    for code in context["missing"]:
        rows.append([_("Not reported: %(code)s") % {"code": code}])
    rows.append([_("Remarks"), report.remarks])
    status = _("Signed by %(name)s") % {"name": report.signed_by} if report.signed_by else _("Not signed")
    rows.append([status, report.signed_at.isoformat() if report.signed_at else ""])
    out, _count = write_ledger(sheet_name=f"{report.day:%m%d}日报", headers=headers, rows=rows, wide={0})
    return xlsx_response(out, f"daily-report-{report.grid.code}-{report.day}.xlsx")
