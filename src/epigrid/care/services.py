"""Household support (生活保障): recurring services by rule, their occurrences as tasks, overdue
alerts, residents' supply requests. Schedules follow the control state: the order and the emergency
response give a household under home quarantine (or a compound that is an epidemic point) its
default set in their own transaction, and end it after; the sweep only catches up on what was missed."""

import datetime as dt

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment, User
from epigrid.alerts.choices import AlertKind
from epigrid.alerts.services import NewAlert, alerts_raise
from epigrid.control.choices import OPEN_ORDER_STATUSES, OrderKind, TeamRole
from epigrid.control.models import ControlOrder, TeamMember
from epigrid.control.selectors import liaison_for, liaisons_for
from epigrid.core import audit, extensions, outbox
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.extensions import HandoffCheck
from epigrid.core.scoping import SystemPrincipal, authorize, system, user_of
from epigrid.core.uploads import verified_photo
from epigrid.grids.models import GridNode
from epigrid.health.services import RESIDENT_LINK
from epigrid.people.models import Household, Person

from .models import ServiceKind, ServiceSchedule, ServiceTask, SupplyRequest
from .rules import occurrences, parse_rule

# The article's services (docs/method.md "5" item 10): for a household under home quarantine …
HOUSEHOLD_DEFAULTS = [
    (ServiceKind.SHOPPING, "每日 09:00", TeamRole.LIAISON),
    (ServiceKind.CHECKIN, "每日 19:00", TeamRole.MEDICAL),
    (ServiceKind.SUPPLIES, "每周一 10:00", TeamRole.CADRE),
]
# … and for a compound that is an epidemic point: 每日2次消杀, garbage on 周二、四、六.
COMPOUND_DEFAULTS = [
    (ServiceKind.DISINFECTION, "每日 08:00、16:00", Role.GRID_HEAD),
    (ServiceKind.GARBAGE, "每周二、四、六 08:00", Role.GRID_HEAD),
]
OVERDUE_AFTER = dt.timedelta(hours=2)
# Default services follow the control state by the method's rules; the system sets them up (in
# the cascades, for the user who caused it; in the sweep, on its own) and alerts when one is late.
SUPPORT_CAPABILITIES = frozenset({Capability.MANAGE_TEAMS, Capability.HANDLE_ALERTS})
HOUSEHOLD_SUPPORT = SystemPrincipal("system:household-support", SUPPORT_CAPABILITIES)


def _team_owners(household_ids, role: str) -> dict[int, int | None]:
    """Who does a household service, as user ids, for many households in four queries: the
    household team's member of that role, else the liaison of its first current member
    (`liaisons_for`: the team's liaison, else the compound's grid member)."""
    household_ids = set(household_ids)
    owners: dict[int, int | None] = {}
    members = (
        TeamMember.objects.filter(team__household_id__in=household_ids, role=role, ended_at__isnull=True)
        .order_by("id")
        .values_list("team__household_id", "user_id")
    )
    for household_id, user_id in members:
        owners.setdefault(household_id, user_id)
    first_members: dict[int, tuple[int, int, str]] = {}
    rest = Person.objects.current().filter(household_id__in=household_ids - set(owners)).order_by("household_id", "pk")
    for person_id, household_id, path in rest.values_list("pk", "household_id", "grid__path"):
        first_members.setdefault(household_id, (person_id, household_id, path))
    liaisons = liaisons_for(list(first_members.values()))
    for household_id in household_ids - set(owners):
        first = first_members.get(household_id)
        owners[household_id] = liaisons[first[0]] if first else None
    return owners


def _team_owner(household, role: str):
    owner_id = _team_owners([household.pk], role)[household.pk]
    return User.objects.get(pk=owner_id) if owner_id else None


def _grid_owner(grid: GridNode, role: str):
    assignment = GridAssignment.objects.active().filter(node=grid, role=role).select_related("user").first()
    return assignment.user if assignment else None


def schedule_create(
    *, kind: str, rule: str, household=None, grid=None, owner=None, principal, now: dt.datetime | None = None
) -> ServiceSchedule:
    grid = household.grid if household is not None else grid
    authorize(principal, Capability.MANAGE_TEAMS, grid.path)
    if kind not in ServiceKind.values:
        raise DomainError("service_kind", _("Unknown service."), field="kind")
    text = parse_rule(rule).text()
    with transaction.atomic():
        schedule = ServiceSchedule.objects.create(
            household=household,
            grid=grid,
            kind=kind,
            rule=text,
            owner=owner,
            starts_at=now or timezone.now(),
            # Only a schedule set up by hand has a creator; the system's defaults end with their cause.
            created_by=None if isinstance(principal, SystemPrincipal) else principal,
        )
        audit.record_many(principal=principal, entries=[_schedule_entry(schedule)])
    return schedule


def _schedule_entry(schedule) -> audit.AuditEntry:
    """The audit entry of a schedule set up (by hand or by the system)."""
    return audit.AuditEntry(
        "service.schedule",
        "care.serviceschedule",
        str(schedule.pk),
        schedule.grid.path,
        {"kind": [None, schedule.kind], "rule": [None, schedule.rule]},
    )


def schedules_reconcile(*, now: dt.datetime | None = None) -> int:
    """Give controlled households and epidemic-point compounds their default services; end the
    services of those no longer controlled. Only the changes are written.

    The audit rows are appended last, in one step: the audit chain's head is locked from an
    append to the commit, and a row appended per schedule held every audited write in the city
    (gate scans, reports) through all the schedules after it."""
    now = now or timezone.now()
    controlled = Household.objects.filter(
        Exists(
            ControlOrder.objects.filter(
                person__household=OuterRef("pk"), status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
            )
        )
    )
    new = []
    for kind, rule, role in HOUSEHOLD_DEFAULTS:
        text = parse_rule(rule).text()
        missing = list(
            controlled.exclude(
                Exists(ServiceSchedule.objects.filter(household=OuterRef("pk"), kind=kind, ended_at__isnull=True))
            ).select_related("grid")[:5000]
        )
        owners = _team_owners([household.pk for household in missing], role)
        new += [
            ServiceSchedule(
                household=household,
                grid=household.grid,
                kind=kind,
                rule=text,
                owner_id=owners[household.pk],
                starts_at=now,
            )
            for household in missing
        ]
    closed = closed_compounds()
    for kind, rule, role in COMPOUND_DEFAULTS:
        text = parse_rule(rule).text()
        missing = closed.exclude(
            Exists(
                ServiceSchedule.objects.filter(
                    grid=OuterRef("pk"), household__isnull=True, kind=kind, ended_at__isnull=True
                )
            )
        )
        new += [
            ServiceSchedule(grid=grid, kind=kind, rule=text, owner=_grid_owner(grid, role), starts_at=now)
            for grid in missing
        ]
    # The system's defaults have no creator: they end with their cause.
    ServiceSchedule.objects.bulk_create(new)
    ended = ServiceSchedule.objects.filter(ended_at__isnull=True, created_by__isnull=True).filter(
        ~Exists(controlled.filter(pk=OuterRef("household_id"))) & ~Exists(closed.filter(pk=OuterRef("grid_id")))
    )
    ending = _schedules_ending(ended, now=now)
    audit.record_many(
        principal=HOUSEHOLD_SUPPORT,
        entries=[
            *(_schedule_entry(schedule) for schedule in new),
            *_schedule_end_entries(ending),
        ],
    )
    return len(new) + len(ending)


def _schedules_end(schedules, *, principal, now) -> int:
    """End default schedules set-based, with one audit record each."""
    ending = _schedules_ending(schedules, now=now)
    audit.record_many(principal=principal, entries=_schedule_end_entries(ending))
    return len(ending)


def _schedules_ending(schedules, *, now) -> list[ServiceSchedule]:
    """End (at most 20,000 of) `schedules` set-based: the ended ones, for their audit entries."""
    ending = list(schedules.select_related("grid")[:20000])
    if ending:
        ServiceSchedule.objects.filter(pk__in=[s.pk for s in ending]).update(ended_at=now)
    return ending


def _schedule_end_entries(ending) -> list:
    return [
        audit.AuditEntry("service.end", "care.serviceschedule", str(s.pk), s.grid.path, {"kind": [s.kind, None]})
        for s in ending
    ]


def service_tasks_materialize(*, now: dt.datetime | None = None, hours: int = 24, schedules=None) -> int:
    """The occurrences of the next `hours` as tasks (reruns add nothing: unique per schedule+time)."""
    now = now or timezone.now()
    end = now + dt.timedelta(hours=hours)
    tasks = []
    schedules = ServiceSchedule.objects.all() if schedules is None else schedules
    for schedule in schedules.filter(ended_at__isnull=True).iterator(chunk_size=2000):
        for moment in occurrences(parse_rule(schedule.rule), max(now - OVERDUE_AFTER, schedule.starts_at), end):
            tasks.append(
                ServiceTask(
                    schedule=schedule,
                    grid_id=schedule.grid_id,
                    household_id=schedule.household_id,
                    due_at=moment,
                    owner_id=schedule.owner_id,
                )
            )
    ServiceTask.objects.bulk_create(tasks, batch_size=5000, ignore_conflicts=True)
    return len(tasks)


# ---------------------------------------------------------------- cascades


def _household_defaults(household: Household, principal, now) -> list[ServiceSchedule]:
    have = set(
        ServiceSchedule.objects.filter(household=household, ended_at__isnull=True).values_list("kind", flat=True)
    )
    return [
        schedule_create(
            kind=kind, rule=rule, household=household, owner=_team_owner(household, role), principal=principal, now=now
        )
        for kind, rule, role in HOUSEHOLD_DEFAULTS
        if kind not in have
    ]


def _materialize_soon(*, grid_path: str, key: str, schedule_ids: list[int], principal) -> None:
    """The next day's occurrences are written by a worker after commit (the outbox), not in the
    request: a compound's schedules can make many rows."""
    if schedule_ids:
        outbox.enqueue(
            topic="care.materialize",
            key=key,
            payload={"schedules": schedule_ids},
            principal=principal,
            grid_path=grid_path,
        )


def materialize_handoff(payload: dict, principal) -> None:
    service_tasks_materialize(schedules=ServiceSchedule.objects.filter(pk__in=payload["schedules"]))


materialize_handoff.capabilities = SUPPORT_CAPABILITIES
OUTBOX_MATERIALIZE = ("care.materialize", materialize_handoff)


def support_on_order_started(*, order, cause) -> None:
    """ "order_started": a household under home quarantine gets its default services at once
    (shopping, check-in, supplies), as the system for whoever started the order."""
    household = order.person.household
    if order.kind != OrderKind.HOME_QUARANTINE or household is None:
        return
    principal = system("system:household-support", SUPPORT_CAPABILITIES, cause=cause)
    now = timezone.now()
    created = _household_defaults(household, principal, now)
    _materialize_soon(
        grid_path=household.grid.path,
        key=f"household:{household.pk}:{now.isoformat()}",
        schedule_ids=[c.pk for c in created],
        principal=principal,
    )


def support_on_order_ended(*, order, cause) -> None:
    """ "order_ended": when no member is under home quarantine any more, the household's default
    services end (services set up by hand stay)."""
    household = order.person.household
    if household is None:
        return
    still = ControlOrder.objects.filter(
        person__household=household, status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
    )
    if not still.exists():
        _schedules_end(
            ServiceSchedule.objects.filter(household=household, ended_at__isnull=True, created_by__isnull=True),
            principal=system("system:household-support", SUPPORT_CAPABILITIES, cause=cause),
            now=timezone.now(),
        )


def closed_compounds():
    """The compounds under closed management, as the emergency response says ("closed_compounds")."""
    closed = Q(pk__in=[])
    for compounds in extensions.get("closed_compounds"):
        closed |= Q(pk__in=compounds().values("pk"))
    return GridNode.objects.filter(closed)


def _compound_defaults(grid, principal, now) -> None:
    """A compound under closed management gets disinfection twice a day and garbage collection."""
    have = set(
        ServiceSchedule.objects.filter(grid=grid, household__isnull=True, ended_at__isnull=True).values_list(
            "kind", flat=True
        )
    )
    created = [
        schedule_create(kind=kind, rule=rule, grid=grid, owner=_grid_owner(grid, role), principal=principal, now=now)
        for kind, rule, role in COMPOUND_DEFAULTS
        if kind not in have
    ]
    _materialize_soon(
        grid_path=grid.path,
        key=f"compound:{grid.pk}:{now.isoformat()}",
        schedule_ids=[c.pk for c in created],
        principal=principal,
    )


def support_on_case_confirmed(*, case, cause) -> None:
    """ "case_confirmed" (after the emergency response closed the case's compound): the compound
    gets its services."""
    principal = system("system:household-support", SUPPORT_CAPABILITIES, cause=cause)
    now = timezone.now()
    for grid in closed_compounds().filter(path__in=case.grid.lineage_paths):
        _compound_defaults(grid, principal, now)


def support_on_compound_reopened(*, grid, cause) -> None:
    """ "compound_reopened": the compound's default services end with its closed management."""
    if not closed_compounds().filter(pk=grid.pk).exists():
        _schedules_end(
            ServiceSchedule.objects.filter(
                grid=grid, household__isnull=True, ended_at__isnull=True, created_by__isnull=True
            ),
            principal=system("system:household-support", SUPPORT_CAPABILITIES, cause=cause),
            now=timezone.now(),
        )


def compounds_without_support():
    """Compounds under closed management missing a default service (reconcile)."""
    missing = Q()
    for kind, _rule, _role in COMPOUND_DEFAULTS:
        missing |= ~Exists(
            ServiceSchedule.objects.filter(
                grid=OuterRef("pk"), household__isnull=True, kind=kind, ended_at__isnull=True
            )
        )
    return closed_compounds().filter(missing)


MISSING_COMPOUND_SUPPORT = HandoffCheck(
    "compound_support_missing",
    _("Compound under closed management without its disinfection and garbage services"),
    compounds_without_support,
    lambda grid, principal: _compound_defaults(grid, principal, timezone.now()),
    lambda grid: reverse("oversight:node", args=[grid.code]),
)


def households_without_support():
    """Households under home quarantine missing a default service (reconcile)."""
    controlled = Household.objects.filter(
        Exists(
            ControlOrder.objects.filter(
                person__household=OuterRef("pk"), status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
            )
        )
    )
    missing = Q()
    for kind, _rule, _role in HOUSEHOLD_DEFAULTS:
        missing |= ~Exists(ServiceSchedule.objects.filter(household=OuterRef("pk"), kind=kind, ended_at__isnull=True))
    return controlled.filter(missing)


MISSING_SUPPORT = HandoffCheck(
    "household_support_missing",
    _("Household under home quarantine without its support services"),
    households_without_support,
    lambda household, principal: _household_defaults(household, principal, timezone.now()),
    lambda household: reverse("people:household", args=[household.pk]),
)


def service_overdue_alerts(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    late = ServiceTask.objects.filter(done_at__isnull=True, due_at__lt=now - OVERDUE_AFTER).select_related(
        "grid", "schedule"
    )[:5000]
    return len(
        alerts_raise(
            principal=HOUSEHOLD_SUPPORT,
            now=now,
            alerts=[
                NewAlert(
                    kind=AlertKind.SERVICE_OVERDUE,
                    dedup_key=f"service:{t.pk}",
                    grid_id=t.grid_id,
                    grid_path=t.grid.path,
                    owner_id=t.owner_id,
                    detail={
                        "service": t.schedule.get_kind_display(),
                        "due_at": t.due_at.isoformat(),
                        "household_id": t.household_id,
                    },
                )
                for t in late
            ],
        )
    )


def service_task_complete(*, task: ServiceTask, note: str = "", photo=None, principal) -> ServiceTask:
    authorize(principal, Capability.DO_TASKS, task.grid.path)
    photo = verified_photo(photo) if photo else None  # an image, re-encoded, a random name (400 if not)
    with transaction.atomic():
        locked = ServiceTask.objects.select_for_update().get(pk=task.pk)
        if locked.done_at:
            return locked
        locked.done_at, locked.done_by, locked.note = timezone.now(), user_of(principal), (note or "").strip()[:300]
        if photo:
            locked.photo = photo
        locked.save()
        audit.record(
            principal=principal,
            action="service.done",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"service": [None, locked.schedule.kind], "household": [None, locked.household_id]},
        )
    return locked


# A disinfection round answers the tasks due from shortly before it started to shortly after it
# ended (每日 08:00、16:00: a round from 07:30 to 08:30 is the 08:00 one), never an older miss.
ROUND_ANSWERS = dt.timedelta(hours=2)
DISINFECTION_ROUND = frozenset({Capability.DO_TASKS})


def disinfection_tasks_on_round(*, grid, household, starts_at, ends_at, note: str = "", cause) -> int:
    """ "disinfection_done" (a volunteer's 消杀 shift recorded done): the open disinfection tasks of
    that compound (or household) due around the round are completed, as the system for whoever
    recorded it. Answers how many."""
    principal = system("system:disinfection-round", DISINFECTION_ROUND, cause=cause)
    tasks = ServiceTask.objects.filter(
        schedule__kind=ServiceKind.DISINFECTION,
        done_at__isnull=True,
        due_at__gte=starts_at - ROUND_ANSWERS,
        due_at__lte=ends_at + ROUND_ANSWERS,
    ).select_related("grid", "schedule")
    tasks = tasks.filter(household=household) if household is not None else tasks.filter(grid=grid, household=None)
    done = 0
    for task in tasks.order_by("due_at"):
        service_task_complete(task=task, note=note, principal=principal)
        done += 1
    return done


def supply_request_create(*, person: Person, text: str) -> SupplyRequest:
    """From the resident's own link: lands with their liaison."""
    text = (text or "").strip()
    if not text:
        raise DomainError("request_required", _("Write what you need."), field="text")
    with transaction.atomic():
        request = SupplyRequest.objects.create(
            person=person, grid=person.grid, text=text[:300], owner=liaison_for(person)
        )
        audit.record(
            principal=RESIDENT_LINK,
            action="supply_request.create",
            obj=person,
            grid_path=person.grid.path,
            changes={"request": [None, request.pk]},
        )
    return request


def supply_request_done(*, request: SupplyRequest, note: str, principal) -> SupplyRequest:
    authorize(principal, Capability.DO_TASKS, request.grid.path)
    with transaction.atomic():
        locked = SupplyRequest.objects.select_for_update().get(pk=request.pk)
        if locked.done_at:
            return locked
        locked.done_at, locked.done_by, locked.note = timezone.now(), user_of(principal), (note or "").strip()[:300]
        locked.save()
        audit.record(
            principal=principal,
            action="supply_request.done",
            object_type="people.person",
            object_id=str(locked.person_id),
            grid_path=locked.grid.path,
            changes={"request": [None, locked.pk]},
        )
    return locked


SCHEDULES_SWEEP = ("service_schedules", schedules_reconcile)
SERVICE_TASKS_SWEEP = ("service_tasks", service_tasks_materialize)
SERVICE_OVERDUE_SWEEP = ("service_overdue_alerts", service_overdue_alerts)


def consequences(action: str, obj) -> list[str]:
    """ "consequences": what this app's cascade adds, for the confirm step (reads only)."""
    if action == "case_confirm":
        compound = obj.grid.compound() or obj.grid
        if closed_compounds().filter(pk=compound.pk).exists():
            return []  # already closed: its services run already
        return [
            _("%(compound)s gets its services: disinfection twice a day, garbage collection three times a week.")
            % {"compound": compound.label}
        ]
    if action == "order_release":
        household = obj.person.household
        if household is None or obj.kind != OrderKind.HOME_QUARANTINE:
            return []
        others = ControlOrder.objects.filter(
            person__household=household, status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
        ).exclude(pk=obj.pk)
        if others.exists():
            return []
        running = ServiceSchedule.objects.filter(household=household, ended_at__isnull=True, created_by__isnull=True)
        if not running.exists():
            return []
        return [_("The household's default services (shopping, check-in calls, supplies) end.")]
    return []
