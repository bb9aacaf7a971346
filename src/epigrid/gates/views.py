import datetime as dt

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.accounts.models import User
from epigrid.accounts.permissions import require_second_factor
from epigrid.core import extensions
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError
from epigrid.core.scoping import VIEW, allows
from epigrid.core.views import domain_errors
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors

from . import ledgers, services
from .models import Checkpoint, HouseholdPass, Passage, Shift


@login_required
@domain_errors
def checkpoint_list(request):
    """The guard's checkpoints; the command center opens and closes them here."""
    if request.method == "POST":
        if request.POST.get("close", "").isdigit():
            checkpoint = Checkpoint.objects.select_related("grid").get_for(
                request.user, Capability.MANAGE_CHECKPOINTS, pk=request.POST["close"]
            )
            services.checkpoint_close(checkpoint=checkpoint, principal=request.user)
        else:
            grid = grid_node_get(user=request.user, code=request.POST.get("grid", ""))
            services.checkpoint_open(grid=grid, name=request.POST.get("name", ""), principal=request.user)
        return redirect("gates:list")
    checkpoints = Checkpoint.objects.restrict(request.user).select_related("grid").order_by("grid__path", "name")
    return render(
        request,
        "gates/list.html",
        {"checkpoints": checkpoints, "can_manage": allows(request.user, Capability.MANAGE_CHECKPOINTS)},
    )


@login_required
@domain_errors
def checkpoint(request, pk):
    """The gate page on a guard's phone: scan or type, temperature, in/out, a large answer."""
    cp = Checkpoint.objects.select_related("grid").get_for(request.user, VIEW, pk=pk)
    return render(
        request,
        "gates/gate.html",
        {
            "checkpoint": cp,
            "can_guard": allows(request.user, Capability.GUARD_GATE, cp.grid.path),
            "recent": Passage.objects.restrict(request.user)
            .filter(checkpoint=cp)
            .select_related("grid", "household_pass__grid", "visitor")
            .order_by("-at")[:10],
            # What other apps show at the gate (the temporary party branch set up there).
            "panels": [p for p in (panel(request, cp) for panel in extensions.get("checkpoint_panels")) if p],
        },
    )


@login_required
@require_POST
@domain_errors
def scan(request, pk):
    cp = Checkpoint.objects.select_related("grid").get_for(request.user, Capability.GUARD_GATE, pk=pk)
    try:
        answer = services.gate_scan(
            checkpoint=cp,
            direction=request.POST.get("direction", ""),
            temperature=request.POST.get("temperature", ""),
            token=request.POST.get("token", ""),
            number=request.POST.get("number", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return render(request, "gates/_answer.html", {"error": exc.render()}, status=exc.status)
    return render(request, "gates/_answer.html", {"answer": answer, "passage": answer.passage})


@login_required
@require_POST
@domain_errors
def visitor(request, pk):
    cp = Checkpoint.objects.select_related("grid").get_for(request.user, Capability.GUARD_GATE, pk=pk)
    household = people_selectors.household_get(user=request.user, pk=request.POST.get("visiting") or 0)
    try:
        answer = services.visitor_register(
            checkpoint=cp,
            name=request.POST.get("name", ""),
            phone=request.POST.get("phone", ""),
            id_number=request.POST.get("id_number", ""),
            visiting=household,
            reason=request.POST.get("reason", ""),
            direction=request.POST.get("direction", "in"),
            temperature=request.POST.get("temperature", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return render(request, "gates/_answer.html", {"error": exc.render()}, status=exc.status)
    return render(request, "gates/_answer.html", {"answer": answer, "passage": answer.passage})


@login_required
@domain_errors
def passes(request, code):
    grid = grid_node_get(user=request.user, code=code)
    if request.method == "POST":
        count = services.passes_issue(grid=grid, principal=request.user)
        messages.success(request, _("%(n)s pass(es) issued.") % {"n": count})
        return redirect("gates:passes", code=code)
    rows = (
        HouseholdPass.objects.restrict(request.user)
        .in_subtree(grid.path)
        .filter(revoked_at__isnull=True)
        .select_related("household")
        .order_by("number")
    )
    return render(
        request,
        "gates/passes.html",
        {"grid": grid, "passes": rows, "can_issue": allows(request.user, Capability.ISSUE_PASSES, grid.path)},
    )


@login_required
@domain_errors
def pass_sheet(request, code):
    """Print-ready A4 card sheet: eight cards a page, each with its QR code, number and address."""
    # The cards carry the tokens: only those who issue passes print them.
    grid = GridNode.objects.get_for(request.user, Capability.ISSUE_PASSES, code=code)
    page = ledgers.pass_sheet(grid=grid, page_number=request.GET.get("page"), principal=request.user)
    cards = [
        (p, mark_safe(segno.make(unseal(p.token_sealed), error="m").svg_inline(scale=3)))  # noqa: S308
        for p in page
    ]
    return render(request, "gates/sheet.html", {"grid": grid, "cards": cards, "page": page})


@login_required
@require_POST
@domain_errors
def pass_action(request, pk, action):
    household_pass = HouseholdPass.objects.select_related("grid").get_for(request.user, Capability.ISSUE_PASSES, pk=pk)
    if action == "reissue":
        services.pass_reissue(household_pass=household_pass, principal=request.user)
    else:
        services.pass_revoke(household_pass=household_pass, principal=request.user)
    return redirect("gates:passes", code=(household_pass.grid.compound() or household_pass.grid).code)


@login_required
@domain_errors
def roster(request, pk):
    needed = Capability.MANAGE_CHECKPOINTS if request.method == "POST" else VIEW
    cp = Checkpoint.objects.select_related("grid").get_for(request.user, needed, pk=pk)
    if request.method == "POST":
        try:
            starts = timezone.make_aware(dt.datetime.fromisoformat(request.POST["starts_at"]))
            ends = timezone.make_aware(dt.datetime.fromisoformat(request.POST["ends_at"]))
        except (KeyError, ValueError):
            raise DomainError("shift_times", _("Give the start and end times.")) from None
        users = {
            u.username: u
            for u in User.objects.filter(
                username__in=[request.POST.get("leader", ""), *request.POST.get("guards", "").split()], is_active=True
            )
        }
        leader = users.get(request.POST.get("leader", ""))
        if leader is None:
            raise DomainError("leader_unknown", _("No active user with this username."), field="leader")
        services.shift_create(
            checkpoint=cp,
            starts_at=starts,
            ends_at=ends,
            leader=leader,
            guards=[u for name, u in users.items() if name != leader.username],
            principal=request.user,
        )
        return redirect("gates:roster", pk=cp.pk)
    now = timezone.now()
    return render(
        request,
        "gates/roster.html",
        {
            "checkpoint": cp,
            "gaps": services.uncovered_hours(checkpoint=cp, start=now)[:48],
            "shifts": Shift.objects.restrict(request.user)
            .filter(checkpoint=cp, ends_at__gte=now - dt.timedelta(hours=12))
            .prefetch_related("attendance__user")
            .select_related("leader")
            .order_by("starts_at")[:60],
            "can_plan": allows(request.user, Capability.MANAGE_CHECKPOINTS, cp.grid.path),
        },
    )


@login_required
@require_POST
@domain_errors
def shift_check(request, pk, action):
    # Seeing the shift is enough to ask; the service lets only those on the shift check in.
    shift = Shift.objects.get_for(request.user, VIEW, pk=pk)
    services.shift_check(shift=shift, principal=request.user, out=action == "out")
    return redirect("gates:roster", pk=shift.checkpoint_id)


@login_required
@domain_errors
def ledger(request):
    """进出登记台账, filtered by checkpoint, date, household. A download of personal data: only
    for a login verified with a second factor."""
    require_second_factor(request.user)
    day = None
    if request.GET.get("date"):
        try:
            day = dt.date.fromisoformat(request.GET["date"])
        except ValueError:
            raise DomainError("date_invalid", _("Write the date as 2020-02-06.")) from None
    out, filename = ledgers.passage_ledger_export(
        principal=request.user,
        checkpoint_id=_row_id(request.GET.get("checkpoint", "")),
        day=day,
        household_id=_row_id(request.GET.get("household", "")),
    )
    return xlsx_response(out, filename)


def _row_id(value: str) -> int | None:
    """A row id typed into the query string, or None (not a number, or beyond any id)."""
    return int(value) if value.isdecimal() and len(value) <= 18 else None
