"""Reads of the control app, scoped to the user."""

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.core.extensions import GapCheck
from epigrid.core.scoping import VIEW
from epigrid.grids.models import compound_path
from epigrid.people.models import Household

from .choices import OPEN_ORDER_STATUSES, REQUIRED_TEAM_ROLES, KeyPersonStatus, TeamRole
from .models import ControlOrder, KeyPerson, TeamMember, Tip

# A key person waiting to be put under control: reported, perhaps assessed.
PENDING_KEY_PERSON_STATUSES = (KeyPersonStatus.REPORTED, KeyPersonStatus.ASSESSED)


def liaison_for(person):
    """The person's liaison (联络人): their household team's liaison, else a grid member of their
    compound grid. None when neither exists (a gap the coverage audit shows)."""
    if person.household_id:
        member = (
            TeamMember.objects.filter(
                team__household_id=person.household_id, role=TeamRole.LIAISON, ended_at__isnull=True
            )
            .select_related("user")
            .order_by("id")
            .first()
        )
        if member:
            return member.user
    assignment = (
        GridAssignment.objects.active()
        .filter(node__path=compound_path(person.grid.path), role=Role.GRID_MEMBER)
        .select_related("user")
        .order_by("id")
        .first()
    )
    return assignment.user if assignment else None


def order_get(*, user, pk, capability: str = VIEW) -> ControlOrder:
    """The order, if the user may `capability` it (404 out of sight, 403 in sight without the right)."""
    return ControlOrder.objects.select_related("person", "grid").get_for(user, capability, pk=pk)


def order_list(*, user, status: list[str] | None = None, kind: str = "", grid_path: str = ""):
    orders = ControlOrder.objects.restrict(user).select_related("person", "grid")
    if status:
        orders = orders.filter(status__in=status)
    if kind:
        orders = orders.filter(kind=kind)
    if grid_path:
        orders = orders.in_subtree(grid_path)
    return orders.order_by("-starts_at", "-id")


def open_order(person):
    return ControlOrder.objects.open().filter(person=person).first()


def key_person_get(*, user, pk, capability: str = VIEW) -> KeyPerson:
    return KeyPerson.objects.select_related("person", "tip", "grid").get_for(user, capability, pk=pk)


def key_persons_pending(*, persons) -> dict[int, KeyPerson]:
    """For each of `persons` reported in a tip and not yet under control, the key person an order
    puts under control: the earliest reported. Read after the caller's right was checked."""
    pending: dict[int, KeyPerson] = {}
    rows = KeyPerson.objects.filter(person__in=persons, status__in=PENDING_KEY_PERSON_STATUSES).order_by(
        "tip__reported_at", "id"
    )
    for key_person in rows:
        pending.setdefault(key_person.person_id, key_person)
    return pending


def key_person_list(*, user, status: list[str] | None = None, grid_path: str = ""):
    key_persons = KeyPerson.objects.restrict(user).select_related("person", "tip", "grid")
    if status:
        key_persons = key_persons.filter(status__in=status)
    if grid_path:
        key_persons = key_persons.in_subtree(grid_path)
    return key_persons.order_by("-tip__reported_at", "id")


def tip_get(*, user, pk, capability: str = VIEW) -> Tip:
    return Tip.objects.get_for(user, capability, pk=pk)


def tip_to_control_by_grid(*, user, grid_path: str = "") -> list[dict]:
    """Minutes from tip to control per compound grid (docs/method.md "5" item 1: a metric)."""
    from statistics import median

    rows = (
        key_person_list(user=user, grid_path=grid_path)
        .filter(controlled_at__isnull=False)
        .exclude(status=KeyPersonStatus.REPORTED)
        .values_list("grid__path", "tip__reported_at", "controlled_at")
    )
    from epigrid.grids.models import GridNode

    minutes: dict[str, list[float]] = {}
    for path, reported_at, controlled_at in rows:
        minutes.setdefault(compound_path(path) or path, []).append((controlled_at - reported_at).total_seconds() / 60)
    codes = dict(GridNode.objects.filter(path__in=list(minutes)).values_list("path", "code"))
    return [
        {
            "grid": codes.get(path, path),
            "controlled": len(values),
            "median_minutes": round(median(values), 1),
            "max_minutes": round(max(values), 1),
        }
        for path, values in sorted(minutes.items())
    ]


def controlled_households_without_full_team():
    """Households with a member under an open order whose team lacks a required role."""
    controlled = Household.objects.filter(
        Exists(ControlOrder.objects.filter(person__household=OuterRef("pk"), status__in=OPEN_ORDER_STATUSES))
    )
    incomplete = Q()
    for role in REQUIRED_TEAM_ROLES:
        incomplete |= ~Exists(
            TeamMember.objects.filter(team__household=OuterRef("pk"), role=role, ended_at__isnull=True)
        )
    return controlled.filter(incomplete)


TEAM_GAP = GapCheck(
    "household_team_incomplete",
    _("Controlled household without a complete team"),
    controlled_households_without_full_team,
    lambda household: reverse("people:household", args=[household.pk]),
)
