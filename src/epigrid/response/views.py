from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.control.choices import OrderKind
from epigrid.core import access, extensions
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, Forbidden
from epigrid.core.scoping import allows
from epigrid.core.uploads import photo_response
from epigrid.core.views import domain_errors, form_error
from epigrid.core.xlsx import xlsx_response
from epigrid.people import selectors as people_selectors
from epigrid.people import services as people_services

from . import ledgers, selectors, services
from .forms import ExposureForm, PlanForm, PlanStepFormSet, PointForm, TaskDoneForm
from .models import EpidemicPoint


@login_required
def incident_list(request):
    return render(
        request,
        "response/list.html",
        {
            "activations": selectors.activations_in(user=request.user)[:100],
            "points": EpidemicPoint.objects.restrict(request.user)
            .select_related("grid")
            .order_by("-declared_at")[:100],
        },
    )


@login_required
@domain_errors
def incident(request, pk):
    activation = selectors.activation_get(user=request.user, pk=pk)
    data = selectors.incident(activation=activation)
    data["contact_orders"] = {OrderKind(kind).label: n for kind, n in data["contact_orders"].items()}
    path = activation.grid.path
    data["tasks"] = list(data["tasks"])
    task_panels = extensions.get("task_panels")
    for task in data["tasks"]:
        task.panels = [p for p in (panel(request, task) for panel in task_panels) if p]
    return render(
        request,
        "response/incident.html",
        {
            **data,
            "task_form": TaskDoneForm(),
            "exposure_form": ExposureForm(cases=data["cases"]),
            "point_form": PointForm(),
            "now": timezone.now(),
            "can_tasks": allows(request.user, Capability.DO_TASKS, path),
            "can_exposures": allows(request.user, Capability.RECORD_EXPOSURES, path),
            "can_release": allows(request.user, Capability.MANAGE_PLANS, path),
            "can_export": allows(request.user, Capability.IMPORT_EXPORT, path),
            "panels": [p for p in (panel(request, activation) for panel in extensions.get("incident_panels")) if p],
        },
    )


@login_required
@require_POST
@domain_errors
def task_done(request, pk):
    task = selectors.task_get(user=request.user, pk=pk, capability=Capability.DO_TASKS)
    form = TaskDoneForm(request.POST, request.FILES)
    if not form.is_valid():
        raise DomainError("invalid", _("Check the form."))
    services.task_complete(
        task=task,
        note=form.cleaned_data["note"],
        count=form.cleaned_data["count"],
        photo=form.cleaned_data["photo"],
        principal=request.user,
    )
    messages.success(request, _("Task done."))
    return redirect("response:incident", pk=task.activation_id)


@login_required
@domain_errors
def task_photo(request, pk):
    """A task's evidence photo, for whoever may see the task (404 for anyone else)."""
    task = selectors.task_get(user=request.user, pk=pk)
    if task.evidence_photo:  # a read of personal data: in the access log
        access.log_read(request, "photo.read", task, task.grid.path)
    return photo_response(task.evidence_photo, download_name=f"evidence-{task.pk}")


@login_required
@require_POST
@domain_errors
def exposure_add(request, pk):
    activation = selectors.activation_get(user=request.user, pk=pk, capability=Capability.RECORD_EXPOSURES)
    cases = selectors.incident(activation=activation)["cases"]
    form = ExposureForm(request.POST, cases=cases)
    if not form.is_valid():
        raise DomainError("invalid", _("Check the form: case, contact and time are required."))
    contact = form.cleaned_data["contact"]
    kind = people_selectors.exact_key_kind(contact)
    if kind:
        # A full ID number or phone confirms who someone is: the exact search (the unmask right,
        # audited as a reveal, throttled), the value taken from this POST body.
        matches = people_services.person_search_exact(principal=request.user, **{kind: contact})[:2]
        if not matches:
            raise DomainError(
                "contact_not_found", _("Nobody in your area has this ID number or phone."), field="contact"
            )
    else:
        matches = list(people_selectors.person_list(user=request.user, q=contact)[:2])
    if len(matches) != 1:
        raise DomainError(
            "contact_ambiguous",
            _("Give the contact's ID number or phone (the name matches %(n)s)."),
            field="contact",
            params={"n": len(matches)},
        )
    source = people_selectors.person_get(user=request.user, pk=form.cleaned_data["source"])
    services.exposure_record(
        source=source,
        contact=matches[0],
        last_exposure_at=form.cleaned_data["last_exposure_at"],
        degree=form.cleaned_data["degree"],
        setting=form.cleaned_data["setting"],
        place=form.cleaned_data["place"],
        principal=request.user,
    )
    messages.success(request, _("Contact recorded; the control order follows."))
    return redirect("response:incident", pk=activation.pk)


@login_required
@require_POST
@domain_errors
def point_action(request, pk, action):
    # Releasing is the command center's (MANAGE_PLANS); recording the times is a task (DO_TASKS).
    needed = Capability.MANAGE_PLANS if action == "release" else Capability.DO_TASKS
    point = selectors.point_get(user=request.user, pk=pk, capability=needed)
    if action == "release":
        services.point_release(point=point, principal=request.user)
        messages.success(request, _("Epidemic point released."))
    else:
        form = PointForm(request.POST)
        if not form.is_valid():
            raise DomainError("invalid", _("Check the times."))
        services.point_update(point=point, principal=request.user, **form.cleaned_data)
    return redirect("response:incident", pk=point.activation_id)


@login_required
@domain_errors
def timeline_export(request, pk):
    """The incident's timeline (every audited step of the response) as .xlsx."""
    activation = selectors.activation_get(user=request.user, pk=pk, capability=Capability.IMPORT_EXPORT)
    out, filename = ledgers.timeline_export(activation=activation, principal=request.user)
    return xlsx_response(out, filename)


@login_required
@domain_errors
def plan(request):
    """The emergency plan and, for who may change it, the editor of a new version: one row per
    step (title, role, deadline, evidence), rows added, removed and reordered."""
    current = services.plan_current()
    can_edit = allows(request.user, Capability.MANAGE_PLANS)
    initial = [
        {
            "title": s.title,
            "responsible_role": s.responsible_role,
            "deadline_hours": s.deadline_hours,
            "evidence": s.evidence,
            "ORDER": i,
        }
        for i, s in enumerate(current.steps.all(), start=1)
    ]
    if request.method == "POST" and not can_edit:
        raise Forbidden("forbidden", _("Your role does not allow this here."))
    data = request.POST if request.method == "POST" else None
    form = PlanForm(data, initial={"name": current.name})
    # A bound editor compares with nothing: every row sent is a step (unchanged rows included).
    steps = PlanStepFormSet(data, initial=None if data is not None else initial, prefix="steps")
    if data is not None and form.is_valid() and steps.is_valid():
        kept = [f for f in steps.ordered_forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        try:
            services.plan_save(
                name=form.cleaned_data["name"],
                steps=[
                    {k: f.cleaned_data[k] for k in ("title", "responsible_role", "deadline_hours", "evidence")}
                    for f in kept
                ],
                principal=request.user,
            )
        except DomainError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("A new version of the plan is in force."))
            return redirect("response:plan")
    return render(
        request,
        "response/plan.html",
        {"plan": current, "form": form, "steps": steps, "can_edit": can_edit},
        status=400 if data is not None else 200,
    )


def today_tasks_panel(request):
    """Emergency tasks on the owner's day: that is how the plan notifies them."""
    from .choices import TaskStatus
    from .models import Task

    tasks = list(
        Task.objects.filter(owner=request.user, status=TaskStatus.OPEN)
        .select_related("activation__grid")
        .order_by("due_at")[:50]
    )
    if not tasks:
        return None
    return "response/_today_panel.html", {"tasks": tasks, "now": timezone.now()}
