"""Reads of the control app, scoped to the user."""

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.core.capabilities import Capability
from epigrid.core.compiled import CompiledRead, columns, instances, selected
from epigrid.core.errors import NotFound
from epigrid.core.extensions import GapCheck
from epigrid.core.scoping import VIEW
from epigrid.grids.models import compound_path
from epigrid.people.models import Household

from .choices import (
    OPEN_ORDER_STATUSES,
    REQUIRED_TEAM_ROLES,
    KeyPersonStatus,
    OrderKind,
    OrderReason,
    TeamRole,
    TipSource,
)
from .models import ControlOrder, ControlRule, KeyPerson, TeamMember, Tip

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


def liaisons_for(persons: list[tuple[int, int | None, str]]) -> dict[int, int | None]:
    """liaison_for for many persons at once, as user ids, in two queries whatever their number:
    `persons` are (person id, household id, grid path) triples."""
    households = {household for _, household, _ in persons if household}
    liaison_of: dict[int, int] = {}
    if households:
        members = (
            TeamMember.objects.filter(team__household_id__in=households, role=TeamRole.LIAISON, ended_at__isnull=True)
            .order_by("id")
            .values_list("team__household_id", "user_id")
        )
        for household, user_id in members:
            liaison_of.setdefault(household, user_id)
    compounds = {compound_path(path) for pid, household, path in persons if household not in liaison_of}
    member_of: dict[str, int] = {}
    if compounds:
        assignments = (
            GridAssignment.objects.active()
            .filter(node__path__in=compounds, role=Role.GRID_MEMBER)
            .order_by("id")
            .values_list("node__path", "user_id")
        )
        for path, user_id in assignments:
            member_of.setdefault(path, user_id)
    return {
        pid: liaison_of[household] if household in liaison_of else member_of.get(compound_path(path))
        for pid, household, path in persons
    }


def order_get(*, user, pk, capability: str = VIEW) -> ControlOrder:
    """The order, if the user may `capability` it (404 out of sight, 403 in sight without the right)."""
    return ControlOrder.objects.select_related("person", "grid").get_for(user, capability, pk=pk)


def order_list(
    *,
    user,
    status: list[str] | None = None,
    kind: str = "",
    grid_path: str = "",
    person_id: int | None = None,
    household_id: int | None = None,
):
    orders = ControlOrder.objects.restrict(user).select_related("person", "grid")
    if person_id:
        orders = orders.filter(person_id=person_id)
    if household_id:
        orders = orders.filter(person__household_id=household_id)
    if status:
        orders = orders.filter(status__in=status)
    if kind:
        orders = orders.filter(kind=kind)
    if grid_path:
        orders = orders.in_subtree(grid_path)
    return orders.order_by("-starts_at", "-id")


_ORDER = ((ControlOrder, "", columns(ControlOrder)),)


def _open_order_rows(*, person_id: int):
    return ControlOrder.objects.open().filter(person_id=person_id).order_by("pk").values_list(*selected(_ORDER))[:1]


# Every resident's report asks for their open order (the days left): compiled once.
_OPEN_ORDER = CompiledRead(ControlOrder, _open_order_rows, numbers=("person_id",))


def open_order(person) -> ControlOrder | None:
    """The person's open order (active or release proposed), the first made if several."""
    rows = _OPEN_ORDER(person_id=person.pk)
    return instances(rows[0], _ORDER)[0][0] if rows else None


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
    """The tip, if `user` may `capability` it: else 404 (outside their area) or 403. Its key
    persons as `visible_key_persons`: only those in the user's sight (a tip may name people of
    several grids)."""
    return _with_key_persons(Tip.objects.select_related("grid", "risk_area"), user).get_for(
        user, capability, pk=pk, missing=NotFound("tip_not_found", _("No such tip."))
    )


def _with_key_persons(tips, user):
    return tips.prefetch_related(
        Prefetch(
            "key_persons",
            queryset=KeyPerson.objects.restrict(user).select_related("person", "grid", "tip__risk_area").order_by("id"),
            to_attr="visible_key_persons",
        )
    )


def tip_list(
    *,
    user,
    grid_path: str = "",
    person_id: int | None = None,
    reported_from=None,
    reported_to=None,
):
    """Tips in the user's sight, newest report first (ties by id: a stable order for paging)."""
    tips = _with_key_persons(Tip.objects.restrict(user).select_related("grid", "risk_area"), user)
    if grid_path:
        tips = tips.in_subtree(grid_path)
    if person_id:
        tips = tips.filter(key_persons__person_id=person_id).distinct()
    if reported_from:
        tips = tips.filter(reported_at__gte=reported_from)
    if reported_to:
        tips = tips.filter(reported_at__lt=reported_to)
    return tips.order_by("-reported_at", "-id")


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


def control_periods() -> list[dict]:
    """Every measure × reason with the period and release condition an order gets: the rule for
    the kind and reason, else the kind's rule, else the default (settings.CONTROL_DEFAULT_DAYS,
    no test) — the same choice as `services.control_rule_for`, in one query."""
    rules = {(r.kind, r.reason): r for r in ControlRule.objects.all()}
    periods = []
    for kind in OrderKind:
        for reason in OrderReason:
            rule = rules.get((kind.value, reason.value))
            source = "kind_and_reason"
            if rule is None:
                rule, source = rules.get((kind.value, "")), "kind"
            periods.append(
                {
                    "kind": kind.value,
                    "reason": reason.value,
                    "days": rule.days if rule else settings.CONTROL_DEFAULT_DAYS,
                    "requires_negative_test": rule.requires_negative_test if rule else False,
                    "source": source if rule else "default",
                }
            )
    return periods


def self_registrations_to_check(*, user):
    """返乡申报 waiting for their check, where the user takes in tips (newest first)."""
    return (
        Tip.objects.restrict(user, Capability.INTAKE)
        .filter(source=TipSource.SELF, checked_at__isnull=True)
        .select_related("self_registration", "owner", "grid", "risk_area")
        .order_by("-created_at", "-id")
    )
