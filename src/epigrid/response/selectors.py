"""Reads of the emergency response, scoped to the user."""

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from epigrid.control.models import ControlOrder
from epigrid.core.compiled import CompiledRead
from epigrid.core.errors import NotFound
from epigrid.core.scoping import VIEW, subtree_q
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


def incident(*, activation: Activation) -> dict:
    """What the incident page shows: tasks, cases, the point, contacts and their orders, in a
    fixed number of queries whatever the incident's size (subqueries, no id lists)."""
    case_persons = activation.cases.values("person_id")
    exposures = Exposure.objects.filter(source_id__in=case_persons)
    contact_ids = exposures.values("contact_id")
    orders = (
        ControlOrder.objects.open()
        .filter(person_id__in=contact_ids)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by("kind")
    )
    return {
        "activation": activation,
        "tasks": list(
            Task.objects.filter(activation=activation)
            .select_related("owner", "done_by", "step", "grid")
            .order_by("step__position")
        ),
        # The page names the cases and links them: only those columns (a person's full row, with its
        # sealed fields, made 200 models cost four times the page's queries).
        "cases": list(
            activation.cases.select_related("person")
            .only("person_id", "confirmed_at", "person__name")
            .order_by("confirmed_at", "id")[:200]
        ),
        "case_count": activation.cases.count(),
        "points": list(activation.points.select_related("grid")),
        "close_contacts": exposures.filter(degree="close").values("contact_id").distinct().count(),
        "secondary_contacts": Exposure.objects.filter(source_id__in=contact_ids)
        .values("contact_id")
        .distinct()
        .count(),
        "contact_orders": {row["kind"]: row["n"] for row in orders},
    }


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
