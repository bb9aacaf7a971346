"""Pages of the volunteers and the wish loop (泉心愿): the community's teams and volunteers with
their verification, the printable sign-up QR, the public sign-up form, the wishes to claim and
confirm, and the wish panel on the resident's personal link."""

import datetime as dt

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError, Forbidden, NotFound, Throttled
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors, refused_back
from epigrid.grids.selectors import grid_node_get
from epigrid.health.services import resident_link_person, resident_link_throttle
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Household

from . import volunteers as vol
from .choices import ShiftKind, VolunteerStatus, WishStatus
from .models import VolunteerTeam

HOUSEHOLD_CHOICES = 300
PERSON_CHOICES = 300  # residents offered to register as volunteers; a name filter narrows it


def _bilingual(exc: DomainError) -> str:
    """The refusal in Chinese and English: the public form has no account and no language."""
    zh, en = exc.render("zh-hans"), exc.render("en")
    return zh if zh == en else f"{zh}（{en}）"


def _team_or_none(user, value, capability=vol.MANAGE) -> VolunteerTeam | None:
    return vol.team_get(user=user, pk=value, capability=capability) if str(value or "").isdigit() else None


@login_required
@domain_errors
def volunteers(request):
    """志愿者: the teams and volunteers of the communities in sight, pending ones first, with the
    community's verification; a team or a resident volunteer is added here."""
    if request.method == "POST":
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", "").strip())
        if request.POST.get("action") == "team":
            team = vol.team_create(
                grid=grid,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                principal=request.user,
            )
            messages.success(request, _("%(team)s is set up.") % {"team": team.name})
        else:
            person = people_selectors.person_get(user=request.user, pk=request.POST.get("person", ""))
            volunteer = vol.volunteer_add(
                grid=grid,
                person=person,
                skills=request.POST.get("skills", ""),
                availability=request.POST.get("availability", ""),
                team=_team_or_none(request.user, request.POST.get("team")),
                principal=request.user,
            )
            messages.success(request, _("%(name)s is registered, to approve.") % {"name": volunteer.name})
        return redirect("mobilization:volunteers")
    status = request.GET.get("status", "")
    if status not in VolunteerStatus.values:
        status = ""
    rows = list(vol.volunteer_list(user=request.user, status=status)[:500])
    for row in rows:
        row.can_manage = allows(request.user, vol.MANAGE, row.grid.path)
        row.can_decide = row.status == VolunteerStatus.PENDING and row.can_manage
    communities = vol.community_grids(request.user)
    candidates, chosen = [], None
    if communities:
        # Residents to register, of the community chosen (the first by default), narrowed by name.
        chosen = next((c for c in communities if c.code == request.GET.get("community")), communities[0])
        candidates = people_selectors.person_list(
            user=request.user, q=request.GET.get("q", ""), grid_path=chosen.path
        ).order_by("name", "id")[:PERSON_CHOICES]
    return render(
        request,
        "mobilization/volunteers.html",
        {
            "teams": vol.team_list(user=request.user),
            "volunteers": rows,
            "status": status,
            "statuses": VolunteerStatus,
            "communities": communities,
            "candidates": candidates,
            "chosen": chosen,
            "hours": _with_hours(vol.hours_by_volunteer(user=request.user)[:100]),
            "team_hours": _with_hours(vol.hours_by_team(user=request.user)),
            "shift_kinds": ShiftKind,
            "checkpoints": vol.duty_checkpoints(request.user) if communities else [],
            "now": timezone.localtime(),
        },
    )


def _with_hours(rows) -> list:
    rows = list(rows)
    for row in rows:
        row.hours = round(row.minutes / 60, 1)
    return rows


@login_required
@require_POST
@domain_errors
def volunteer_decide(request, pk, action):
    """通过 or 不通过: the community's verification of a pending volunteer (htmx: the row is
    answered anew, a refusal's reason in it)."""
    if action not in ("approve", "refuse"):
        raise Http404
    volunteer = vol.volunteer_get(user=request.user, pk=pk, capability=vol.MANAGE)
    back = reverse("mobilization:volunteers")
    error = ""
    try:
        vol.volunteer_decide(
            volunteer=volunteer,
            approve=action == "approve",
            team=_team_or_none(request.user, request.POST.get("team")),
            note=request.POST.get("note", ""),
            principal=request.user,
        )
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        if not request.headers.get("HX-Request"):
            return refused_back(request, exc, back)
        error = exc.render()
    if request.headers.get("HX-Request"):
        row = vol.volunteer_get(user=request.user, pk=pk)
        row.can_manage = True
        row.can_decide = row.status == VolunteerStatus.PENDING
        teams = VolunteerTeam.objects.filter(grid=row.grid).order_by("name")
        return render(request, "mobilization/_volunteer_row.html", {"v": row, "teams": teams, "row_error": error})
    return redirect(back)


@login_required
@require_POST
@domain_errors
def shift_record(request, pk):
    """Record a shift the volunteer served; its hours add up for the volunteer and the team."""
    volunteer = vol.volunteer_get(user=request.user, pk=pk, capability=vol.MANAGE)
    back = reverse("mobilization:volunteers") + "#hours"
    try:
        starts_at, ends_at = (_moment(request.POST.get(name, ""), name) for name in ("starts_at", "ends_at"))
        checkpoint = None
        if request.POST.get("checkpoint", "").isdigit():
            checkpoint = vol.checkpoint_get(user=request.user, pk=int(request.POST["checkpoint"]))
        site = grid_node_get(user=request.user, code=request.POST["site"]) if request.POST.get("site") else None
        household = None
        if request.POST.get("household", "").isdigit():
            household = vol.site_household_get(user=request.user, pk=int(request.POST["household"]))
        shift = vol.shift_record(
            volunteer=volunteer,
            kind=request.POST.get("kind", ""),
            starts_at=starts_at,
            ends_at=ends_at,
            note=request.POST.get("note", ""),
            checkpoint=checkpoint,
            site=site,
            household=household,
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(
        request, _("%(name)s: %(hours)s h recorded.") % {"name": volunteer.name, "hours": round(shift.minutes / 60, 1)}
    )
    if getattr(shift, "tasks_done", 0):
        messages.success(request, _("%(n)s disinfection task(s) completed by this round.") % {"n": shift.tasks_done})
    return redirect(back)


def _moment(value: str, field: str):
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise DomainError("datetime_invalid", _("Give the time as YYYY-MM-DD HH:MM."), field=field) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


@login_required
@domain_errors
def signup_qr(request, code):
    """The community's printable sign-up poster: the QR of its public form."""
    grid = grid_node_get(user=request.user, code=code, capability=vol.MANAGE)
    link = request.build_absolute_uri(reverse("mobilization:signup", args=[vol.signup_token(grid)]))
    qr = mark_safe(segno.make(link, error="m").svg_inline(scale=6, omitsize=True))  # noqa: S308 - segno's own SVG
    teams = VolunteerTeam.objects.filter(grid=grid).order_by("name")
    return render(request, "mobilization/signup_qr.html", {"grid": grid, "link": link, "qr": qr, "teams": teams})


def signup(request, token):
    """The public volunteer sign-up a community's QR opens: no account; lands as pending."""
    grid = vol.signup_grid(token)
    if grid is None:
        raise Http404
    teams = list(VolunteerTeam.objects.filter(grid=grid).order_by("name"))
    error, done, status = None, None, 200
    if request.method == "POST":
        try:
            if not vol.SIGNUP_THROTTLE.allow_request(request):
                raise Throttled(
                    "signup_throttled",
                    gettext_lazy("Too many forms from this device: wait a while, then try again."),
                )
            team_pk = request.POST.get("team", "")
            team = next((t for t in teams if str(t.pk) == team_pk), None)
            done = vol.volunteer_signup(
                grid=grid,
                name=request.POST.get("name", ""),
                phone=request.POST.get("phone", ""),
                skills=request.POST.get("skills", ""),
                availability=request.POST.get("availability", ""),
                team=team,
            )
        except DomainError as exc:
            error, status = exc, exc.status
    return render(
        request,
        "mobilization/signup.html",
        {
            "grid": grid,
            "teams": teams,
            "done": done,
            "error": _bilingual(error) if error else "",
            "error_field": getattr(error, "field", ""),
            "values": request.POST if error else {},
        },
        status=status,
    )


@login_required
@domain_errors
def wishes(request):
    """心愿: the wishes in sight, open and claimed first; a grid member posts one for a household
    and hands it to an approved volunteer, and confirms it done."""
    if request.method == "POST":
        household = people_selectors.household_get(user=request.user, pk=request.POST.get("household", ""))
        wish = vol.wish_post(household=household, text=request.POST.get("text", ""), principal=request.user)
        messages.success(request, _("The wish is posted: %(text)s") % {"text": wish.text})
        return redirect("mobilization:wishes")
    show = request.GET.get("status", "")
    if show not in WishStatus.values and show != "all":
        show = ""
    rows = list(vol.wish_list(user=request.user, status="" if show == "all" else show, open_only=not show)[:300])
    by_community: dict = {}
    for wish in rows:
        wish.can_act = allows(request.user, vol.DO, wish.grid.path)
        if wish.can_act and wish.status == WishStatus.OPEN:
            key = wish.grid.path
            if key not in by_community:
                by_community[key] = list(vol.claimable_volunteers(wish))
            wish.claimable = by_community[key]
    households = []
    if allows(request.user, vol.DO):
        households = Household.objects.restrict(request.user, vol.DO).filter(archived_at__isnull=True)
        q = request.GET.get("q", "").strip()
        if q:
            households = households.filter(address__icontains=q)
        households = households.order_by("address")[:HOUSEHOLD_CHOICES]
    return render(
        request,
        "mobilization/wishes.html",
        {"wishes": rows, "show": show, "statuses": WishStatus, "households": households},
    )


@login_required
@require_POST
@domain_errors
def wish_action(request, pk, action):
    """A wish's buttons: 认领 (for an approved volunteer), 退回, 已完成, 取消 (htmx: the row is
    answered anew, a refusal's reason in it)."""
    if action not in ("claim", "release", "done", "cancel"):
        raise Http404
    wish = vol.wish_get(user=request.user, pk=pk, capability=vol.DO)
    back = reverse("mobilization:wishes")
    error = ""
    try:
        if action == "claim":
            volunteer = vol.claimable_volunteers(wish).filter(pk=_int(request.POST.get("volunteer"))).first()
            if volunteer is None:
                raise DomainError("volunteer_required", _("Choose an approved volunteer."), field="volunteer")
            vol.wish_claim(wish=wish, volunteer=volunteer, principal=request.user)
        elif action == "release":
            vol.wish_release(wish=wish, principal=request.user)
        elif action == "done":
            vol.wish_done(wish=wish, note=request.POST.get("note", ""), principal=request.user)
        else:
            vol.wish_cancel(wish=wish, reason=request.POST.get("reason", ""), principal=request.user)
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        if not request.headers.get("HX-Request"):
            return refused_back(request, exc, back)
        error = exc.render()
    if request.headers.get("HX-Request"):
        row = vol.wish_get(user=request.user, pk=pk)
        row.can_act = True
        row.claimable = list(vol.claimable_volunteers(row)) if row.status == WishStatus.OPEN else []
        return render(request, "mobilization/_wish_row.html", {"w": row, "row_error": error})
    return redirect(back)


def _int(value) -> int | None:
    return int(value) if str(value or "").isdigit() else None


# ---------------------------------------------------------------- the volunteer's own link


@login_required
@domain_errors
def volunteer_link(request, pk):
    """An approved volunteer's personal link, to send them (SMS, WeChat) or let them scan: its QR,
    and a new one (the old stops working)."""
    volunteer = vol.volunteer_get(user=request.user, pk=pk, capability=vol.MANAGE)
    if request.method == "POST":
        try:
            vol.volunteer_link_issue(volunteer=volunteer, principal=request.user)
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            return refused_back(request, exc, reverse("mobilization:volunteers"))
        messages.success(request, _("A new link was made; the old one no longer works."))
        return redirect("mobilization:volunteer_link", pk=volunteer.pk)
    token = vol.volunteer_link_token(volunteer)
    link = qr = None
    if token:
        link = request.build_absolute_uri(reverse("mobilization:volunteer_home", args=[token]))
        qr = mark_safe(segno.make(link, error="m").svg_inline(scale=5, omitsize=True))  # noqa: S308 - segno's own SVG
    return render(request, "mobilization/volunteer_link.html", {"volunteer": volunteer, "link": link, "qr": qr})


def volunteer_home(request, token):
    """The volunteer's own page (no account): the community's open wishes to claim on a phone, and
    the ones they have (with the address, once theirs)."""
    volunteer = vol.volunteer_by_link(token)
    if volunteer is None:
        raise Http404
    return render(
        request,
        "mobilization/volunteer_home.html",
        {"volunteer": volunteer, "token": token, "wishes": list(vol.wishes_for_volunteer(volunteer))},
    )


def volunteer_claim(request, token, pk):
    volunteer = vol.volunteer_by_link(token)
    if volunteer is None:
        raise Http404
    if request.method == "POST":
        wish = vol.Wish.objects.select_related("grid").filter(pk=_int(pk)).first()
        if wish is None:
            raise Http404
        try:
            resident_link_throttle(request)
            vol.wish_claim_by_volunteer(wish=wish, volunteer=volunteer)
        except NotFound:
            raise Http404 from None
        except DomainError as exc:
            messages.error(request, exc.render())
        else:
            messages.success(request, _("The wish is yours: %(text)s") % {"text": wish.text})
    return redirect("mobilization:volunteer_home", token=token)


# ---------------------------------------------------------------- the resident's personal link


def resident_wishes_panel(request, person, token):
    """On the personal-link page: the household's wishes, a form to post one, 感谢 when done."""
    if person.household_id is None:
        return None
    return "mobilization/_resident_wishes.html", {
        "token": token,
        "wishes": list(vol.household_wishes(person.household)),
    }


def resident_wish_post(request, token):
    person = resident_link_person(token)
    if person is None:
        raise Http404
    if request.method == "POST":
        try:
            resident_link_throttle(request)
            vol.wish_post_by_resident(person=person, text=request.POST.get("text", ""))
        except DomainError as exc:
            messages.error(request, exc.render())
        else:
            messages.success(request, _("Your wish was posted: a volunteer will take it."))
    return redirect("resident", token=token)


def resident_wish_thank(request, token, pk):
    person = resident_link_person(token)
    if person is None:
        raise Http404
    if request.method == "POST":
        wish = vol.Wish.objects.filter(pk=pk, household_id=person.household_id).first()
        if wish is None:
            raise Http404
        try:
            resident_link_throttle(request)
            vol.wish_thank(wish=wish, person=person, thanks=request.POST.get("thanks", ""))
        except DomainError as exc:
            messages.error(request, exc.render())
        else:
            messages.success(request, _("Thank you: your thanks reached the volunteer."))
    return redirect("resident", token=token)
