"""Reads of the emergency response, scoped to the user."""

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from epigrid.control.models import ControlOrder
from epigrid.core.errors import NotFound
from epigrid.core.scoping import subtree_q

from .models import Activation, EpidemicPoint, Exposure, Task


def activation_get(*, user, pk) -> Activation:
    activation = Activation.objects.visible_to(user).select_related("grid", "plan").filter(pk=pk).first()
    if activation is None:
        raise NotFound("activation_not_found", _("No such emergency response."))
    return activation


def point_get(*, user, pk) -> EpidemicPoint:
    point = EpidemicPoint.objects.visible_to(user).select_related("grid", "activation").filter(pk=pk).first()
    if point is None:
        raise NotFound("point_not_found", _("No such epidemic point."))
    return point


def task_get(*, user, pk) -> Task:
    task = Task.objects.visible_to(user).select_related("grid", "step", "owner").filter(pk=pk).first()
    if task is None:
        raise NotFound("task_not_found", _("No such task."))
    return task


def incident(*, activation: Activation) -> dict:
    """What the incident page shows: tasks, cases, the point, contacts and their orders, in a
    fixed number of queries whatever the incident's size."""
    case_person_ids = list(activation.cases.values_list("person_id", flat=True))
    exposures = Exposure.objects.filter(source_id__in=case_person_ids)
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
            .select_related("owner", "done_by", "step")
            .order_by("step__position")
        ),
        "cases": list(activation.cases.select_related("person").order_by("confirmed_at")),
        "points": list(activation.points.select_related("grid")),
        "close_contacts": exposures.filter(degree="close").values("contact_id").distinct().count(),
        "secondary_contacts": Exposure.objects.filter(source_id__in=contact_ids)
        .values("contact_id")
        .distinct()
        .count(),
        "contact_orders": {row["kind"]: row["n"] for row in orders},
    }


def chain(*, activation: Activation, limit: int = 2000, offset: int = 0) -> dict:
    """The transmission chain of an incident: cases → close contacts → secondary contacts, as
    nodes and edges, paged by edge so a 20,000-contact incident stays usable."""
    case_person_ids = list(activation.cases.values_list("person_id", flat=True))
    close = Exposure.objects.filter(source_id__in=case_person_ids)
    edges = (
        Exposure.objects.filter(Q(source_id__in=case_person_ids) | Q(source_id__in=close.values("contact_id")))
        .order_by("id")
        .values_list("id", "source_id", "contact_id", "degree", "last_exposure_at", "source__name", "contact__name")[
            offset : offset + limit + 1
        ]
    )
    rows = list(edges)
    more = len(rows) > limit
    rows = rows[:limit]
    nodes = {
        pid: {"id": pid, "kind": "case", "name": name}
        for pid, name in activation.cases.values_list("person_id", "person__name")
    }
    out_edges = []
    for _id, source, contact, degree, at, source_name, contact_name in rows:
        nodes.setdefault(source, {"id": source, "kind": "contact"})["name"] = source_name
        nodes.setdefault(contact, {"id": contact, "kind": degree})["name"] = contact_name
        out_edges.append({"source": source, "target": contact, "degree": degree, "last_exposure_at": at})
    return {"nodes": list(nodes.values()), "edges": out_edges, "next_offset": offset + limit if more else None}


def activations_in(*, user, grid_path: str = ""):
    rows = Activation.objects.visible_to(user).select_related("grid")
    if grid_path:
        rows = rows.filter(subtree_q("grid__path", grid_path))
    return rows.order_by("-activated_at")
