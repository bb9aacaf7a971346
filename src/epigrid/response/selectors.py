"""Reads of the emergency response, scoped to the user."""

import datetime as dt
from typing import NamedTuple

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext_lazy as _

from epigrid.control.models import ControlOrder
from epigrid.core.compiled import CompiledRead, parts, selected, with_related
from epigrid.core.errors import NotFound
from epigrid.core.scoping import VIEW, subtree_q
from epigrid.health.models import Case
from epigrid.people.models import Person

from .models import Activation, EpidemicPoint, Exposure, PlanTemplate, Task
from .services import DEFAULT_PLAN_NAME, DEFAULT_STEPS


def activation_get(*, user, pk, capability: str = VIEW) -> Activation:
    """The emergency response, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Activation.objects.select_related("grid", "plan").get_for(
        user, capability, pk=pk, missing=NotFound("activation_not_found", _("No such emergency response."))
    )


def point_get(*, user, pk, capability: str = VIEW) -> EpidemicPoint:
    """The epidemic point, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return EpidemicPoint.objects.select_related("grid", "activation").get_for(
        user, capability, pk=pk, missing=NotFound("point_not_found", _("No such epidemic point."))
    )


def task_get(*, user, pk, capability: str = VIEW) -> Task:
    """The task, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Task.objects.select_related("grid", "step", "owner").get_for(
        user, capability, pk=pk, missing=NotFound("task_not_found", _("No such task."))
    )


def exposure_get(*, user, pk, capability: str = VIEW) -> Exposure:
    """The exposure (filed in the contact's grid), if `user` may `capability` it: else 404 or 403."""
    return Exposure.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("exposure_not_found", _("No such exposure."))
    )


def exposure_list(*, user, person_id: int | None = None, grid_path: str = "", degree: str = ""):
    """Exposures in the user's sight, latest exposure first (ties by id, for stable paging).
    `person_id` matches the person as the source or as the contact."""
    exposures = Exposure.objects.restrict(user).select_related("grid")
    if person_id:
        exposures = exposures.filter(Q(source_id=person_id) | Q(contact_id=person_id))
    if grid_path:
        exposures = exposures.in_subtree(grid_path)
    if degree:
        exposures = exposures.filter(degree=degree)
    return exposures.order_by("-last_exposure_at", "-id")


class CaseRow(NamedTuple):
    """A case as the incident page names and links it."""

    person_id: int
    name: str
    confirmed_at: dt.datetime | None


def incident(*, activation: Activation) -> dict:
    """What the incident page shows: tasks, cases, the point, contacts and their orders, in a
    fixed number of queries whatever the incident's size (subqueries, no id lists). The counts are
    one statement, and the reads that only name things are compiled values, not models."""
    ((case_count, close_contacts, secondary_contacts),) = _INCIDENT_COUNTS(activation_id=activation.pk)
    return {
        "activation": activation,
        "tasks": [with_related(row, _TASK, _TASK_RELATED)[0] for row in _TASKS(activation_id=activation.pk)],
        "cases": [CaseRow(*row) for row in _INCIDENT_CASES(activation_id=activation.pk)],
        "case_count": case_count,
        "points": [with_related(row, _POINT, ("grid",))[0] for row in _POINTS(activation_id=activation.pk)],
        "close_contacts": close_contacts,
        "secondary_contacts": secondary_contacts,
        "contact_orders": dict(_CONTACT_ORDERS(activation_id=activation.pk)),
    }


def _incident_sets(activation_id):
    """The incident's case persons, and the contacts exposed to them (as subqueries)."""
    case_persons = Activation.cases.through.objects.filter(activation_id=activation_id).values("case__person_id")
    return case_persons, Exposure.objects.filter(source_id__in=case_persons).values("contact_id")


def _count(rows, expression):
    # A count as a scalar subquery: grouped by a constant, which the ORM leaves out of GROUP BY.
    return Subquery(rows.order_by().values(all=Value(1)).annotate(n=expression).values("n"))


def _incident_counts(*, activation_id):
    case_persons, contacts = _incident_sets(activation_id)
    return (
        Activation.objects.filter(pk=activation_id)
        .annotate(
            case_count=_count(Activation.cases.through.objects.filter(activation_id=activation_id), Count("id")),
            close_contacts=_count(
                Exposure.objects.filter(source_id__in=case_persons, degree="close"), Count("contact_id", distinct=True)
            ),
            secondary_contacts=_count(
                Exposure.objects.filter(source_id__in=contacts), Count("contact_id", distinct=True)
            ),
        )
        .values_list("case_count", "close_contacts", "secondary_contacts")
    )


_TASK_RELATED = ("step", "grid", "owner", "done_by")
# How `incident` and `incidents` order and cut what they show: one definition for both.
_TASK_ORDER = ("step__position", "id")
_CASE_ORDER = ("confirmed_at", "id")
_CASES_SHOWN = 200  # the page names and links them, nothing more
_TASK = parts(Task, _TASK_RELATED)
_POINT = parts(EpidemicPoint, ("grid",))


def _tasks(*, activation_id):
    return (
        Task.objects.filter(activation_id=activation_id).order_by(*_TASK_ORDER).values_list(*selected(_TASK))
    )


def _points(*, activation_id):
    return EpidemicPoint.objects.filter(activation_id=activation_id).order_by("id").values_list(*selected(_POINT))


def _incident_cases(*, activation_id):
    return (
        Case.objects.filter(activations=activation_id)
        .order_by(*_CASE_ORDER)
        .values_list("person_id", "person__name", "confirmed_at")[:_CASES_SHOWN]
    )


def _contact_orders(*, activation_id):
    _, contacts = _incident_sets(activation_id)
    return (
        ControlOrder.objects.open()
        .filter(person_id__in=contacts)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by("kind")
        .values_list("kind", "n")
    )


# The incident page is reloaded while an incident is worked: its reads are compiled once.
_INCIDENT_COUNTS = CompiledRead(Activation, _incident_counts, numbers=("activation_id",))
_TASKS = CompiledRead(Task, _tasks, numbers=("activation_id",))
_POINTS = CompiledRead(EpidemicPoint, _points, numbers=("activation_id",))
_INCIDENT_CASES = CompiledRead(Case, _incident_cases, numbers=("activation_id",))
_CONTACT_ORDERS = CompiledRead(ControlOrder, _contact_orders, numbers=("activation_id",))


def incidents(*, activations) -> list[dict]:
    """`incident` for many responses at once (the API's list): the same dicts, in a fixed number
    of grouped queries whatever the number of responses, not one set of reads per response."""
    activations = list(activations)
    ids = [a.pk for a in activations]
    if not ids:
        return []
    through = Activation.cases.through.objects.filter(activation_id__in=ids)
    case_count = _per_activation(through.values("activation_id").annotate(n=Count("id")))
    # Each grouped by the response its rows lead back to; a contact exposed to cases of two
    # responses counts in both, as `incident` counts it for each.
    close_contacts = _per_activation(
        Exposure.objects.filter(degree="close", source__case__activations__in=ids)
        .values(activation_id=F("source__case__activations"))
        .annotate(n=Count("contact_id", distinct=True))
    )
    secondary_contacts = _per_activation(
        Exposure.objects.filter(source__exposures__source__case__activations__in=ids)
        .values(activation_id=F("source__exposures__source__case__activations"))
        .annotate(n=Count("contact_id", distinct=True))
    )
    orders: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    for activation_id, kind, n in (
        ControlOrder.objects.open()
        .filter(person__exposures__source__case__activations__in=ids)
        .values_list(F("person__exposures__source__case__activations"), "kind")
        .annotate(n=Count("id", distinct=True))
        .order_by("kind")
    ):
        orders[activation_id][kind] = n
    tasks: dict[int, list] = {pk: [] for pk in ids}
    for row in (
        Task.objects.filter(activation_id__in=ids)
        .order_by("activation_id", *_TASK_ORDER)
        .values_list(*selected(_TASK))
    ):
        task = with_related(row, _TASK, _TASK_RELATED)[0]
        tasks[task.activation_id].append(task)
    points: dict[int, list] = {pk: [] for pk in ids}
    for row in EpidemicPoint.objects.filter(activation_id__in=ids).order_by("id").values_list(*selected(_POINT)):
        point = with_related(row, _POINT, ("grid",))[0]
        points[point.activation_id].append(point)
    cases: dict[int, list] = {pk: [] for pk in ids}
    # The first _CASES_SHOWN of each response, in `incident`'s order.
    case_order = [f"case__{name}" for name in _CASE_ORDER]
    ranked = through.annotate(
        rank=Window(RowNumber(), partition_by=F("activation_id"), order_by=[F(name) for name in case_order])
    ).filter(rank__lte=_CASES_SHOWN)
    for activation_id, *row in ranked.order_by("activation_id", *case_order).values_list(
        "activation_id", "case__person_id", "case__person__name", "case__confirmed_at"
    ):
        cases[activation_id].append(CaseRow(*row))
    return [
        {
            "activation": a,
            "tasks": tasks[a.pk],
            "cases": cases[a.pk],
            "case_count": case_count.get(a.pk, 0),
            "points": points[a.pk],
            "close_contacts": close_contacts.get(a.pk, 0),
            "secondary_contacts": secondary_contacts.get(a.pk, 0),
            "contact_orders": orders[a.pk],
        }
        for a in activations
    ]


def _per_activation(rows) -> dict[int, int]:
    return {activation_id: n for activation_id, n in rows.values_list("activation_id", "n")}


def chain(*, activation: Activation, user=None, limit: int = 2000, offset: int = 0) -> dict:
    """The transmission chain of an incident: cases → close contacts → secondary contacts, as
    nodes and edges, paged by edge so a 20,000-contact incident stays usable. With `user`, a
    person outside the user's grids is a node without a name (the chain crosses compounds; who
    is in another compound's file is that compound's to see)."""
    rows = _CHAIN_PAGE(activation_id=activation.pk, start=offset, stop=offset + limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nodes: dict[int, dict] = {}
    edges = [
        {"source": source, "target": contact, "degree": degree, "last_exposure_at": at}
        for source, contact, degree, at, *_ in rows
    ]
    for source, contact, degree, _at, source_name, contact_name, is_case in rows:
        if source not in nodes:
            nodes[source] = {"id": source, "kind": "case" if is_case else "close", "name": source_name}
        if contact not in nodes:
            nodes[contact] = {"id": contact, "kind": degree if is_case else "secondary", "name": contact_name}
    if offset == 0 and not rows:
        for person_id, name in activation.cases.values_list("person_id", "person__name")[:limit]:
            nodes[person_id] = {"id": person_id, "kind": "case", "name": name}
    if user is not None and nodes:
        seen = set(Person.objects.restrict(user).filter(pk__in=nodes.keys()).values_list("pk", flat=True))
        for person_id, node in nodes.items():
            if person_id not in seen:
                node["name"] = None
    return {"nodes": list(nodes.values()), "edges": edges, "next_offset": offset + limit if more else None}


def _chain_values(*, activation_id, start, stop):
    cases = Activation.cases.through.objects.filter(activation_id=activation_id)
    case_persons = cases.values("case__person_id")
    close = Exposure.objects.filter(source_id__in=case_persons).values("contact_id")
    return (
        Exposure.objects.filter(Q(source_id__in=case_persons) | Q(source_id__in=close))
        # Whether the source is a case of this incident, in the same statement (not a second
        # query naming every source of the page).
        .annotate(source_is_case=Exists(cases.filter(case__person_id=OuterRef("source_id"))))
        .order_by("id")
        .values_list(
            "source_id", "contact_id", "degree", "last_exposure_at", "source__name", "contact__name", "source_is_case"
        )[start:stop]
    )


# The chain is asked for page by page while an incident is worked: its SQL is compiled once.
_CHAIN_PAGE = CompiledRead(Exposure, _chain_values, numbers=("activation_id",))


def activations_in(*, user, grid_path: str = ""):
    rows = Activation.objects.restrict(user).select_related("grid")
    if grid_path:
        rows = rows.filter(subtree_q("grid__path", grid_path))
    return rows.order_by("-activated_at")


def consequences(action: str, obj) -> list[str]:
    """ "consequences": what `plan_activate_for_case` will do once the case is confirmed, for the
    confirm step (reads only; the plan is whatever `plan_current` would pick)."""
    if action != "case_confirm":
        return []
    case = obj
    compound = case.grid.compound() or case.grid
    lines = []
    activation = Activation.objects.filter(grid=compound, closed_at__isnull=True).select_related("plan").first()
    if activation is None:
        # As `plan_current` would pick it: the current plan, else the default one it would make.
        plan = PlanTemplate.objects.filter(is_current=True).first()
        name, steps = (plan.name, plan.steps.count()) if plan else (DEFAULT_PLAN_NAME, len(DEFAULT_STEPS))
        lines.append(
            _("The emergency plan “%(plan)s” starts for %(compound)s: %(steps)s task(s) go to their owners.")
            % {"plan": name, "compound": compound.label, "steps": steps}
        )
        lines.append(
            _("%(compound)s becomes an epidemic point under closed management: its households may not go out.")
            % {"compound": compound.label}
        )
    else:
        lines.append(
            _("The case joins the emergency response already running in %(compound)s; its epidemic point stays closed.")
            % {"compound": compound.label}
        )
    contacts = Exposure.objects.filter(source_id=case.person_id).values("contact_id").distinct().count()
    if contacts:
        lines.append(
            _("%(count)s recorded contact(s) of this person get their control orders upgraded.") % {"count": contacts}
        )
    return lines
