import datetime as dt

import segno
from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.alerts.selectors import alert_list
from epigrid.control.choices import OPEN_ORDER_STATUSES
from epigrid.control.models import ControlOrder, TeamMember
from epigrid.control.selectors import controlled_households_without_full_team, open_order
from epigrid.core import extensions
from epigrid.core.capabilities import Capability
from epigrid.core.confirm import confirm_page, confirmed, consequences
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError, Forbidden, NotFound, RowErrors, Throttled
from epigrid.core.scoping import allows
from epigrid.core.tabular import read_upload
from epigrid.core.views import domain_errors, form_error, refused_back, safe_next
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.selectors import grid_node_get, grid_roots
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Household

from . import ledgers, selectors, services
from .choices import CaseStatus, Conclusion, ReportSource, SampleResult
from .forms import (
    ConsultationForm,
    ResidentTemperatureForm,
    ResultsImportForm,
    SampleForm,
    StaffContactForm,
    TemperatureForm,
    TestListForm,
)
from .models import Case, Sample, TemperatureReport, TestList, TestListEntry


def resident(request, token):
    """The resident's own page: no account, one field, the days left (docs/method.md "5" item 5)."""
    person = services.resident_link_person(token)
    if person is None:
        raise Http404
    form = ResidentTemperatureForm(request.POST or None)
    result = confirm = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.resident_link_throttle(request)
            result = services.resident_report(
                person=person, value=form.cleaned_data["value"], confirmed=form.cleaned_data["confirm"]
            )
        except services.ConfirmationNeeded as exc:
            confirm = exc  # the confirm step: nothing stored yet
        except RowErrors as exc:
            form.add_error("value", exc.rows[0]["message"] if exc.rows else exc.render())
        except Throttled as exc:
            form.add_error(None, exc.render())
            status = exc.status
    order = open_order(person)
    today = timezone.localdate()
    reported_today = TemperatureReport.objects.filter(person=person, local_date=today).order_by("measured_at")
    return render(
        request,
        "health/resident.html",
        {
            "person": person,
            "token": token,
            "form": form,
            "result": result,
            "confirm": confirm,
            "contact": services.resident_contact(person),
            "order": order,
            "days_left": selectors.days_left(order) if order else None,
            "reported_today": reported_today,
            "policy": services.policy(),
            "panels": [p for p in (panel(request, person, token) for panel in extensions.get("resident_panels")) if p],
        },
        status=400 if form.errors and status == 200 else status,
    )


def _monitored(user):
    """People under a monitored order in the user's scope, with today's readings."""
    return (
        ControlOrder.objects.restrict(user)
        .filter(status__in=OPEN_ORDER_STATUSES, kind__in=services.MONITORED_KINDS)
        .select_related("person__household", "grid")
        .order_by("grid__path", "person__household_id", "person_id")
    )


@login_required
def today(request):
    """The grid member's day on one phone screen: slots due and missed, alerts to handle,
    controlled households, tests to sample (docs/method.md "Interfaces")."""
    now = timezone.now()
    pol = services.policy()
    day, current_slot = services.slot_of(now, pol)
    orders = list(_monitored(request.user)[:300])
    person_ids = [o.person_id for o in orders]
    readings, outside = {}, {}
    today_date = timezone.localdate(now)
    for r in TemperatureReport.objects.filter(person_id__in=person_ids, local_date=today_date).order_by("measured_at"):
        if r.slot is None:  # outside every window: shown on the row, counted for no slot
            outside.setdefault(r.person_id, []).append(r)
        else:
            readings.setdefault(r.person_id, {})[r.slot] = r
    slot_times = pol.slot_times
    rows = []
    for order in orders:
        person_readings = readings.get(order.person_id, {})
        slots = []
        for index, time in enumerate(slot_times):
            at = services.slot_moment(today_date, index, pol)
            reading = person_readings.get(index)
            closed = now > at + dt.timedelta(minutes=pol.window_minutes)
            if reading:
                state = "done"
            elif not services.slot_expected(order_starts_at=order.starts_at, day=today_date, slot=index, pol=pol):
                state = "before"  # the order had not started: not asked for, not missed
            else:
                state = "missed" if closed else ("due" if index == current_slot else "later")
            slots.append({"time": time, "state": state, "reading": reading})
        rows.append(
            {
                "order": order,
                "person": order.person,
                "slots": slots,
                "outside": outside.get(order.person_id, []),
                "due": any(s["state"] in ("due", "missed") for s in slots),
            }
        )
    rows.sort(key=lambda r: not r["due"])
    households = (
        Household.objects.restrict(request.user)
        .filter(Exists(ControlOrder.objects.filter(person__household=OuterRef("pk"), status__in=OPEN_ORDER_STATUSES)))
        .select_related("grid")
        .order_by("grid__path", "number")[:100]
    )
    # Only the households listed above: not the city's set on every page view.
    incomplete = set(
        controlled_households_without_full_team().filter(pk__in=[h.pk for h in households]).values_list("pk", flat=True)
    )
    to_sample = (
        TestListEntry.objects.filter(
            test_list__in=TestList.objects.restrict(request.user),
            test_list__test_date__gte=timezone.localdate(now) - dt.timedelta(days=3),
        )
        .filter(person__in=people_selectors.person_list(user=request.user))
        .exclude(Exists(Sample.objects.filter(person=OuterRef("person"), test_list=OuterRef("test_list"))))
        .select_related("person", "test_list")[:100]
    )
    extra_panels = [p for p in (panel(request) for panel in extensions.get("today_panels")) if p is not None]
    return render(
        request,
        "health/today.html",
        {
            "rows": rows,
            "slot_times": slot_times,
            "current_slot": current_slot,
            "day": day,
            "alerts": list(alert_list(user=request.user, mine=True)[:50]),
            "other_alerts": alert_list(user=request.user).exclude(owner=request.user).count(),
            "households": [(h, h.pk in incomplete) for h in households],
            "to_sample": list(to_sample),
            "form": TemperatureForm(),
            "panels": extra_panels,
        },
    )


@login_required
@require_POST
@domain_errors
def temperature_record(request, person_pk):
    person = people_selectors.person_get(user=request.user, pk=person_pk, capability=Capability.RECORD_HEALTH)
    form = TemperatureForm(request.POST)
    if not form.is_valid():
        raise DomainError("temperature_required", _("Enter the temperature."), field="value")
    try:
        result = services.temperature_reports_record(
            readings=[services.Reading(person.pk, form.cleaned_data["value"])],
            source=ReportSource.LIAISON,
            principal=request.user,
        )
    except RowErrors as exc:
        messages.error(request, f"{person.name}: {exc.rows[0]['message']}")
    else:
        if result.fevers:
            messages.warning(request, _("%(name)s has a fever: an alert was raised.") % {"name": person.name})
        else:
            messages.success(request, _("Recorded for %(name)s.") % {"name": person.name})
    return redirect(safe_next(request, "health:today"))


@login_required
@require_POST
@domain_errors
def staff_contact_record(request, person_pk):
    """走访: the caller records their contact with the person (a visit, a phone or video call)."""
    person = people_selectors.person_get(user=request.user, pk=person_pk, capability=Capability.RECORD_HEALTH)
    back = reverse("people:person", args=[person.pk]) + "#contacts"
    form = StaffContactForm(request.POST)
    if not form.is_valid():
        field_name, errors = next(iter(form.errors.items()))
        return refused_back(request, DomainError("contact_invalid", errors[0], field=field_name), back)
    try:
        services.staff_contact_record(
            person=person,
            kind=form.cleaned_data["kind"],
            at=form.cleaned_data["at"],
            note=form.cleaned_data["note"],
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Contact with %(name)s recorded.") % {"name": person.name})
    return redirect(back)


@login_required
@require_POST
@domain_errors
def report_link_issue(request, person_pk):
    person = people_selectors.person_get(user=request.user, pk=person_pk, capability=Capability.RECORD_HEALTH)
    back = reverse("people:person", args=[person.pk])
    # Replacing a link the resident holds cuts them off until they get the new one: asked first.
    if services.resident_link_token(person=person) and not confirmed(request):
        return confirm_page(
            request,
            title=_("Make a new personal link"),
            question=_("Replace the personal report link of %(name)s?") % {"name": person.name},
            consequences=[
                _("The link and QR code %(name)s holds now stop working at once.") % {"name": person.name},
                _("Until you give %(name)s the new link, their reports must be taken by hand.") % {"name": person.name},
            ],
            button=_("Confirm: make a new link"),
            cancel_url=back,
        )
    try:
        services.resident_link_issue(person=person, principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("A new personal link was made; the old one no longer works."))
    return redirect(back)


def _chart(person):
    """The monitoring period's temperatures (the latest order's, else the last 14 days)."""
    now = timezone.now()
    order = ControlOrder.objects.filter(person=person).order_by("-starts_at").first()
    if order is not None and order.starts_at < now:
        since, until = order.starts_at, min(now, order.released_at or order.transferred_at or now)
    else:
        since, until = now - dt.timedelta(days=14), now
    return selectors.temperature_chart(person, since=since, until=until, threshold=services.policy().fever_threshold)


def person_health_panel(request, person):
    path = person.grid.path
    token = (
        services.resident_link_token(person=person) if allows(request.user, Capability.RECORD_HEALTH, path) else None
    )
    link = qr = None
    if token:
        link = request.build_absolute_uri(reverse("resident", args=[token]))
        qr = mark_safe(segno.make(link, error="m").svg_inline(scale=3))  # noqa: S308 - segno's own SVG
    case = Case.objects.filter(person=person).first()
    open_order = ControlOrder.objects.open().filter(person=person).exclude(kind="hospital_isolation").first()
    offer_transfer = (
        case is not None and case.status != "excluded" and allows(request.user, Capability.MANAGE_ORDERS, path)
    )
    return "health/_person_panel.html", {
        "person": person,
        "code": selectors.health_code(person),
        # A positive result offers the transfer to hospital isolation (docs/method.md "5" item 6).
        "offer_transfer": open_order if offer_transfer else None,
        "temperatures": TemperatureReport.objects.filter(person=person).order_by("-measured_at")[:12],
        "chart": _chart(person),
        "samples": Sample.objects.filter(person=person).select_related("test_list").order_by("-sampled_at"),
        "case": case,
        "link": link,
        "qr": qr,
        "can_record": allows(request.user, Capability.RECORD_HEALTH, path),
        "can_confirm": allows(request.user, Capability.CONFIRM_CASES, path),
        "form": TemperatureForm(),
        "consultation_form": ConsultationForm(),
        "contacts": selectors.staff_contact_list(user=request.user, person=person)[:10],
        "contact_form": StaffContactForm(),
    }


def person_summary(request, person):
    """The top of the person file, on one phone screen: the measure in force and its end, the
    days left, the health code and the household's team (一户一专班) with their phones."""
    now = timezone.now()
    order = ControlOrder.objects.open().filter(person=person).order_by("-starts_at").first()
    days_left = None
    if order is not None:
        days_left = max(0, (timezone.localdate(order.ends_at) - timezone.localdate(now)).days)
    team = []
    if person.household_id:
        members = (
            TeamMember.objects.filter(team__household_id=person.household_id, ended_at__isnull=True)
            .select_related("user")
            .order_by("id")
        )
        # Staff work phones: given by the staff member to be called on (as on the resident's page).
        team = [
            {
                "name": str(m.user),
                "role": m.get_role_display(),
                "phone": unseal(m.user.phone_sealed) if m.user.phone_sealed else "",
                "masked": m.user.phone_masked,
            }
            for m in members
        ]
    return "health/_person_summary.html", {
        "person": person,
        "order": order,
        "days_left": days_left,
        "code": selectors.health_code(person),
        "team": team,
    }


@login_required
@domain_errors
def test_lists(request):
    form = TestListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=Capability.MANAGE_TESTS)
        try:
            test_list = services.test_list_create(
                name=form.cleaned_data["name"],
                test_date=form.cleaned_data["test_date"],
                grid=grid,
                persons=selectors.selection(grid=grid, selection=form.cleaned_data["selection"]),
                principal=request.user,
            )
        except DomainError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Test list %(name)s made.") % {"name": test_list.name})
            return redirect("health:test_list", pk=test_list.pk)
    lists = TestList.objects.restrict(request.user).select_related("grid").order_by("-test_date", "-id")[:100]
    return render(
        request,
        "health/test_lists.html",
        {
            "form": form,
            "lists": lists,
            "grids": grid_roots(user=request.user),
            "import_form": ResultsImportForm(),
        },
        status=400 if form.errors else 200,
    )


@login_required
@domain_errors
def test_list(request, pk):
    test_list = selectors.test_list_get(user=request.user, pk=pk)
    visible = people_selectors.person_list(user=request.user)
    entries = (
        TestListEntry.objects.filter(test_list=test_list, person__in=visible)
        .select_related("person")
        .order_by("person__grid__path", "person_id")
    )
    samples = {s.person_id: s for s in Sample.objects.filter(test_list=test_list)}
    return render(
        request,
        "health/test_list.html",
        {
            "test_list": test_list,
            "entries": [(e, samples.get(e.person_id)) for e in entries[:1000]],
            "form": SampleForm(),
            "can_results": allows(request.user, Capability.MANAGE_TESTS, test_list.grid.path),
        },
    )


@login_required
@require_POST
@domain_errors
def result_record(request, pk):
    """A result entered by hand (from the CDC's call or paper), the same service as imports. A
    positive one makes the person a suspected case and alerts the command center: asked first."""
    sample = selectors.sample_get(user=request.user, pk=pk, capability=Capability.MANAGE_TESTS)
    back = (
        reverse("health:test_list", args=[sample.test_list_id])
        if sample.test_list_id
        else reverse("people:person", args=[sample.person_id])
    )
    value = request.POST.get("result", "")
    if value == SampleResult.POSITIVE and sample.result != SampleResult.POSITIVE and not confirmed(request):
        name = sample.person.name
        return confirm_page(
            request,
            title=_("Enter a positive result"),
            question=_("Specimen %(number)s of %(name)s is positive?")
            % {"number": sample.specimen_number, "name": name},
            consequences=[
                _("%(name)s becomes a suspected case; the health code is %(code)s.")
                % {"name": name, "code": selectors.health_code_with(sample.person, "case_suspected").label},
                _("The command center gets an urgent alert, and the experts are to hold a consultation."),
            ],
            button=_("Confirm: positive"),
            cancel_url=back,
        )
    result = services.ResultIn(sample.specimen_number, value, timezone.now(), request.POST.get("lab", ""))
    try:
        services.results_record(results=[result], principal=request.user)
    except RowErrors as exc:
        messages.error(request, exc.rows[0]["message"])
    else:
        messages.success(
            request,
            _("Result entered for %(name)s: %(result)s.")
            % {"name": sample.person.name, "result": SampleResult(value).label},
        )
    return redirect(back)


@login_required
@require_POST
@domain_errors
def sample_create(request, pk, person_pk):
    test_list = selectors.test_list_get(user=request.user, pk=pk)
    person = people_selectors.person_get(user=request.user, pk=person_pk, capability=Capability.RECORD_HEALTH)
    form = SampleForm(request.POST)
    if not form.is_valid():
        raise DomainError("specimen_required", _("Give the specimen number."), field="specimen_number")
    services.sample_record(
        person=person,
        specimen_number=form.cleaned_data["specimen_number"],
        sampled_at=timezone.now(),
        test_list=test_list,
        principal=request.user,
    )
    messages.success(request, _("Sample recorded for %(name)s.") % {"name": person.name})
    return redirect("health:test_list", pk=test_list.pk)


@login_required
@require_POST
@domain_errors
def results_import(request):
    form = ResultsImportForm(request.POST, request.FILES)
    if not form.is_valid():
        raise DomainError("file_required", _("Choose the results file."), field="file")
    upload = form.cleaned_data["file"]
    try:
        job = ledgers.results_import_start(data=read_upload(upload), file_name=upload.name, principal=request.user)
    except RowErrors as exc:
        return render(request, "health/results_rejected.html", {"report": exc}, status=422)
    # The file was read and its rows checked; the job matches the specimens and stores the
    # results (a positive one's cascade with them), and its page shows the counts.
    return redirect(job.get_absolute_url())


@login_required
@require_POST
@domain_errors
def consultation_create(request, case_pk):
    """专家会诊. A confirmation starts the emergency response: the page asks first, saying what
    will follow (core.confirm); a form error shows on the form, with what was typed."""
    case = selectors.case_get(user=request.user, pk=case_pk, capability=Capability.CONFIRM_CASES)
    person = case.person
    form = ConsultationForm(request.POST)
    if form.is_valid():
        confirming = form.cleaned_data["conclusion"] == Conclusion.CONFIRMED
        if confirming and case.status != CaseStatus.CONFIRMED and not confirmed(request):
            return confirm_page(
                request,
                title=_("Confirm the case"),
                question=_("Record the experts' conclusion: %(name)s is a confirmed case?") % {"name": person.name},
                consequences=[
                    _("%(name)s becomes a confirmed case; the health code is %(code)s.")
                    % {"name": person.name, "code": selectors.health_code_with(person, "case_confirmed").label},
                    *consequences("case_confirm", case),
                ],
                button=_("Confirm: confirmed case"),
                cancel_url=reverse("people:person", args=[person.pk]),
            )
        try:
            services.consultation_record(case=case, principal=request.user, **form.cleaned_data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            if confirming:
                messages.success(request, _("Case confirmed: the emergency response has started."))
            else:
                messages.success(request, _("Consultation recorded: not a case."))
            return redirect("people:person", pk=case.person_id)
    return render(request, "health/consultation_form.html", {"form": form, "case": case, "person": person}, status=400)


@login_required
@domain_errors
def ledger_export(request, name):
    node = grid_node_get(user=request.user, code=request.GET.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    out, filename = ledgers.ledger_export(name=name, node=node, principal=request.user)
    return xlsx_response(out, filename)


@login_required
@require_POST
@domain_errors
def ledger_export_job(request, name):
    """Export a ledger in the background (a large subtree): the job's page follows it and offers
    the file when it is written."""
    node = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    job = ledgers.ledger_export_start(name=name, node=node, principal=request.user)
    return redirect(job.get_absolute_url())


@login_required
@domain_errors
def rules(request):
    """The command center's rules, changeable without code: risk areas, control periods, the
    report slots and fever threshold."""
    from epigrid.control import services as control_services
    from epigrid.control.choices import OrderKind, OrderReason
    from epigrid.control.models import ControlRule, RiskArea

    if request.method == "POST":
        what = request.POST.get("what")
        try:
            if what == "risk_area":
                control_services.risk_area_save(
                    code=request.POST.get("code", ""),
                    name=request.POST.get("name", ""),
                    active=request.POST.get("active") != "0",
                    principal=request.user,
                )
            elif what == "rule":
                control_services.control_rule_save(
                    kind=request.POST.get("kind", ""),
                    reason=request.POST.get("reason", ""),
                    days=int(request.POST.get("days") or 0),
                    requires_negative_test=request.POST.get("requires_negative_test") == "on",
                    principal=request.user,
                )
            elif what == "policy":
                services.policy_update(
                    slot_times=request.POST.get("slot_times", "").replace("，", ",").split(","),
                    window_minutes=int(request.POST.get("window_minutes") or 0),
                    fever_threshold=request.POST.get("fever_threshold", ""),
                    principal=request.user,
                )
        except (DomainError, ValueError) as exc:
            if isinstance(exc, NotFound | Forbidden):
                raise  # a refusal of access is a 403/404 page, not a message on the form
            messages.error(request, exc.render() if isinstance(exc, DomainError) else _("Enter whole numbers."))
        else:
            messages.success(request, _("Saved."))
        return redirect("health:rules")
    return render(
        request,
        "health/rules.html",
        {
            "risk_areas": RiskArea.objects.order_by("code"),
            "rules": ControlRule.objects.order_by("kind", "reason"),
            "policy": services.policy(),
            "kinds": OrderKind.choices,
            "reasons": OrderReason.choices,
            "default_days": django_settings.CONTROL_DEFAULT_DAYS,
            "can_edit": allows(request.user, Capability.APPROVE_RELEASE),
            "panels": [p for p in (panel(request) for panel in extensions.get("rules_panels")) if p is not None],
        },
    )
