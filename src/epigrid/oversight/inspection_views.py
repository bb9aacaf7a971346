"""Pages of the inspections (督查): the rounds, a round on the inspector's phone, the
rectifications an owner answers, the checklists and the scores per grid."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.accounts.models import GridAssignment, User
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows, grant_paths
from epigrid.core.uploads import photo_response
from epigrid.core.views import domain_errors, paginate, refused_back
from epigrid.grids.selectors import grid_node_get

from . import inspections, omissions
from .choices import OmissionKind, OmissionStatus, RectificationStatus, RoundStatus
from .models import InspectionRound

INSPECT = Capability.INSPECT


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise DomainError("date_invalid", _("Give a date as YYYY-MM-DD."), field=field) from None


@login_required
@domain_errors
def round_list(request):
    """The rounds in the user's grids (planned first), and the form to plan one."""
    can_plan = bool(grant_paths(request.user, INSPECT) != [])
    if request.method == "POST":
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=INSPECT)
        checklist = inspections.checklist_get(user=request.user, pk=request.POST.get("checklist", ""))
        try:
            planned_for = _date(request.POST.get("planned_for", ""), "planned_for")
            inspection = inspections.round_plan(
                grid=grid, checklist=checklist, planned_for=planned_for, principal=request.user
            )
        except DomainError as exc:
            return refused_back(request, exc, "inspections:list")
        messages.success(request, _("Inspection planned."))
        return redirect("inspections:round", pk=inspection.pk)
    rounds = (
        InspectionRound.objects.restrict(request.user)
        .select_related("grid", "inspector")
        .order_by("-status", "-planned_for", "-id")
    )
    return render(
        request,
        "oversight/inspections/list.html",
        {
            "page": paginate(request, rounds),
            "can_plan": can_plan,
            "checklists": inspections.checklists_for(request.user) if can_plan else [],
            "today": timezone.localdate(),
            "open_rectifications": inspections.rectifications_for(request.user).exclude(
                status=RectificationStatus.CLOSED
            )[:20],
        },
    )


@login_required
@domain_errors
def round_page(request, pk):
    inspection = inspections.round_get(user=request.user, pk=pk)
    findings = {f.item: f for f in inspection.findings.select_related("rectification__owner")}
    can_inspect = allows(request.user, INSPECT, inspection.grid.path) and inspection.status == RoundStatus.PLANNED
    can_rectify = allows(request.user, INSPECT, inspection.grid.path)
    owners = []
    if can_rectify and any(not f.passed for f in findings.values()):
        # Who may own it: staff held at the grid or above it (they see the grid).
        owners = (
            GridAssignment.objects.active()
            .filter(node__path__in=inspections.ancestor_paths(inspection.grid.path))
            .select_related("user", "node")
            .order_by("-node__path", "role")[:100]
        )
    rows = [(i, text, findings.get(i)) for i, text in enumerate(inspection.items)]
    return render(
        request,
        "oversight/inspections/round.html",
        {
            "inspection": inspection,
            "rows": rows,
            "done": len(findings),
            "can_inspect": can_inspect,
            "can_rectify": can_rectify,
            "owners": owners,
            "default_due": (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            # 漏报/瞒报 found in this grid feed the round: what to look at on the spot.
            "omissions": omissions.findings_for(request.user, capability=INSPECT)
            .filter(grid__path__startswith=inspection.grid.path)
            .exclude(status=OmissionStatus.DISMISSED)
            .order_by("status", "-found_at")[:20],
        },
    )


@login_required
@require_POST
@domain_errors
def finding_record(request, pk):
    inspection = inspections.round_get(user=request.user, pk=pk, capability=INSPECT)
    back = redirect("inspections:round", pk=inspection.pk)
    try:
        item = int(request.POST.get("item", ""))
    except ValueError:
        item = -1
    try:
        inspections.finding_record(
            inspection=inspection,
            item=item,
            passed=request.POST.get("passed") == "yes",
            note=request.POST.get("note", ""),
            photo=request.FILES.get("photo"),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back.url)
    messages.success(request, _("Finding recorded."))
    return back


@login_required
@require_POST
@domain_errors
def round_complete(request, pk):
    inspection = inspections.round_get(user=request.user, pk=pk, capability=INSPECT)
    try:
        inspections.round_complete(inspection=inspection, principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, f"/inspections/{inspection.pk}/")
    messages.success(request, _("Inspection completed: score %(score)s.") % {"score": inspection.score})
    return redirect("inspections:round", pk=inspection.pk)


@login_required
@require_POST
@domain_errors
def rectification_order(request, pk):
    finding = inspections.finding_get(user=request.user, pk=pk, capability=INSPECT)
    back = f"/inspections/{finding.inspection_id}/"
    owner_id = request.POST.get("owner", "")
    owner = User.objects.filter(pk=owner_id, is_active=True).first() if owner_id.isdigit() else None
    try:
        due = request.POST.get("due_at", "")
        try:
            due_at = timezone.make_aware(dt.datetime.fromisoformat(due)) if due else None
        except ValueError:
            due_at = None
        if due_at is None:
            raise DomainError("due_at_invalid", _("Give the deadline as a date and time."), field="due_at")
        inspections.rectification_order(
            finding=finding,
            owner=owner,
            request=request.POST.get("request", ""),
            due_at=due_at,
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Rectification ordered."))
    return redirect(back)


@login_required
@domain_errors
def rectification_list(request):
    rows = inspections.rectifications_for(request.user)
    status = request.GET.get("status", "")
    if status in RectificationStatus.values:
        rows = rows.filter(status=status)
    return render(
        request,
        "oversight/inspections/rectifications.html",
        {"page": paginate(request, rows), "status": status, "statuses": RectificationStatus.choices},
    )


@login_required
@domain_errors
def rectification_page(request, pk):
    r = inspections.rectification_get(user=request.user, pk=pk)
    me = request.user
    return render(
        request,
        "oversight/inspections/rectification.html",
        {
            "r": r,
            "can_answer": r.owner_id == me.pk and r.status == RectificationStatus.OPEN,
            "can_recheck": allows(me, INSPECT, r.grid.path) and r.status == RectificationStatus.ANSWERED,
            "overdue": r.status == RectificationStatus.OPEN and r.due_at < timezone.now(),
        },
    )


@login_required
@require_POST
@domain_errors
def rectification_answer(request, pk):
    r = inspections.rectification_get(user=request.user, pk=pk)
    try:
        inspections.rectification_answer(
            rectification=r,
            answer=request.POST.get("answer", ""),
            photo=request.FILES.get("photo"),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, f"/inspections/rectifications/{r.pk}/")
    messages.success(request, _("Answer sent to the inspector."))
    return redirect("inspections:rectification", pk=r.pk)


@login_required
@require_POST
@domain_errors
def rectification_recheck(request, pk):
    r = inspections.rectification_get(user=request.user, pk=pk, capability=INSPECT)
    try:
        inspections.rectification_recheck(
            rectification=r,
            passed=request.POST.get("passed") == "yes",
            note=request.POST.get("note", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, f"/inspections/rectifications/{r.pk}/")
    messages.success(request, _("Re-check recorded."))
    return redirect("inspections:rectification", pk=r.pk)


@login_required
@domain_errors
def photo(request, pk, which):
    """A finding's photo or a rectification's evidence, to whoever sees it."""
    if which == "finding":
        field = inspections.finding_get(user=request.user, pk=pk).photo
    else:
        field = inspections.rectification_get(user=request.user, pk=pk).answer_photo
    if not field:
        raise Http404
    return photo_response(field, download_name=f"{which}-{pk}")


@login_required
@domain_errors
def checklist_list(request):
    if request.method == "POST":
        code = request.POST.get("grid", "")
        grid = grid_node_get(user=request.user, code=code, capability=INSPECT) if code else None
        try:
            checklist = inspections.checklist_save(
                name=request.POST.get("name", ""),
                items=request.POST.get("items", ""),
                grid=grid,
                principal=request.user,
            )
        except DomainError as exc:
            return refused_back(request, exc, "inspections:checklists")
        messages.success(request, _("Checklist saved."))
        return redirect("inspections:checklist", pk=checklist.pk)
    return render(
        request,
        "oversight/inspections/checklists.html",
        {
            "checklists": inspections.checklists_for(request.user),
            "can_edit": grant_paths(request.user, INSPECT) != [],
        },
    )


@login_required
@domain_errors
def checklist_page(request, pk):
    checklist = inspections.checklist_get(user=request.user, pk=pk)
    if request.method == "POST":
        try:
            inspections.checklist_save(
                checklist=checklist,
                name=request.POST.get("name", ""),
                items=request.POST.get("items", ""),
                grid=checklist.grid,
                principal=request.user,
            )
        except DomainError as exc:
            return refused_back(request, exc, f"/inspections/checklists/{checklist.pk}/")
        messages.success(request, _("Checklist saved."))
        return redirect("inspections:checklist", pk=checklist.pk)
    return render(request, "oversight/inspections/checklist.html", {"checklist": checklist})


@login_required
def scores(request):
    rows = inspections.grid_scores(InspectionRound.objects.restrict(request.user))
    return render(request, "oversight/inspections/scores.html", {"rows": rows})


def today_rectifications_panel(request):
    """On the day page: the rectifications the user owns and has not answered, nearest deadline first."""
    rows = list(
        inspections.rectifications_for(request.user)
        .filter(owner_id=request.user.pk, status=RectificationStatus.OPEN)
        .order_by("due_at")[:10]
    )
    if not rows:
        return None
    return "oversight/inspections/_today_panel.html", {"rows": rows, "now": timezone.now()}


# ---------------------------------------------------------------- 漏报/瞒报: the checks' findings


@login_required
@domain_errors
def omission_list(request):
    """The possible omissions in the inspector's area, open first; filter by kind and status."""
    rows = omissions.findings_for(request.user, capability=INSPECT)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", OmissionStatus.OPEN)
    if kind in OmissionKind.values:
        rows = rows.filter(kind=kind)
    if status in OmissionStatus.values:
        rows = rows.filter(status=status)
    return render(
        request,
        "oversight/inspections/omissions.html",
        {
            "page": paginate(request, rows.order_by("-found_at", "-id")),
            "kinds": OmissionKind.choices,
            "statuses": OmissionStatus.choices,
            "kind": kind,
            "status": status,
        },
    )


@login_required
@require_POST
@domain_errors
def omission_review(request, pk):
    finding = omissions.finding_get(user=request.user, pk=pk, capability=INSPECT)
    try:
        omissions.finding_review(
            finding=finding,
            confirmed=request.POST.get("verdict") == "confirmed",
            note=request.POST.get("note", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, "inspections:omissions")
    messages.success(request, _("Review recorded."))
    return redirect("inspections:omissions")
