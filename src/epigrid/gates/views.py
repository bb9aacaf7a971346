import datetime as dt
import json

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.accounts.choices import Role
from epigrid.accounts.models import User
from epigrid.accounts.permissions import require_second_factor, scope_assignments
from epigrid.core import extensions
from epigrid.core.capabilities import Capability
from epigrid.core.confirm import confirm_page, confirmed
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError
from epigrid.core.scoping import VIEW, allows
from epigrid.core.views import domain_errors, refused_back
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_node_get

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
        elif request.POST.get("temperature", "").isdigit():
            checkpoint = Checkpoint.objects.select_related("grid").get_for(
                request.user, Capability.MANAGE_CHECKPOINTS, pk=request.POST["temperature"]
            )
            services.checkpoint_temperature_policy(
                checkpoint=checkpoint, required=request.POST.get("required") == "1", principal=request.user
            )
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


def _refused_answer(request, exc: DomainError, *, url: str, sent: list[str], choose: str):
    """A refusal at the gate, in the answer box in the verdict's big format (never a page): the
    error, or the matches to tap, each sending the form again with `choose` set to the match."""
    context = {"error": exc.render(), "error_field": exc.field}
    if isinstance(exc, services.Choices):
        values = {name: request.POST.get(name, "") for name in sent}
        context["choose_url"] = url
        context["choices"] = [(label, json.dumps({**values, choose: value})) for value, label in exc.choices]
    return render(request, "gates/_answer.html", context, status=exc.status)


SCAN_FIELDS = ["direction", "temperature", "number"]
VISITOR_FIELDS = ["name", "phone", "id_number", "visiting", "reason", "direction", "temperature"]


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
        return _refused_answer(request, exc, url=reverse("gates:scan", args=[cp.pk]), sent=SCAN_FIELDS, choose="number")
    return _recorded(render(request, "gates/_answer.html", {"answer": answer, "passage": answer.passage}))


def _recorded(response):
    # The page's "recent passages" list reloads itself on this event (gate.html, hx-trigger).
    response["HX-Trigger"] = "passage-recorded"
    return response


@login_required
@require_POST
@domain_errors
def visitor(request, pk):
    cp = Checkpoint.objects.select_related("grid").get_for(request.user, Capability.GUARD_GATE, pk=pk)
    try:
        # Found by address or pass number within the checkpoint's compound, never by a row id.
        household = services.visited_household_find(
            checkpoint=cp, text=request.POST.get("visiting", ""), principal=request.user
        )
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
        url = reverse("gates:visitor", args=[cp.pk])
        return _refused_answer(request, exc, url=url, sent=VISITOR_FIELDS, choose="visiting")
    return _recorded(
        render(request, "gates/_answer.html", {"answer": answer, "passage": answer.passage, "visitor": True})
    )


def guard_home(user) -> str | None:
    """Where a guard lands after login ("home_pages"): the gate page of the checkpoint they are on
    shift at now, else of their one open checkpoint, else the list of their checkpoints. Users
    with any other role land on their usual page."""
    assignments = scope_assignments(user)
    if not assignments or any(a.role != Role.CHECKPOINT_GUARD for a in assignments):
        return None
    now = timezone.now()
    on_shift = (
        Shift.objects.filter(attendance__user=user, starts_at__lte=now, ends_at__gt=now, checkpoint__is_open=True)
        .order_by("starts_at")
        .values_list("checkpoint_id", flat=True)
        .first()
    )
    if on_shift is not None:
        return reverse("gates:checkpoint", args=[on_shift])
    open_ids = list(
        Checkpoint.objects.restrict(user, Capability.GUARD_GATE).filter(is_open=True).values_list("pk", flat=True)[:2]
    )
    if len(open_ids) == 1:
        return reverse("gates:checkpoint", args=[open_ids[0]])
    return reverse("gates:list")


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
def pass_sheet_job(request, code):
    """The whole sheet of a grid's cards in the background (a large grid's QR codes take minutes):
    the job's page follows it and offers the file when it is drawn."""
    grid = GridNode.objects.get_for(request.user, Capability.ISSUE_PASSES, code=code)
    job = ledgers.pass_sheet_start(grid=grid, principal=request.user)
    return redirect(job.get_absolute_url())


@login_required
@require_POST
@domain_errors
def pass_action(request, pk, action):
    """作废 (revoke) or 重新生成 (reissue: same number, new card) a household's pass. Either makes
    the card the household holds useless at the gate: the page asks first (core.confirm)."""
    household_pass = HouseholdPass.objects.select_related("grid", "household").get_for(
        request.user, Capability.ISSUE_PASSES, pk=pk
    )
    back = reverse("gates:passes", args=[(household_pass.grid.compound() or household_pass.grid).code])
    number, address = household_pass.number, household_pass.household.address
    reissue = action == "reissue"
    if not confirmed(request):
        card_dies = _("The card %(number)s that %(address)s holds stops working at every gate at once.") % {
            "number": number,
            "address": address,
        }
        follows = (
            [card_dies, _("A new card with the same number is made: print it and hand it over.")]
            if reissue
            else [card_dies, _("The household has no pass until a new one is issued.")]
        )
        return confirm_page(
            request,
            title=_("Re-issue the pass") if reissue else _("Revoke the pass"),
            question=(_("Re-issue pass %(number)s?") if reissue else _("Revoke pass %(number)s?")) % {"number": number},
            consequences=follows,
            button=_("Confirm: re-issue") if reissue else _("Confirm: revoke"),
            cancel_url=back,
        )
    try:
        if reissue:
            services.pass_reissue(household_pass=household_pass, principal=request.user)
        else:
            services.pass_revoke(household_pass=household_pass, principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, back)
    if reissue:
        messages.success(request, _("Pass %(number)s re-issued: print the new card.") % {"number": number})
    else:
        messages.success(request, _("Pass %(number)s of %(address)s revoked.") % {"number": number, "address": address})
    return redirect(back)


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
        messages.success(request, _("Duty shift planned."))
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
            # Volunteers' 值守 and the like (other apps, "roster_cover"): counted in the gaps above.
            "covers": services.roster_cover([cp.pk], now - dt.timedelta(hours=12), now + dt.timedelta(days=7))[:60],
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
