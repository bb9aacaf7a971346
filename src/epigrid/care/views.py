import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core import access
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.uploads import photo_response
from epigrid.core.views import domain_errors, safe_next
from epigrid.health.services import resident_link_person, resident_link_throttle

from . import services
from .models import ServiceSchedule, ServiceTask, SupplyRequest


def household_services_panel(request, household):
    schedules = list(ServiceSchedule.objects.filter(household=household, ended_at__isnull=True))
    compound = list(
        ServiceSchedule.objects.filter(
            grid__path=household.grid.compound_path, household__isnull=True, ended_at__isnull=True
        )
    )
    tasks = list(
        ServiceTask.objects.filter(household=household).select_related("schedule", "done_by").order_by("-due_at")[:30]
    )
    if not (schedules or compound or tasks):
        return None
    return "care/_household_panel.html", {"schedules": schedules + compound, "tasks": tasks, "now": timezone.now()}


def person_services_panel(request, person):
    """The person file shows the services their household received."""
    return household_services_panel(request, person.household) if person.household_id else None


def today_services_panel(request):
    now = timezone.now()
    tasks = list(
        ServiceTask.objects.filter(owner=request.user, done_at__isnull=True, due_at__lt=now + dt.timedelta(hours=12))
        .select_related("schedule", "household", "grid")
        .order_by("due_at")[:50]
    )
    requests = list(
        SupplyRequest.objects.filter(owner=request.user, done_at__isnull=True)
        .select_related("person")
        .order_by("created_at")[:50]
    )
    if not (tasks or requests):
        return None
    return "care/_today_panel.html", {"tasks": tasks, "requests": requests, "now": now}


@login_required
@require_POST
@domain_errors
def task_done(request, pk):
    task = ServiceTask.objects.get_for(request.user, Capability.DO_TASKS, pk=pk)
    services.service_task_complete(
        task=task, note=request.POST.get("note", ""), photo=request.FILES.get("photo"), principal=request.user
    )
    messages.success(request, _("Service recorded."))
    return redirect(safe_next(request, "health:today"))


@login_required
@domain_errors
def task_photo(request, pk):
    """A service's photo, for whoever may see the service (404 for anyone else)."""
    task = ServiceTask.objects.select_related("grid").get_for(request.user, pk=pk)
    if task.photo:  # a read of personal data: in the access log
        access.log_read(request, "photo.read", task, task.grid.path)
    return photo_response(task.photo, download_name=f"service-{task.pk}")


@login_required
@require_POST
@domain_errors
def request_done(request, pk):
    supply = SupplyRequest.objects.get_for(request.user, Capability.DO_TASKS, pk=pk)
    services.supply_request_done(request=supply, note=request.POST.get("note", ""), principal=request.user)
    messages.success(request, _("Request marked as handled."))
    return redirect(safe_next(request, "health:today"))


def resident_request(request, token):
    """The resident asks for supplies or help from their own link."""
    person = resident_link_person(token)
    if person is None:
        raise Http404
    if request.method == "POST":
        try:
            resident_link_throttle(request)  # one count per link with the temperature reports
            services.supply_request_create(person=person, text=request.POST.get("text", ""))
        except DomainError as exc:
            messages.error(request, exc.render())
        else:
            messages.success(request, _("Your request was sent to your grid member."))
    return redirect("resident", token=token)
