"""The emergency response (docs/method.md "5" items 7–8): plans, their activation when a case is confirmed,
tasks, close contacts and their orders, epidemic points and their release."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, Max, OuterRef, Q
from django.db.models.functions import Length, Substr
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.alerts.choices import AlertKind, EscalationLevel
from epigrid.alerts.services import NewAlert, alerts_raise
from epigrid.control import services as control
from epigrid.control.choices import OPEN_ORDER_STATUSES, SITE_KINDS, OrderKind, OrderReason, OrderStatus
from epigrid.control.models import ControlOrder
from epigrid.core import audit, extensions
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.extensions import HandoffCheck
from epigrid.core.scoping import VIEW, SystemPrincipal, authorize, system, user_of
from epigrid.core.transitions import move
from epigrid.core.uploads import verified_photo
from epigrid.grids.models import GridNode, within
from epigrid.health.choices import CaseStatus
from epigrid.health.models import Case
from epigrid.people.models import Household

from .choices import ActivationStatus, Evidence, ExposureDegree, PointStatus, TaskStatus
from .models import Activation, EpidemicPoint, Exposure, PlanStep, PlanTemplate, PointOrder, Task

# The system principals of the emergency response: each cascade runs as one, with the
# capabilities it is declared to need, for the user whose action set it off.
ACTIVATION_CAPABILITIES = frozenset(
    {Capability.MANAGE_PLANS, Capability.MANAGE_ORDERS, Capability.DO_TASKS, Capability.HANDLE_ALERTS}
)
POINT_RELEASE_CAPABILITIES = frozenset({Capability.MANAGE_ORDERS, Capability.APPROVE_RELEASE, Capability.MANAGE_PLANS})
CONTACT_TRACING_CAPABILITIES = frozenset({Capability.MANAGE_ORDERS})
TASK_WATCH = SystemPrincipal("system:task-watch", {Capability.HANDLE_ALERTS})
POINT_WATCH = SystemPrincipal("system:point-watch", {Capability.MANAGE_PLANS})

# The article's plan (docs/method.md "5" item 7): title, role, hours after activation, evidence.
DEFAULT_PLAN_NAME = "疫情防控应急预案"
DEFAULT_STEPS = [
    ("成立工作专班", Role.COMMANDER, 1, Evidence.NOTE),
    ("负压救护车转运患者至定点医院", Role.COMMUNITY_SECRETARY, 2, Evidence.NOTE),
    ("追踪密切接触者并送集中隔离点", Role.COMMUNITY_STAFF, 6, Evidence.COUNT),
    ("住所及院落终末消杀", Role.GRID_HEAD, 12, Evidence.PHOTO),
    ("张贴告知书", Role.GRID_MEMBER, 3, Evidence.PHOTO),
    ("院落封闭管理(只留一个出入口并设检查点)", Role.COMMUNITY_SECRETARY, 4, Evidence.NOTE),
    ("院内居家隔离户生活保障", Role.GRID_MEMBER, 24, Evidence.NOTE),
    ("医疗网格心理疏导与健康防护", Role.MEDICAL_LIAISON, 24, Evidence.NOTE),
    ("每日报告", Role.GRID_HEAD, 24, Evidence.NOTE),
]


# ---------------------------------------------------------------- plans


def plan_current() -> PlanTemplate:
    plan = PlanTemplate.objects.filter(is_current=True).first()
    if plan is None:
        with transaction.atomic():
            plan = PlanTemplate.objects.create(name=DEFAULT_PLAN_NAME, version=1, is_current=True)
            PlanStep.objects.bulk_create(
                [
                    PlanStep(plan=plan, position=i, title=t, responsible_role=r, deadline_hours=h, evidence=e)
                    for i, (t, r, h, e) in enumerate(DEFAULT_STEPS, start=1)
                ]
            )
    return plan


def plan_save(*, name: str, steps: list[dict], principal) -> PlanTemplate:
    """A new version of the plan; activations keep the version they started with."""
    authorize(principal, Capability.MANAGE_PLANS)
    if not (name or "").strip() or not steps:
        raise DomainError("plan_invalid", _("A plan needs a name and at least one step."))
    for step in steps:
        if step.get("responsible_role") not in Role.values or step.get("evidence", "note") not in Evidence.values:
            raise DomainError("plan_step_invalid", _("Each step needs a known role and kind of evidence."))
        if not (step.get("title") or "").strip() or not 0 < int(step.get("deadline_hours", 0)) <= 24 * 30:
            raise DomainError("plan_step_invalid", _("Each step needs a title and a deadline of 1–720 hours."))
    with transaction.atomic():
        current = PlanTemplate.objects.select_for_update().filter(is_current=True).first()
        version = (PlanTemplate.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        if current:
            current.is_current = False
            current.save(update_fields=["is_current"])
        plan = PlanTemplate.objects.create(
            name=name.strip()[:100], version=version, is_current=True, created_by=principal
        )
        PlanStep.objects.bulk_create(
            [
                PlanStep(
                    plan=plan,
                    position=i,
                    title=s["title"].strip()[:100],
                    responsible_role=s["responsible_role"],
                    deadline_hours=int(s["deadline_hours"]),
                    evidence=s.get("evidence", Evidence.NOTE),
                )
                for i, s in enumerate(steps, start=1)
            ]
        )
        audit.record(
            principal=principal,
            action="plan.save",
            obj=plan,
            changes={"version": [None, version], "steps": [None, len(steps)]},
        )
    return plan


# ---------------------------------------------------------------- activation


def compound_of(grid: GridNode) -> GridNode:
    """The compound (楼院网格) a grid node belongs to: where the plan is activated (a node above
    the compound level is its own unit)."""
    return grid.compound() or grid


def _owner(role: str, compound: GridNode):
    """The holder of `role` nearest above (or at) the compound."""
    paths = compound.lineage_paths
    assignment = (
        GridAssignment.objects.active()
        .filter(role=role, node__path__in=paths)
        .select_related("user", "node")
        .order_by("-node__depth", "id")
        .first()
    )
    return assignment.user if assignment else None


def plan_activate_for_case(*, case: Case, principal, at: dt.datetime | None = None) -> Activation:
    """Confirmation activates the plan for the case's compound, once: a second case there joins the
    same activation. Creates the tasks (owners from the grid assignments) and the epidemic point
    (whose closed management suspends the compound's exits at the gates), and upgrades the orders
    of the case's contacts. Runs as `system:activation` inside the confirming transaction."""
    authorize(principal, Capability.MANAGE_PLANS, case.grid.path)
    case = Case.objects.select_related("grid", "person").get(pk=case.pk)
    if case.status != CaseStatus.CONFIRMED:
        raise DomainError("case_not_confirmed", _("Only a confirmed case activates the emergency plan."))
    at = at or case.confirmed_at or timezone.now()
    compound = compound_of(case.grid)
    with transaction.atomic():
        # Serialise activations per compound: two confirmations at the same moment make one.
        GridNode.objects.select_for_update().filter(pk=compound.pk).first()
        activation = Activation.objects.filter(grid=compound, closed_at__isnull=True).first()
        created = activation is None
        if created:
            plan = plan_current()
            activation = Activation.objects.create(
                grid=compound, plan=plan, activated_at=at, activated_by=user_of(principal)
            )
            steps = list(plan.steps.all())
            Task.objects.bulk_create(
                [
                    Task(
                        activation=activation,
                        step=s,
                        grid=compound,
                        title=s.title,
                        owner=_owner(s.responsible_role, compound),
                        due_at=at + dt.timedelta(hours=s.deadline_hours),
                    )
                    for s in steps
                ]
            )
            EpidemicPoint.objects.create(grid=compound, activation=activation, declared_at=at)
            audit.record(
                principal=principal,
                action="plan.activate",
                obj=activation,
                grid_path=compound.path,
                changes={"plan": [None, str(plan)], "tasks": [None, len(steps)]},
            )
        if not activation.cases.filter(pk=case.pk).exists():
            activation.cases.add(case)
            audit.record(
                principal=principal,
                action="plan.add_case",
                object_type="people.person",
                object_id=str(case.person_id),
                grid_path=case.grid.path,
                changes={"activation": [None, activation.pk]},
            )
            point = activation.points.exclude(status=PointStatus.RELEASED).first()
            if point is not None and not created:
                # A new case: any proposal falls and the clock restarts when this case leaves.
                if point.status != PointStatus.CLOSED:
                    move(point, PointStatus.CLOSED, principal=principal)
                EpidemicPoint.objects.filter(pk=point.pk).update(proposed_release_at=None, last_case_left_at=None)
        for exposure in Exposure.objects.filter(source=case.person).select_related("contact__grid"):
            _apply_contact_orders(contact=exposure.contact, principal=principal)
    return activation


def activation_on_case_confirmed(*, case: Case, cause) -> Activation:
    """ "case_confirmed": the plan starts by itself, as the system, for the confirming user."""
    return plan_activate_for_case(
        case=case, principal=system("system:activation", ACTIVATION_CAPABILITIES, cause=cause)
    )


def activations_missing():
    """Confirmed cases that are in no activation: a hand-off that did not happen (reconcile)."""
    return Case.objects.filter(status=CaseStatus.CONFIRMED).exclude(
        Exists(Activation.objects.filter(cases=OuterRef("pk")))
    )


def points_released_unfinished():
    """Released epidemic points whose release did not finish (reconcile): tied orders still open,
    or the activation still in force with none of its points under closed management."""
    orders_open = Exists(PointOrder.objects.filter(point=OuterRef("pk"), order__status__in=OPEN_ORDER_STATUSES))
    activation_open = Q(activation__status=ActivationStatus.ACTIVE) & ~Exists(
        EpidemicPoint.objects.filter(activation=OuterRef("activation")).exclude(status=PointStatus.RELEASED)
    )
    return EpidemicPoint.objects.filter(status=PointStatus.RELEASED).filter(orders_open | activation_open)


def _end_point_orders(point: EpidemicPoint, principal) -> None:
    at = point.released_at or timezone.now()
    for link in PointOrder.objects.filter(point=point, order__status__in=OPEN_ORDER_STATUSES).select_related("order"):
        order = link.order
        control.control_order_release(
            order=order,
            principal=principal,
            at=at,
            early_reason="" if order.status == OrderStatus.RELEASE_PROPOSED else str(_("Epidemic point released")),
        )


def closed_compounds():
    """ "closed_compounds": the grids of the epidemic points under closed management."""
    return GridNode.objects.filter(
        Exists(EpidemicPoint.objects.filter(grid=OuterRef("pk")).exclude(status=PointStatus.RELEASED))
    )


def _release_followups(point: EpidemicPoint, principal) -> None:
    """What a point's release brings, as the system: its orders end, what other apps tied to the
    closed compound ends ("compound_reopened"), and the activation closes once none of its points
    is under closed management."""
    _end_point_orders(point, principal)
    extensions.run("compound_reopened", grid=point.grid, cause=principal)
    activation = point.activation
    if (
        activation.status != ActivationStatus.CLOSED
        and not activation.points.exclude(status=PointStatus.RELEASED).exists()
    ):
        move(activation, ActivationStatus.CLOSED, principal=principal, at=point.released_at)


MISSING_ACTIVATION = HandoffCheck(
    "activation_missing",
    _("Confirmed case without its emergency response"),
    activations_missing,
    # The whole confirmation cascade, as on confirmation (the plan, and what other apps add).
    lambda case, principal: extensions.run("case_confirmed", case=case, cause=principal),
    lambda case: reverse("people:person", args=[case.person_id]),
)
UNFINISHED_RELEASE = HandoffCheck(
    "point_release_unfinished",
    _("Released epidemic point whose orders or emergency response are still in force"),
    points_released_unfinished,
    lambda point, principal: _release_followups(
        point, system("system:point-release", POINT_RELEASE_CAPABILITIES, cause=principal)
    ),
    lambda point: reverse("response:incident", args=[point.activation_id]),
)


def task_complete(*, task: Task, note: str = "", count: int | None = None, photo=None, principal) -> Task:
    authorize(principal, Capability.DO_TASKS, task.grid.path)
    evidence = task.step.evidence
    if evidence == Evidence.COUNT and count is None:
        raise DomainError("evidence_count", _("This step needs a count."), field="count")
    if evidence == Evidence.PHOTO and not photo:
        raise DomainError("evidence_photo", _("This step needs a photo."), field="photo")
    if evidence == Evidence.NOTE and not (note or "").strip():
        raise DomainError("evidence_note", _("Write what was done."), field="note")
    fields = {"done_by": user_of(principal), "evidence_note": (note or "").strip()[:500], "evidence_count": count}
    if photo:
        fields["evidence_photo"] = verified_photo(photo)  # an image, re-encoded, a random name (400 if not)
    with transaction.atomic():
        return move(task, TaskStatus.DONE, principal=principal, fields=fields)


def tasks_overdue_alerts(*, now: dt.datetime | None = None) -> int:
    """Open tasks past their deadline raise an alert to their owner (escalating like the health
    alerts)."""
    now = now or timezone.now()
    overdue = Task.objects.filter(status=TaskStatus.OPEN, due_at__lt=now).select_related("grid")[:5000]
    return len(
        alerts_raise(
            principal=TASK_WATCH,
            now=now,
            alerts=[
                NewAlert(
                    kind=AlertKind.TASK_OVERDUE,
                    dedup_key=f"task:{t.pk}",
                    grid_id=t.grid_id,
                    grid_path=t.grid.path,
                    owner_id=t.owner_id,
                    level=EscalationLevel.LIAISON,
                    detail={"task": t.title, "task_id": t.pk},
                )
                for t in overdue
            ],
        )
    )


# ---------------------------------------------------------------- close contacts


def exposure_record(
    *,
    source,
    contact,
    last_exposure_at: dt.datetime,
    degree: str = ExposureDegree.CLOSE,
    place: str = "",
    setting: str = "other",
    starts_at: dt.datetime | None = None,
    principal,
) -> Exposure:
    """Record a contact; the orders that follow start at `starts_at` (when the measure took
    effect, default now)."""
    authorize(principal, Capability.RECORD_EXPOSURES, contact.grid.path)
    authorize(principal, VIEW, source.grid.path)
    if source.pk == contact.pk:
        raise DomainError("exposure_self", _("A person is not their own contact."), field="contact")
    if degree not in ExposureDegree.values:
        raise DomainError("degree_invalid", _("Close or secondary contact."), field="degree")
    if last_exposure_at > timezone.now() + dt.timedelta(minutes=5):
        raise DomainError("exposure_future", _("The exposure time is in the future."), field="last_exposure_at")
    with transaction.atomic():
        exposure, created = Exposure.objects.get_or_create(
            source=source,
            contact=contact,
            last_exposure_at=last_exposure_at,
            defaults={
                "grid": contact.grid,
                "degree": degree,
                "place": place.strip()[:100],
                "setting": setting,
                "recorded_by": user_of(principal),
            },
        )
        if created:
            audit.record(
                principal=principal,
                action="exposure.record",
                object_type="people.person",
                object_id=str(contact.pk),
                grid_path=contact.grid.path,
                changes={
                    "source": [None, source.pk],
                    "degree": [None, degree],
                    "last_exposure_at": [None, last_exposure_at.isoformat()],
                },
            )
        # The orders follow from the exposures by the method's rules: the system starts them, in
        # this transaction, for whoever recorded the contact (a medical liaison may record contacts
        # without the right to start orders by hand).
        tracing = system("system:contact-tracing", CONTACT_TRACING_CAPABILITIES, cause=principal)
        _apply_contact_orders(contact=contact, principal=tracing, starts_at=starts_at)
    return exposure


def _confirmed_sources():
    return Case.objects.filter(status=CaseStatus.CONFIRMED).values("person_id")


def _apply_contact_orders(*, contact, principal, starts_at: dt.datetime | None = None, depth: int = 0) -> None:
    """The contact's order follows from the set of exposures alone (so any order of events gives
    the same orders and release dates): close contacts of a confirmed case go to centralized
    quarantine (configurable), counted from the last such exposure; contacts of those close
    contacts get health monitoring."""
    close_last = Exposure.objects.filter(
        contact=contact, degree=ExposureDegree.CLOSE, source__in=_confirmed_sources()
    ).aggregate(m=Max("last_exposure_at"))["m"]
    close_sources = Exposure.objects.filter(degree=ExposureDegree.CLOSE, source__in=_confirmed_sources()).values(
        "contact_id"
    )
    secondary_last = Exposure.objects.filter(contact=contact, source__in=close_sources).aggregate(
        m=Max("last_exposure_at")
    )["m"]
    if close_last is not None:
        kind, reason, last = settings.CLOSE_CONTACT_MEASURE, OrderReason.CLOSE_CONTACT, close_last
    elif secondary_last is not None:
        kind, reason, last = OrderKind.HEALTH_MONITORING, OrderReason.SECONDARY_CONTACT, secondary_last
    else:
        return
    _order_for_contact(contact=contact, kind=kind, reason=reason, last=last, starts_at=starts_at, principal=principal)
    if depth == 0:
        # A new close contact makes their own contacts secondary contacts.
        for exposure in Exposure.objects.filter(source=contact).select_related("contact__grid"):
            _apply_contact_orders(contact=exposure.contact, principal=principal, starts_at=starts_at, depth=1)


def _order_for_contact(
    *, contact, kind: str, reason: str, last: dt.datetime, starts_at: dt.datetime | None, principal
) -> None:
    order = ControlOrder.objects.open().filter(person=contact).first()
    if order is None:
        control.control_order_start(
            person=contact,
            kind=kind,
            reason=reason,
            starts_at=starts_at,
            last_exposure_at=last,
            site=settings.CLOSE_CONTACT_SITE if kind in SITE_KINDS else "",
            principal=principal,
        )
        return
    stronger = {
        OrderKind.HEALTH_MONITORING: 0,
        OrderKind.HOME_QUARANTINE: 1,
        OrderKind.CENTRALIZED_QUARANTINE: 2,
        OrderKind.HOSPITAL_ISOLATION: 3,
    }
    if stronger[kind] > stronger[order.kind]:
        new = control.control_order_transfer(
            order=order,
            kind=kind,
            reason=reason,
            site=settings.CLOSE_CONTACT_SITE if kind in SITE_KINDS else "",
            at=starts_at,
            principal=principal,
        )
        control.control_order_set_exposure(order=new, last_exposure_at=last, principal=principal)
    elif order.kind == kind and (order.last_exposure_at is None or last > order.last_exposure_at):
        control.control_order_set_exposure(order=order, last_exposure_at=last, principal=principal)


# ---------------------------------------------------------------- epidemic points


def _end_of_day(moment: dt.datetime) -> dt.datetime:
    local = timezone.localtime(moment)
    return timezone.make_aware(dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time()))


def release_time(point: EpidemicPoint) -> dt.datetime | None:
    """The default rule: 14 days after the day the last case left (the article: left 2月6日,
    released 2月20日24时), once terminal disinfection is done."""
    if point.last_case_left_at is None or point.disinfected_at is None:
        return None
    return _end_of_day(point.last_case_left_at) + dt.timedelta(days=settings.EPIDEMIC_POINT_DAYS)


def point_update(*, point: EpidemicPoint, last_case_left_at=None, disinfected_at=None, principal) -> EpidemicPoint:
    """Record when the last case left and when terminal disinfection was done; the system then
    proposes the release time."""
    authorize(principal, Capability.DO_TASKS, point.grid.path)
    if point.status == PointStatus.RELEASED:
        raise DomainError("point_released", _("This epidemic point is already released."))
    with transaction.atomic():
        locked = EpidemicPoint.objects.select_for_update().get(pk=point.pk)
        before = {"left": locked.last_case_left_at, "disinfected": locked.disinfected_at}
        if last_case_left_at:
            locked.last_case_left_at = last_case_left_at
        if disinfected_at:
            locked.disinfected_at = disinfected_at
        locked.proposed_release_at = release_time(locked)
        locked.save()
        audit.record(
            principal=principal,
            action="epidemic_point.update",
            obj=locked,
            grid_path=locked.grid.path,
            changes=audit.diff(before, {"left": locked.last_case_left_at, "disinfected": locked.disinfected_at}),
        )
    return locked


def points_propose_release(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    due = EpidemicPoint.objects.filter(status=PointStatus.CLOSED, proposed_release_at__lte=now)
    count = 0
    # "No new case": a case joining the response clears the point's clock (plan_activate_for_case).
    for point in due:
        move(point, PointStatus.RELEASE_PROPOSED, principal=POINT_WATCH)
        count += 1
    return count


def point_release(*, point: EpidemicPoint, principal, at: dt.datetime | None = None) -> EpidemicPoint:
    """The command center approves: closed management ends (and with it the exit suspension at
    the gates), and, as the system in the same transaction, the orders tied to the point end and
    the activation closes."""
    authorize(principal, Capability.MANAGE_PLANS, point.grid.path)
    at = at or timezone.now()
    with transaction.atomic():
        current = EpidemicPoint.objects.select_for_update().get(pk=point.pk)
        if current.status == PointStatus.RELEASED:
            return current
        if current.status != PointStatus.RELEASE_PROPOSED:
            raise DomainError("point_not_proposed", _("The release is not proposed yet: the rule does not hold."))
        released = move(
            current, PointStatus.RELEASED, principal=principal, at=at, fields={"released_by": user_of(principal)}
        )
        _release_followups(released, system("system:point-release", POINT_RELEASE_CAPABILITIES, cause=principal))
    return released


def point_quarantine_households(*, point: EpidemicPoint, households, principal) -> list:
    """Home quarantine for the households inside the point, ended by its release."""
    authorize(principal, Capability.MANAGE_ORDERS, point.grid.path)
    if point.status == PointStatus.RELEASED:
        raise DomainError("point_released", _("This epidemic point is already released."))
    outside = [h for h in households if not within(h.grid.path, point.grid.path)]
    if outside:
        raise DomainError(
            "household_outside_point",
            _("%(address)s is not inside this epidemic point."),
            field="households",
            params={"address": outside[0].address},
        )
    orders = []
    with transaction.atomic():
        for household in households:
            for order in control.control_orders_start_household(
                household=household,
                kind=OrderKind.HOME_QUARANTINE,
                reason=OrderReason.EPIDEMIC_POINT,
                principal=principal,
            ):
                PointOrder.objects.create(point=point, order=order)
                orders.append(order)
    return orders


def exit_suspended_by_point(prefix: str):
    """A household inside an epidemic point under closed management may not go out: a point not
    released on the household's grid or one above it (the point's path begins the household's)."""
    household_path = OuterRef(f"{prefix}grid__path")
    closed = EpidemicPoint.objects.exclude(status=PointStatus.RELEASED).filter(
        grid__path=Substr(household_path, 1, Length("grid__path"), output_field=CharField())
    )
    return "epidemic_point", Exists(closed)


def household_closed_by_point(household) -> str | None:
    """The same rule for one household: "epidemic_point" when a point closes it, else None."""
    reason, closed = exit_suspended_by_point("")
    return reason if Household.objects.filter(pk=household.pk).filter(closed).exists() else None


POINT_RELEASE_SWEEP = ("epidemic_points_proposed", points_propose_release)
OVERDUE_TASK_SWEEP = ("overdue_task_alerts", tasks_overdue_alerts)
