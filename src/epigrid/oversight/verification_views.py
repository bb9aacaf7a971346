"""Pages of the verification lists (核查名单): import a list pushed from above, follow its rows,
verify one's own rows on a phone, place the rows that matched nobody, give the feedback .xlsx."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows, grant_paths
from epigrid.core.tabular import read_upload
from epigrid.core.views import domain_errors, paginate, refused_back
from epigrid.core.xlsx import write_ledger, xlsx_response
from epigrid.grids.choices import LEAF_LEVELS
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_node_get

from . import verification
from .choices import VerificationOutcome


@login_required
@domain_errors
def list_page(request):
    can_import = grant_paths(request.user, verification.IMPORT) != []
    if request.method == "POST":
        node = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=verification.IMPORT)
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("file_required", _("Choose the list's .xlsx file."), field="file")
            job = verification.list_import_start(
                node=node,
                name=request.POST.get("name", ""),
                source=request.POST.get("source", ""),
                data=read_upload(upload),
                file_name=upload.name,
                due_hours=request.POST.get("due_hours") or 24,
                principal=request.user,
            )
        except DomainError as exc:
            return refused_back(request, exc, "verification:list")
        # The rows are read, matched and written by the job; its page follows them.
        return redirect(job.get_absolute_url())
    mine = verification.entries_for(request.user).filter(owner_id=request.user.pk, outcome="pending")
    return render(
        request,
        "oversight/verification/list.html",
        {
            "page": paginate(request, verification.lists_for(request.user)),
            "can_import": can_import,
            "mine": mine.order_by("verification_list__due_at", "row")[:50],
            "now": timezone.now(),
        },
    )


@login_required
@domain_errors
def detail(request, pk):
    checked = verification.list_get(user=request.user, pk=pk)
    entries = verification.entries_for(request.user).filter(verification_list=checked)
    outcome = request.GET.get("outcome", "")
    if outcome in VerificationOutcome.values:
        entries = entries.filter(outcome=outcome)
    if request.GET.get("unmatched") == "1":
        entries = entries.filter(person__isnull=True)
    can_place = allows(request.user, verification.IMPORT, checked.grid.path)
    leaves = (
        GridNode.objects.filter(path__startswith=checked.grid.path, level__in=LEAF_LEVELS).order_by("path")
        if can_place
        else []
    )
    return render(
        request,
        "oversight/verification/detail.html",
        {
            "list": checked,
            "page": paginate(request, entries.order_by("row")),
            "counts": verification.counts(checked),
            "unmatched": checked.entries.filter(person__isnull=True, grid=checked.grid).count(),
            "outcomes": VerificationOutcome.choices,
            "outcome": outcome,
            "can_place": can_place,
            "leaves": leaves,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
@domain_errors
def entry_verify(request, pk):
    entry = verification.entry_get(user=request.user, pk=pk, capability=verification.VERIFY)
    back = reverse("verification:detail", args=[entry.verification_list_id])
    try:
        entry = verification.entry_verify(
            entry=entry,
            outcome=request.POST.get("outcome", ""),
            note=request.POST.get("note", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    if entry.outcome == VerificationOutcome.NEW_ARRIVAL:
        messages.success(request, _("Recorded. Now register the tip for this person."))
        return redirect(reverse("control:tip_create") + f"?person={entry.person_id}")
    messages.success(request, _("Recorded."))
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/verification/") else back)


@login_required
@require_POST
@domain_errors
def entry_place(request, pk):
    entry = verification.entry_get(user=request.user, pk=pk)
    back = reverse("verification:detail", args=[entry.verification_list_id]) + "?unmatched=1"
    grid = grid_node_get(user=request.user, code=request.POST.get("grid", ""))
    try:
        verification.entry_place(entry=entry, grid=grid, principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Placed: the grid member of %(grid)s verifies it.") % {"grid": grid.name})
    return redirect(back)


@login_required
@domain_errors
def feedback(request, pk):
    """The answer to the level above: every row, its outcome and when (only masked identifiers)."""
    checked = verification.list_get(user=request.user, pk=pk, capability=verification.IMPORT)
    labels = dict(VerificationOutcome.choices)
    rows = (
        [
            e.row,
            e.name,
            e.id_number_masked,
            e.phone_masked,
            _("yes") if e.person_id else _("no"),
            e.grid.name,
            str(labels[e.outcome]),
            timezone.localtime(e.outcome_at).strftime("%Y-%m-%d %H:%M") if e.outcome_at else "",
            e.note,
        ]
        for e in checked.entries.select_related("grid").order_by("row").iterator(chunk_size=2000)
    )
    headers = [
        _("Row"),
        _("Name"),
        _("ID number"),
        _("Phone"),
        _("Matched"),
        _("Grid"),
        _("Outcome"),
        _("Verified"),
        _("Note"),
    ]
    out, _count = write_ledger(sheet_name=_("Feedback"), headers=headers, rows=rows, wide={5, 6, 8})
    return xlsx_response(out, f"verification-{checked.pk}-feedback.xlsx")


def today_verification_panel(request):
    """On the day page: the rows of lists from above that the user is to verify."""
    rows = list(
        verification.entries_for(request.user)
        .filter(owner_id=request.user.pk, outcome="pending")
        .order_by("verification_list__due_at", "row")[:10]
    )
    if not rows:
        return None
    return "oversight/verification/_today_panel.html", {"rows": rows, "now": timezone.now()}
