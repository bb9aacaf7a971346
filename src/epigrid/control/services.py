"""Writes of the control app: risk areas, tips and key persons, control orders, household teams.

Order statuses move only through the transition functions here (docs/architecture.md "State machines").
"""

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.core import audit, extensions
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, seal, unseal
from epigrid.core.errors import Conflict, DomainError
from epigrid.core.scoping import SystemPrincipal, authorize, user_of
from epigrid.core.transitions import move, move_many
from epigrid.core.validators import PROVINCE_CODES, parse_id_number, parse_phone, region_name
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode
from epigrid.people.models import Household, Person
from epigrid.people.services import person_create

from . import selectors
from .choices import (
    SITE_KINDS,
    KeyPersonStatus,
    OrderKind,
    OrderReason,
    OrderStatus,
    TeamRole,
    TipSource,
    TravelMode,
)
from .models import (
    ControlOrder,
    ControlRule,
    HouseholdTeam,
    KeyPerson,
    RegistrationPoster,
    RiskArea,
    SelfRegistration,
    TeamMember,
    Tip,
)

# ---------------------------------------------------------------- risk areas


def region_prefix(code: str) -> str:
    """420000 → "42", 420600 → "4206", 420602 → "420602"."""
    prefix = code
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def clean_region_code(value, *, field: str = "origin_code") -> str:
    code = str(value or "").strip()
    if len(code) != 6 or not code.isdigit() or code[:2] not in PROVINCE_CODES:
        raise DomainError(
            "region_code_invalid", _("Give the 6-digit administrative division code (e.g. 420600)."), field=field
        )
    return code


def risk_area_save(*, code: str, name: str = "", active: bool = True, principal) -> RiskArea:
    """Add or change an entry of the risk-area list (command center)."""
    authorize(principal, Capability.MANAGE_ORDERS)
    code = clean_region_code(code, field="code")
    name = (name or "").strip() or region_name(code) or code
    with transaction.atomic():
        area = RiskArea.objects.select_for_update().filter(code=code).first()
        before = {"name": area.name, "active": area.active} if area else {}
        if area is None:
            area = RiskArea(code=code, prefix=region_prefix(code))
        area.name, area.active = name, active
        area.save()
        after = {"name": area.name, "active": area.active}
        if before != after:
            audit.record(principal=principal, action="risk_area.save", obj=area, changes=audit.diff(before, after))
    return area


def risk_area_match(code: str) -> RiskArea | None:
    """The most specific active risk area containing `code`, if any."""
    prefixes = [code[:n] for n in (2, 4, 6)]
    return RiskArea.objects.filter(active=True, prefix__in=prefixes).order_by("-prefix").first()


# ---------------------------------------------------------------- tips and key persons


@dataclass(frozen=True)
class NewPerson:
    """Someone a tip names who is not registered yet (a relative arriving): registered with the
    tip, into `household` or else `grid`."""

    name: str
    id_number: str
    phone: str | None = None
    household: Household | None = None
    grid: GridNode | None = None


def tip_record(
    *,
    persons: Iterable[Person] = (),
    new_persons: Iterable[NewPerson] = (),
    reported_at: dt.datetime,
    reporter: str,
    origin_code: str,
    travel_mode: str,
    expected_arrival_at: dt.datetime | None = None,
    note: str = "",
    principal,
) -> Tip:
    """线索: record a tip, registering the persons it names who are not registered yet, and make
    every person it names a key person (重点人员). All or nothing."""
    persons, new_persons = list(persons), list(new_persons)
    if not persons and not new_persons:
        raise DomainError("persons_required", _("Name at least one person."), field="persons")
    for path in [p.grid.path for p in persons] + [_new_person_grid(n).path for n in new_persons]:
        authorize(principal, Capability.INTAKE, path)
    origin_code = clean_region_code(origin_code)
    if travel_mode not in TravelMode.values:
        raise DomainError("travel_mode", _("Unknown way of travel."), field="travel_mode")
    now = timezone.now()
    if reported_at > now + dt.timedelta(minutes=5):
        raise DomainError("reported_in_future", _("The report time is in the future."), field="reported_at")
    if not (reporter or "").strip():
        raise DomainError("reporter_required", _("Say who reported it."), field="reporter")
    with transaction.atomic():
        # Registering someone is a write of its own, with its own right (EDIT_PEOPLE) and audit.
        persons += [
            person_create(
                name=n.name,
                id_number=n.id_number,
                phone=n.phone,
                household=n.household,
                grid=n.grid,
                principal=principal,
            )
            for n in new_persons
        ]
        grid = persons[0].grid
        tip = Tip.objects.create(
            reported_at=reported_at,
            reporter=reporter.strip()[:100],
            origin_code=origin_code,
            origin_name=region_name(origin_code) or origin_code,
            risk_area=risk_area_match(origin_code),
            travel_mode=travel_mode,
            expected_arrival_at=expected_arrival_at,
            note=(note or "").strip()[:200],
            grid=grid,
            created_by=principal,
        )
        key_persons = KeyPerson.objects.bulk_create(
            [KeyPerson(tip=tip, person=p, grid=p.grid) for p in dict.fromkeys(persons)]
        )
        audit.record_many(
            principal=principal,
            entries=[
                audit.AuditEntry(
                    "tip.create",
                    "control.tip",
                    str(tip.pk),
                    grid.path,
                    {
                        "origin": [None, tip.origin_name],
                        "risk_area": [None, bool(tip.risk_area_id)],
                        "persons": [None, len(key_persons)],
                    },
                ),
                *[
                    audit.AuditEntry(
                        "key_person.report",
                        "people.person",
                        str(kp.person_id),
                        kp.grid.path,
                        {"tip": [None, tip.pk], "origin": [None, tip.origin_name]},
                    )
                    for kp in key_persons
                ],
            ],
        )
        extensions.run("person_facts_changed", person_ids=[kp.person_id for kp in key_persons])
    return tip


def _new_person_grid(new: NewPerson) -> GridNode:
    grid = new.grid or (new.household.grid if new.household is not None else None)
    if grid is None:
        raise DomainError("grid_required", _("Choose the person's grid or household."), field="grid")
    return grid


def key_person_assess(*, key_person: KeyPerson, assessment: str, principal) -> KeyPerson:
    authorize(principal, Capability.INTAKE, key_person.grid.path)
    if not (assessment or "").strip():
        raise DomainError("assessment_required", _("Write the assessment."), field="assessment")
    return move(
        key_person, KeyPersonStatus.ASSESSED, principal=principal, fields={"assessment": assessment.strip()[:200]}
    )


def key_person_close(*, key_person: KeyPerson, principal) -> KeyPerson:
    authorize(principal, Capability.INTAKE, key_person.grid.path)
    return move(key_person, KeyPersonStatus.CLOSED, principal=principal)


# ---------------------------------------------------------------- control orders

# The sweep that proposes releases when the period is over (a person approves).
RELEASE_WATCH = SystemPrincipal("system:release-watch", {Capability.MANAGE_ORDERS})


def control_rule_for(kind: str, reason: str) -> tuple[int, bool]:
    """(days, release needs a negative test): the rule for kind+reason, else for the kind, else
    the default period (14 days, the article's)."""
    rules = {(r.reason, r.kind): r for r in ControlRule.objects.filter(kind=kind, reason__in=[reason, ""])}
    rule = rules.get((reason, kind)) or rules.get(("", kind))
    if rule is None:
        return settings.CONTROL_DEFAULT_DAYS, False
    return rule.days, rule.requires_negative_test


def control_rule_save(*, kind: str, reason: str, days: int, requires_negative_test: bool, principal) -> ControlRule:
    authorize(principal, Capability.APPROVE_RELEASE)
    if kind not in OrderKind.values or (reason and reason not in OrderReason.values):
        raise DomainError("rule_invalid", _("Unknown measure or reason."))
    if not 1 <= int(days) <= 365:
        raise DomainError("days_invalid", _("The period is between 1 and 365 days."), field="days")
    with transaction.atomic():
        rule, created = ControlRule.objects.select_for_update().get_or_create(
            kind=kind, reason=reason or "", defaults={"days": days, "requires_negative_test": requires_negative_test}
        )
        before = {} if created else {"days": rule.days, "requires_negative_test": rule.requires_negative_test}
        rule.days, rule.requires_negative_test = int(days), bool(requires_negative_test)
        rule.save()
        audit.record(
            principal=principal,
            action="control_rule.save",
            obj=rule,
            changes=audit.diff(before, {"days": rule.days, "requires_negative_test": rule.requires_negative_test}),
        )
    return rule


def _order_state(order: ControlOrder) -> dict:
    return {
        "kind": order.kind,
        "status": order.status,
        "ends_at": order.ends_at,
        "site": order.site or None,
        "days": order.days,
    }


def _end(starts_at: dt.datetime, last_exposure_at: dt.datetime | None, days: int) -> dt.datetime:
    # Quarantine end = last exposure + period (docs/method.md "5" item 2), never before the start.
    return max(starts_at, (last_exposure_at or starts_at) + dt.timedelta(days=days))


def control_order_start(
    *,
    person: Person,
    kind: str,
    reason: str,
    starts_at: dt.datetime | None = None,
    last_exposure_at: dt.datetime | None = None,
    site: str = "",
    transport: str = "",
    key_person: KeyPerson | None = None,
    principal,
) -> ControlOrder:
    authorize(principal, Capability.MANAGE_ORDERS, person.grid.path)
    if kind not in OrderKind.values:
        raise DomainError("order_kind", _("Unknown control measure."), field="kind")
    if reason not in OrderReason.values:
        raise DomainError("order_reason", _("Unknown reason."), field="reason")
    if kind in SITE_KINDS and not site.strip():
        raise DomainError("site_required", _("Name the quarantine site or hospital."), field="site")
    starts_at = starts_at or timezone.now()
    if last_exposure_at and last_exposure_at > starts_at + dt.timedelta(days=1):
        raise DomainError("exposure_after_start", _("The last exposure is after the start."), field="last_exposure_at")
    days, needs_test = control_rule_for(kind, reason)
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).first()  # serialise orders per person
        if ControlOrder.objects.open().filter(person=person).exists():
            raise Conflict("order_open", _("This person is already under a control order: extend or transfer it."))
        try:
            with transaction.atomic():
                order = ControlOrder.objects.create(
                    person=person,
                    grid=person.grid,
                    kind=kind,
                    reason=reason,
                    site=site.strip()[:100],
                    transport=transport.strip()[:100],
                    starts_at=starts_at,
                    last_exposure_at=last_exposure_at,
                    days=days,
                    ends_at=_end(starts_at, last_exposure_at, days),
                    requires_negative_test=needs_test,
                    key_person=key_person,
                    created_by=user_of(principal),
                )
        except IntegrityError:
            raise Conflict(
                "order_open", _("This person is already under a control order: extend or transfer it.")
            ) from None
        audit.record(
            principal=principal,
            action="control_order.start",
            obj=order,
            grid_path=person.grid.path,
            changes=audit.diff({}, _order_state(order)),
        )
        audit.record(
            principal=principal,
            action="control_order.start",
            object_type="people.person",
            object_id=str(person.pk),
            grid_path=person.grid.path,
            changes={"order": [None, order.pk], "kind": [None, kind]},
        )
        if key_person is not None:
            # Under control from when the measure starts, not when it was entered (tip → control).
            # The move stores the person's code facts anew, the new order among them.
            move(
                key_person,
                KeyPersonStatus.CONTROLLED,
                principal=principal,
                at=starts_at,
                fields={"assessed_at": key_person.assessed_at or min(timezone.now(), starts_at)},
            )
        else:
            extensions.run("person_facts_changed", person_ids=[person.pk])
        # What follows an order by the method's rules (the household's support services…), in
        # this transaction, as the system: "order_started" contributions.
        extensions.run("order_started", order=order, cause=principal)
    return order


def control_orders_start_household(*, household: Household, kind: str, reason: str, principal, **kwargs) -> list:
    """The same measure for every current member of a household, all or none."""
    members = list(Person.objects.current().filter(household=household).select_related("grid"))
    if not members:
        raise DomainError("household_empty", _("This household has no registered members."))
    key_persons = selectors.key_persons_pending(persons=members)
    with transaction.atomic():
        return [
            control_order_start(
                person=m, kind=kind, reason=reason, key_person=key_persons.get(m.pk), principal=principal, **kwargs
            )
            for m in members
        ]


def _order_move(
    *, order: ControlOrder, target: str, principal, changes: dict | None = None, facts: bool = True, **fields
) -> ControlOrder:
    return move(order, target, principal=principal, fields=fields, changes=changes, refresh=True, facts=facts)


def control_order_change_period(*, order: ControlOrder, days: int, reason_text: str, principal) -> ControlOrder:
    """Extend or shorten an open order (with the reason why)."""
    authorize(principal, Capability.MANAGE_ORDERS, order.grid.path)
    if order.status not in (OrderStatus.ACTIVE, OrderStatus.RELEASE_PROPOSED):
        raise DomainError("order_closed", _("This order is no longer in force."))
    if not (reason_text or "").strip():
        raise DomainError("reason_required", _("Give the reason."), field="reason")
    if not 1 <= int(days) <= 365:
        raise DomainError("days_invalid", _("The period is between 1 and 365 days."), field="days")
    ends_at = _end(order.starts_at, order.last_exposure_at, int(days))
    # A longer period takes a proposed release back; a shorter one is proposed by the next sweep.
    target = OrderStatus.ACTIVE if ends_at > timezone.now() else order.status
    return _order_move(
        order=order,
        target=target,
        principal=principal,
        days=int(days),
        ends_at=ends_at,
        release_proposed_at=None if target == OrderStatus.ACTIVE else order.release_proposed_at,
        changes={"reason": [None, reason_text.strip()[:200]]},
    )


def control_order_transfer(
    *,
    order: ControlOrder,
    kind: str,
    reason: str,
    site: str = "",
    transport: str = "",
    at: dt.datetime | None = None,
    principal,
) -> ControlOrder:
    """Move a person to another measure (home quarantine → hospital isolation on a positive test);
    the new order links back to the old one, so the history is carried."""
    authorize(principal, Capability.MANAGE_ORDERS, order.grid.path)
    at = at or timezone.now()
    if kind in SITE_KINDS and not site.strip():
        raise DomainError("site_required", _("Name the quarantine site or hospital."), field="site")
    if kind not in OrderKind.values or reason not in OrderReason.values:
        raise DomainError("order_kind", _("Unknown control measure."), field="kind")
    with transaction.atomic():
        status = ControlOrder.objects.select_for_update().filter(pk=order.pk).values_list("status", flat=True).get()
        if status == OrderStatus.TRANSFERRED:  # a retry, or a second transfer of the same order: the first stands
            following = ControlOrder.objects.filter(previous_id=order.pk).first()
            if following is None or following.kind != kind:
                raise Conflict(
                    "order_transferred", _("This order was already transferred: transfer the person's current order.")
                )
            return following
        # The person's code facts are stored once, after the new order exists (not also between).
        old = _order_move(
            order=order, target=OrderStatus.TRANSFERRED, principal=principal, transferred_at=at, facts=False
        )
        days, needs_test = control_rule_for(kind, reason)
        new = ControlOrder.objects.create(
            person=old.person,
            grid=old.grid,
            kind=kind,
            reason=reason,
            site=site.strip()[:100],
            transport=transport.strip()[:100],
            starts_at=at,
            last_exposure_at=old.last_exposure_at,
            days=days,
            ends_at=_end(at, None, days),
            requires_negative_test=needs_test,
            previous=old,
            key_person=old.key_person,
            created_by=user_of(principal),
        )
        audit.record(
            principal=principal,
            action="control_order.start",
            obj=new,
            grid_path=new.grid.path,
            changes={**audit.diff({}, _order_state(new)), "previous": [None, old.pk]},
        )
        extensions.run("person_facts_changed", person_ids=[new.person_id])
        extensions.run("order_ended", order=old, cause=principal)
        extensions.run("order_started", order=new, cause=principal)
    return new


def control_order_set_exposure(*, order: ControlOrder, last_exposure_at: dt.datetime, principal) -> ControlOrder:
    """A later exposure moves the period's start (and so its end); a proposed release falls."""
    authorize(principal, Capability.MANAGE_ORDERS, order.grid.path)
    ends_at = _end(order.starts_at, last_exposure_at, order.days)
    target = OrderStatus.ACTIVE if ends_at > timezone.now() else order.status
    return _order_move(
        order=order,
        target=target,
        principal=principal,
        last_exposure_at=last_exposure_at,
        ends_at=ends_at,
        release_proposed_at=None if target == OrderStatus.ACTIVE else order.release_proposed_at,
        changes={"last_exposure_at": [None, last_exposure_at.isoformat()]},
    )


def control_orders_propose_release(*, now: dt.datetime | None = None) -> int:
    """Sweep: active orders whose period is over and whose conditions hold are proposed for
    release; a person with the right approves (docs/method.md "5" item 2). Set-based."""
    now = now or timezone.now()
    due = ControlOrder.objects.filter(status=OrderStatus.ACTIVE, ends_at__lte=now)
    # Other apps add conditions ("release_conditions", e.g. health: a negative test after the
    # start); each takes the queryset of due orders and returns the subset whose condition holds.
    for condition in extensions.get("release_conditions"):
        due = condition(due)
    return len(move_many(due, OrderStatus.RELEASE_PROPOSED, principal=RELEASE_WATCH, at=now))


def control_order_release(
    *, order: ControlOrder, principal, early_reason: str = "", at: dt.datetime | None = None
) -> ControlOrder:
    """解除隔离: approve a proposed release (or, with a reason, release early)."""
    authorize(principal, Capability.APPROVE_RELEASE, order.grid.path)
    if order.status == OrderStatus.ACTIVE and not early_reason.strip():
        raise DomainError(
            "release_not_proposed", _("The release is not proposed yet: the period or a condition is not met.")
        )
    changes = {"early_reason": [None, early_reason.strip()[:200]]} if order.status == OrderStatus.ACTIVE else {}
    with transaction.atomic():
        released = _order_move(
            order=order,
            target=OrderStatus.RELEASED,
            principal=principal,
            changes=changes,
            released_at=at or timezone.now(),
            released_by=user_of(principal),
        )
        extensions.run("order_ended", order=released, cause=principal)
    return released


# ---------------------------------------------------------------- household teams


def team_member_add(*, household: Household, user, role: str, principal) -> TeamMember:
    authorize(principal, Capability.MANAGE_TEAMS, household.grid.path)
    if role not in TeamRole.values:
        raise DomainError("team_role", _("Unknown team role."), field="role")
    with transaction.atomic():
        team, _created = HouseholdTeam.objects.get_or_create(household=household, defaults={"grid": household.grid})
        if team.members.filter(user=user, role=role, ended_at__isnull=True).exists():
            raise Conflict("team_member_exists", _("This person already has this role in the team."))
        member = TeamMember.objects.create(team=team, user=user, role=role)
        audit.record(
            principal=principal,
            action="team_member.add",
            object_type="people.household",
            object_id=str(household.pk),
            grid_path=household.grid.path,
            changes={"user": [None, user.username], "role": [None, role]},
        )
    return member


def team_member_end(*, member: TeamMember, principal) -> TeamMember:
    household = member.team.household
    authorize(principal, Capability.MANAGE_TEAMS, household.grid.path)
    with transaction.atomic():
        locked = TeamMember.objects.select_for_update().get(pk=member.pk)
        if locked.ended_at:
            return locked
        locked.ended_at = timezone.now()
        locked.save(update_fields=["ended_at"])
        audit.record(
            principal=principal,
            action="team_member.end",
            object_type="people.household",
            object_id=str(household.pk),
            grid_path=household.grid.path,
            changes={"user": [locked.user.username, None], "role": [locked.role, None]},
        )
    return locked


RELEASE_SWEEP = ("releases_proposed", control_orders_propose_release)


# ---------------------------------------------------------------- self-registration (返乡申报)

SELF_REGISTRATION = SystemPrincipal("system:self-registration", set())
# A resident who sends the form twice (a double tap, a second try after a bad signal) gets the
# same answer and one tip: the same ID number at the same compound within this time is one tip.
SELF_REGISTRATION_DEDUP = dt.timedelta(hours=24)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def poster_issue(*, grid: GridNode, principal) -> str:
    """A new 返乡申报 poster for a compound grid: a random token (the QR's URL); the old poster's
    QR stops working."""
    if grid.level != GridLevel.GRID:
        raise DomainError("grid_not_compound", _("A poster belongs to a compound grid."), field="grid")
    authorize(principal, Capability.INTAKE, grid.path)
    token = secrets.token_urlsafe(18)
    with transaction.atomic():
        replaced = RegistrationPoster.objects.filter(grid=grid, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        poster = RegistrationPoster.objects.create(
            grid=grid, token_hash=_token_hash(token), token_sealed=seal(token), created_by=principal
        )
        audit.record(
            principal=principal,
            action="poster.issue",
            obj=poster,
            grid_path=grid.path,
            changes={"replaced": [None, bool(replaced)]},
        )
    return token


def poster_token(*, grid: GridNode) -> str | None:
    poster = RegistrationPoster.objects.filter(grid=grid, revoked_at__isnull=True).first()
    return unseal(poster.token_sealed) if poster else None


def poster_grid(token: str) -> GridNode | None:
    """The compound whose current poster carries `token` (None: unknown or replaced)."""
    poster = (
        RegistrationPoster.objects.filter(token_hash=_token_hash(token or ""), revoked_at__isnull=True)
        .select_related("grid")
        .first()
    )
    return poster.grid if poster else None


def _compound_member(grid: GridNode):
    assignment = (
        GridAssignment.objects.active()
        .filter(node=grid, role=Role.GRID_MEMBER)
        .select_related("user")
        .order_by("id")
        .first()
    )
    return assignment.user if assignment else None


def self_registration_submit(
    *,
    grid: GridNode,
    name: str,
    id_number: str,
    phone: str,
    origin_code: str,
    origin_detail: str = "",
    travel_mode: str = TravelMode.OTHER,
    arrival_date: dt.date,
    address: str,
) -> Tip:
    """返乡申报 from a compound's poster (no account): a tip for the compound's grid member to check,
    never a person record. Nothing here looks at who is registered, so the answer is the same for
    a number registered or not (it tells nothing about residents)."""
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise DomainError("name_required", _("Enter the person's name (at most 50 characters)."), field="name")
    number = parse_id_number(id_number)
    phone = parse_phone(phone)
    origin_code = clean_region_code(origin_code)
    if travel_mode not in TravelMode.values:
        raise DomainError("travel_mode", _("Unknown way of travel."), field="travel_mode")
    today = timezone.localdate()
    if not today - dt.timedelta(days=30) <= arrival_date <= today + dt.timedelta(days=30):
        raise DomainError(
            "arrival_date_range", _("Give an arrival date within 30 days of today."), field="arrival_date"
        )
    address = (address or "").strip()
    if not address:
        raise DomainError("address_required", _("Enter the building and room you live in."), field="address")
    id_hash = lookup_hash("id", number.number)
    with transaction.atomic():
        earlier = (
            SelfRegistration.objects.select_related("tip")
            .filter(
                id_number_hash=id_hash,
                tip__grid=grid,
                tip__created_at__gte=timezone.now() - SELF_REGISTRATION_DEDUP,
            )
            .first()
        )
        if earlier is not None:
            return earlier.tip
        arrival = timezone.make_aware(dt.datetime.combine(arrival_date, dt.time(12)))
        detail = (origin_detail or "").strip()[:100]
        tip = Tip.objects.create(
            reported_at=timezone.now(),
            reporter=name,
            origin_code=origin_code,
            origin_name=((region_name(origin_code) or origin_code) + detail)[:100],
            risk_area=risk_area_match(origin_code),
            travel_mode=travel_mode,
            expected_arrival_at=arrival,
            note=address[:200],
            grid=grid,
            source=TipSource.SELF,
            owner=_compound_member(grid),
        )
        SelfRegistration.objects.create(
            tip=tip,
            name=name,
            id_number_sealed=seal(number.number),
            id_number_hash=id_hash,
            id_number_masked=number.masked,
            phone_sealed=seal(phone.number),
            phone_masked=phone.masked,
            origin_detail=detail,
            arrival_date=arrival_date,
            address=address[:200],
        )
        # No personal values in the log: the tip is the record of who declared what.
        audit.record(
            principal=SELF_REGISTRATION,
            action="tip.self_register",
            obj=tip,
            grid_path=grid.path,
            changes={
                "origin": [None, tip.origin_name],
                "risk_area": [None, bool(tip.risk_area_id)],
                "owner": [None, tip.owner_id],
            },
        )
    return tip


def self_registration_check(*, tip: Tip, principal) -> Tip:
    """The grid member has checked a self-registration (called, visited, registered the person
    through the usual forms): it leaves the list of those to check."""
    authorize(principal, Capability.INTAKE, tip.grid.path)
    if tip.source != TipSource.SELF:
        raise DomainError("tip_not_self", _("This tip is not a self-registration."))
    with transaction.atomic():
        locked = Tip.objects.select_for_update().get(pk=tip.pk)
        if locked.checked_at:
            return locked
        locked.checked_at = timezone.now()
        locked.save(update_fields=["checked_at"])
        audit.record(principal=principal, action="tip.check", obj=locked, grid_path=tip.grid.path)
    return locked
