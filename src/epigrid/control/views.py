import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from epigrid.accounts.models import User
from epigrid.core import lists
from epigrid.core.capabilities import Capability
from epigrid.core.confirm import confirm_page, confirmed, consequences
from epigrid.core.errors import DomainError, NotFound, Throttled
from epigrid.core.rates import AddressThrottle
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors, paginate, safe_next
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_choices, grid_node_get
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Household, Person

from . import selectors, services
from .choices import OPEN_ORDER_STATUSES, REQUIRED_TEAM_ROLES, KeyPersonStatus, OrderKind, OrderStatus
from .forms import OrderForm, PeriodForm, ReleaseForm, SelfRegistrationForm, TeamMemberForm, TipForm, TransferForm
from .models import HouseholdTeam, KeyPerson, RiskArea, TeamMember


def _form_error(form, exc: DomainError):
    form.add_error(exc.field if exc.field in form.fields else None, exc.render())


@login_required
@domain_errors
def tip_create(request):
    """重点人员 intake from a tip, for a household or one person, in under a minute on a phone."""
    household = person = None
    if request.GET.get("household", "").isdigit():
        household = Household.objects.select_related("grid").get_for(
            request.user, Capability.INTAKE, pk=request.GET["household"]
        )
        persons = list(people_selectors.person_list(user=request.user, household_id=household.pk))
    elif request.GET.get("person", "").isdigit():
        person = Person.objects.select_related("grid").get_for(
            request.user, Capability.INTAKE, pk=request.GET["person"]
        )
        persons = [person]
    else:
        raise DomainError("person_required", _("Open the household or the person first, then report the tip."))
    form = TipForm(request.POST or None, initial={"reporter": request.user.full_name or request.user.username})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        new = {k: data.pop(f"new_{k}") for k in ("name", "id_number", "phone")}
        chosen = [p for p in persons if str(p.pk) in request.POST.getlist("persons")]
        # Someone not registered yet comes along: into the household, else the person's grid.
        new_persons = (
            [
                services.NewPerson(
                    name=new["name"],
                    id_number=new["id_number"],
                    phone=new["phone"] or None,
                    household=household,
                    grid=None if household else person.grid,
                )
            ]
            if new["name"] or new["id_number"]
            else []
        )
        try:
            tip = services.tip_record(persons=chosen, new_persons=new_persons, principal=request.user, **data)
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Tip recorded: %(n)s key person(s).") % {"n": tip.key_persons.count()})
            return redirect("control:key_persons")
    return render(
        request,
        "control/tip_form.html",
        {
            "form": form,
            "household": household,
            "person": person,
            "persons": persons,
            "risk_areas": RiskArea.objects.filter(active=True).order_by("code"),
        },
        status=400 if form.errors else 200,
    )


@login_required
@domain_errors
def key_person_list(request):
    status = request.GET.get("status") or ""
    rows = selectors.key_person_list(user=request.user, status=[status] if status else None)
    return render(
        request,
        "control/key_persons.html",
        {
            "page": paginate(request, rows.select_related("tip__risk_area")),
            "status": status,
            "statuses": KeyPersonStatus.choices,
            "metrics": selectors.tip_to_control_by_grid(user=request.user),
        },
    )


@login_required
@require_POST
@domain_errors
def key_person_assess(request, pk):
    key_person = selectors.key_person_get(user=request.user, pk=pk, capability=Capability.INTAKE)
    if request.POST.get("action") == "close":
        services.key_person_close(key_person=key_person, principal=request.user)
        messages.success(request, _("Closed: %(name)s needs no control.") % {"name": key_person.person.name})
    else:
        services.key_person_assess(
            key_person=key_person, assessment=request.POST.get("assessment", ""), principal=request.user
        )
        messages.success(request, _("Assessment saved for %(name)s.") % {"name": key_person.person.name})
    return redirect(safe_next(request, "control:key_persons"))


ORDER_COLUMNS = [
    lists.Column("starts", gettext_lazy("Starts"), ("starts_at",)),
    lists.Column("ends", gettext_lazy("Ends"), ("ends_at",)),
    lists.Column("name", gettext_lazy("Name"), ("person__name_pinyin", "person__name")),
    lists.Column("grid", gettext_lazy("Grid"), ("grid__path", "-starts_at")),
]


@login_required
@domain_errors
def order_list(request):
    """隔离台账: by status (tabs), grid, kind, start date; one search box as on the persons list;
    a sort by column, the total and numbered pages."""
    status = request.GET.get("status", "open")
    statuses = list(OPEN_ORDER_STATUSES) if status == "open" else ([status] if status else None)
    code = request.GET.get("grid", "")
    grid = grid_node_get(user=request.user, code=code) if code else None
    kind = request.GET.get("kind", "")
    rows = selectors.order_list(
        user=request.user,
        status=statuses,
        kind=kind if kind in OrderKind.values else "",
        grid_path=grid.path if grid else "",
    )
    q = request.GET.get("q", "").strip()
    if q:
        people_selectors.search_guard(request.user, q)
        rows = rows.filter(people_selectors.person_search_q(q, prefix="person__"))
    dates, shown = lists.date_range(request, "starts_at")
    sort, order = lists.sort_order(request, ORDER_COLUMNS, default="-starts")
    return render(
        request,
        "control/orders.html",
        {
            "page": lists.numbered_page(request, rows.filter(**dates).order_by(*order)),
            "status": status,
            "status_tabs": OrderStatus.choices,  # tabs, kept by the filters (not their status select)
            "q": q,
            "grid": grid,
            "grids": grid_choices(user=request.user),
            "kind": kind,
            "kinds": OrderKind.choices,
            "dates": shown,
            "sort_links": lists.sort_links(request, ORDER_COLUMNS, sort),
            "filtered": lists.filters_active(request, ("q", "grid", "kind", "from", "to")),
            "keep": [("status", status)],
        },
    )


@login_required
@domain_errors
def order_start(request, person_pk):
    person = Person.objects.select_related("grid", "household").get_for(
        request.user, Capability.MANAGE_ORDERS, pk=person_pk
    )
    form = OrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        whole = data.pop("whole_household")
        try:
            if whole and person.household_id:
                services.control_orders_start_household(household=person.household, principal=request.user, **data)
            else:
                pending = selectors.key_persons_pending(persons=[person]).get(person.pk)
                services.control_order_start(person=person, key_person=pending, principal=request.user, **data)
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Control order started."))
            return redirect("people:person", pk=person.pk)
    return render(
        request,
        "control/order_form.html",
        {"form": form, "person": person, "title": _("Start a control order")},
        status=400 if form.errors else 200,
    )


@login_required
@domain_errors
def order_action(request, pk, action):
    forms = {"period": PeriodForm, "transfer": TransferForm, "release": ReleaseForm}
    if action not in forms:
        raise NotFound("not_found", _("Not found."))
    needed = Capability.APPROVE_RELEASE if action == "release" else Capability.MANAGE_ORDERS
    order = selectors.order_get(user=request.user, pk=pk, capability=needed)
    initial = {"days": order.days} if action == "period" else request.GET.dict()
    form = forms[action](request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # 解除 cannot be taken back: ask first, saying what follows (core.confirm). An early
        # release without its reason goes straight to the service, whose refusal shows on the form.
        may_release = order.status != OrderStatus.ACTIVE or data.get("early_reason", "").strip()
        if action == "release" and may_release and not confirmed(request):
            return _release_confirm(request, order)
        try:
            if action == "period":
                services.control_order_change_period(
                    order=order, days=data["days"], reason_text=data["reason"], principal=request.user
                )
            elif action == "transfer":
                services.control_order_transfer(order=order, principal=request.user, **data)
            else:
                services.control_order_release(order=order, early_reason=data["early_reason"], principal=request.user)
        except DomainError as exc:
            _form_error(form, exc)
        else:
            done = {
                "period": _("Period changed for %(name)s."),
                "transfer": _("%(name)s transferred."),
                "release": _("%(name)s released."),
            }
            messages.success(request, done[action] % {"name": order.person.name})
            return redirect("people:person", pk=order.person_id)
    titles = {
        "period": _("Extend or shorten"),
        "transfer": _("Transfer to another measure"),
        "release": _("Release (解除隔离)"),
    }
    return render(
        request,
        "control/order_form.html",
        {"form": form, "person": order.person, "order": order, "title": titles[action]},
        status=400 if form.errors else 200,
    )


def _release_confirm(request, order):
    person = order.person
    follows = [
        _("%(name)s's %(kind)s ends now; its temperature monitoring stops.")
        % {"name": person.name, "kind": order.get_kind_display()},
        *consequences("order_release", order),
    ]
    return confirm_page(
        request,
        title=_("Release (解除隔离)"),
        question=_("Release %(name)s from %(kind)s?") % {"name": person.name, "kind": order.get_kind_display()},
        consequences=follows,
        button=_("Confirm: release"),
        cancel_url=reverse("people:person", args=[person.pk]),
    )


@login_required
@require_POST
@domain_errors
def team_member_add(request, household_pk):
    household = Household.objects.select_related("grid").get_for(request.user, Capability.MANAGE_TEAMS, pk=household_pk)
    form = TeamMemberForm(request.POST)
    if not form.is_valid():
        raise DomainError("invalid", _("Check the form."))
    user = User.objects.filter(username=form.cleaned_data["username"], is_active=True).first()
    if user is None:
        raise DomainError("user_unknown", _("No active user with this username."), field="username")
    services.team_member_add(household=household, user=user, role=form.cleaned_data["role"], principal=request.user)
    messages.success(request, _("Team member added."))
    return redirect("people:household", pk=household.pk)


@login_required
@require_POST
@domain_errors
def team_member_end(request, pk):
    # A member is in sight through its team (TeamMember has no grid of its own).
    team = HouseholdTeam.objects.get_for(request.user, Capability.MANAGE_TEAMS, members__pk=pk)
    member = team.members.select_related("team__household__grid").get(pk=pk)
    services.team_member_end(member=member, principal=request.user)
    return redirect("people:household", pk=team.household_id)


def household_team_panel(request, household):
    members = list(
        TeamMember.objects.filter(team__household=household, ended_at__isnull=True)
        .select_related("user")
        .order_by("role")
    )
    roles = {m.role for m in members}
    under_control = (
        people_selectors.person_list(user=request.user, household_id=household.pk)
        .filter(control_orders__status__in=OPEN_ORDER_STATUSES)
        .distinct()
    )
    return "control/_team_panel.html", {
        "household": household,
        "members": members,
        "under_control": list(under_control),
        "missing": [r for r in REQUIRED_TEAM_ROLES if r not in roles],
        "form": TeamMemberForm(),
        "can_manage": allows(request.user, Capability.MANAGE_TEAMS, household.grid.path),
        "can_intake": allows(request.user, Capability.INTAKE, household.grid.path),
    }


def person_control_panel(request, person):
    from .models import ControlOrder

    orders = list(ControlOrder.objects.filter(person=person).order_by("-starts_at", "-id"))
    open_order = next((o for o in orders if o.status in OPEN_ORDER_STATUSES), None)
    key_persons = list(
        KeyPerson.objects.filter(person=person).select_related("tip__risk_area").order_by("-tip__reported_at")
    )
    path = person.grid.path
    return "control/_person_panel.html", {
        "person": person,
        "orders": orders,
        "open_order": open_order,
        "key_persons": key_persons,
        "can_orders": allows(request.user, Capability.MANAGE_ORDERS, path),
        "can_release": allows(request.user, Capability.APPROVE_RELEASE, path),
        "can_intake": allows(request.user, Capability.INTAKE, path),
    }


# ---------------------------------------------------------------- self-registration (返乡申报)

# Forms sent from one client address (settings.THROTTLE_RATES["self_registration"]).
SELF_REGISTRATION_THROTTLE = AddressThrottle("self_registration")


def _bilingual(exc: DomainError) -> str:
    """The refusal in Chinese and in English: the public form has no account and no language."""
    zh, en = exc.render("zh-hans"), exc.render("en")
    return zh if zh == en else f"{zh}（{en}）"


@login_required
@domain_errors
def poster(request, code):
    """The compound's 返乡申报 poster (printable): the QR of its public form and how to use it."""
    grid = grid_node_get(user=request.user, code=code, capability=Capability.INTAKE)
    if request.method == "POST":
        services.poster_issue(grid=grid, principal=request.user)
        messages.success(request, _("A new poster was made; the QR of the old one no longer works."))
        return redirect("control:poster", code=grid.code)
    token = services.poster_token(grid=grid)
    link = qr = None
    if token:
        link = request.build_absolute_uri(reverse("control:join", args=[token]))
        qr = mark_safe(segno.make(link, error="m").svg_inline(scale=6, omitsize=True))  # noqa: S308 - segno's own SVG
    return render(request, "control/poster.html", {"grid": grid, "link": link, "qr": qr})


def join(request, token):
    """The public 返乡申报 form a compound's poster QR opens: no account; lands as a tip."""
    grid = services.poster_grid(token)
    if grid is None:
        raise Http404
    form = SelfRegistrationForm(request.POST or None)
    done, status = False, 200
    if request.method == "POST" and form.is_valid():
        try:
            if not SELF_REGISTRATION_THROTTLE.allow_request(request):
                raise Throttled(
                    "self_registration_throttled",
                    # Lazy: rendered in both languages on the page.
                    gettext_lazy("Too many forms from this device: wait a while, then try again."),
                )
            services.self_registration_submit(grid=grid, **form.cleaned_data)
        except Throttled as exc:
            form.add_error(None, _bilingual(exc))
            status = exc.status
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, _bilingual(exc))
        else:
            done = True
    if form.errors and status == 200:
        status = 400
    return render(request, "control/join.html", {"grid": grid, "form": form, "done": done}, status=status)


@login_required
@domain_errors
def self_registration_list(request):
    rows = selectors.self_registrations_to_check(user=request.user)
    # The compounds whose poster the user may print (and make anew).
    compounds = GridNode.objects.restrict(request.user, Capability.INTAKE).filter(level=GridLevel.GRID)
    return render(
        request,
        "control/self_registrations.html",
        {"page": paginate(request, rows), "compounds": compounds.order_by("path")[:50]},
    )


@login_required
@require_POST
@domain_errors
def self_registration_check(request, pk):
    tip = selectors.tip_get(user=request.user, pk=pk, capability=Capability.INTAKE)
    services.self_registration_check(tip=tip, principal=request.user)
    messages.success(request, _("Marked as checked."))
    return redirect("control:self_registrations")


def today_self_registrations_panel(request):
    """On the grid member's day: the self-registrations of their compounds still to check."""
    rows = list(selectors.self_registrations_to_check(user=request.user)[:20])
    if not rows:
        return None
    return "control/_today_panel.html", {"tips": rows}
