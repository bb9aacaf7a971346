"""双报到 (docs/method.md "3"): organisations based in the area — units, new economic and social
organisations, enterprises of office buildings — and their party members report to the
community (unit, contact, members, skills, hours offered); the community sends each member to a
temporary branch, a duty or a wish, and issues 倡议书 (appeals) to all its registered units,
recording each unit's acknowledgement.

Who does what: everything here is the community office's, `manage_teams` at the community (its
secretary and staff, the subdistrict, the command center); whoever sees the community reads it.
Every write is atomic and audited; a retry changes nothing."""

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import seal, unseal
from epigrid.core.errors import Conflict, DomainError, NotFound
from epigrid.core.scoping import VIEW, authorize, subtree_q, user_of
from epigrid.core.validators import parse_phone
from epigrid.grids.models import GridNode, community_path

from . import services
from .choices import AssignmentKind, BranchRole, ShiftKind, UnitKind, WishStatus
from .models import Appeal, AppealAck, ReportingUnit, TemporaryBranch, TemporaryBranchMember, UnitMember, Wish
from .volunteers import _community, _text

MANAGE = Capability.MANAGE_TEAMS
MAX_HOURS = 168  # a week


def _hours(value) -> int:
    try:
        hours = int(value or 0)
    except (TypeError, ValueError):
        hours = -1
    if not 0 <= hours <= MAX_HOURS:
        raise DomainError("hours_invalid", _("Give the hours a week as a number from 0 to 168."), field="hours_offered")
    return hours


# ---------------------------------------------------------------- units and their members


def unit_register(
    *,
    grid: GridNode,
    kind: str,
    name: str,
    contact_name: str,
    contact_phone: str,
    skills: str = "",
    hours_offered=0,
    principal,
) -> ReportingUnit:
    """A unit reports to the community; the same name again is answered as it is."""
    _community(grid)
    authorize(principal, MANAGE, grid.path)
    if kind not in UnitKind.values:
        raise DomainError("unit_kind", _("Choose what kind of organisation it is."), field="kind")
    name = _text(name, field="name", required=True, limit=100)
    contact_name = _text(contact_name, field="contact_name", required=True, limit=50)
    phone = parse_phone(contact_phone, field="contact_phone")
    skills = _text(skills, field="skills")
    hours = _hours(hours_offered)
    with transaction.atomic():
        earlier = ReportingUnit.objects.select_for_update().filter(grid=grid, name=name).first()
        if earlier is not None:
            return earlier
        unit = ReportingUnit.objects.create(
            grid=grid,
            kind=kind,
            name=name,
            contact_name=contact_name,
            contact_phone_sealed=seal(phone.number),
            contact_phone_masked=phone.masked,
            skills=skills,
            hours_offered=hours,
            registered_by=user_of(principal),
        )
        audit.record(
            principal=principal,
            action="reporting_unit.register",
            obj=unit,
            grid_path=grid.path,
            changes={"kind": [None, kind], "name": [None, name]},
        )
    return unit


def unit_member_add(
    *, unit: ReportingUnit, name: str, phone: str = "", skills: str = "", hours_offered=0, principal
) -> UnitMember:
    """A party member of the unit reports in (name, phone, skills, hours a week). The same name
    and phone again is answered as it is."""
    authorize(principal, MANAGE, unit.grid.path)
    name = _text(name, field="name", required=True, limit=50)
    number = parse_phone(phone) if (phone or "").strip() else None
    skills = _text(skills, field="skills")
    hours = _hours(hours_offered)
    masked = number.masked if number else ""
    with transaction.atomic():
        ReportingUnit.objects.select_for_update().get(pk=unit.pk)
        earlier = UnitMember.objects.filter(unit=unit, name=name, phone_masked=masked).first()
        if earlier is not None:
            return earlier
        member = UnitMember.objects.create(
            unit=unit,
            grid=unit.grid,
            name=name,
            phone_sealed=seal(number.number) if number else None,
            phone_masked=masked,
            skills=skills,
            hours_offered=hours,
        )
        audit.record(
            principal=principal,
            action="unit_member.add",
            obj=member,
            grid_path=unit.grid.path,
            changes={"unit": [None, unit.pk], "name": [None, name]},
        )
    return member


def _apply(obj, fields: dict, *, action: str, principal, sensitive=()) -> bool:
    """Set the fields that differ, save them and audit the change (a sealed value by name only);
    False when nothing differed."""
    changed = {k: v for k, v in fields.items() if getattr(obj, k) != v}
    if not changed:
        return False
    changes = {k: [None, "changed"] if k in sensitive else [getattr(obj, k), v] for k, v in changed.items()}
    for key, value in changed.items():
        setattr(obj, key, value)
    obj.save(update_fields=list(changed))
    audit.record(principal=principal, action=action, obj=obj, grid_path=obj.grid.path, changes=changes)
    return True


def unit_update(
    *,
    unit: ReportingUnit,
    kind: str,
    contact_name: str,
    contact_phone: str | None,
    skills: str = "",
    hours_offered=0,
    principal,
) -> bool:
    """Correct a registered unit's details (its name and community are its key, never changed);
    `contact_phone` None keeps the phone on file. True when something changed."""
    authorize(principal, MANAGE, unit.grid.path)
    if kind not in UnitKind.values:
        raise DomainError("unit_kind", _("Choose what kind of organisation it is."), field="kind")
    fields = {
        "kind": kind,
        "contact_name": _text(contact_name, field="contact_name", required=True, limit=50),
        "skills": _text(skills, field="skills"),
        "hours_offered": _hours(hours_offered),
    }
    with transaction.atomic():
        locked = ReportingUnit.objects.select_for_update().select_related("grid").get(pk=unit.pk)
        if contact_phone is not None:
            phone = parse_phone(contact_phone, field="contact_phone")
            if phone.masked != locked.contact_phone_masked or unseal(locked.contact_phone_sealed) != phone.number:
                fields.update(contact_phone_sealed=seal(phone.number), contact_phone_masked=phone.masked)
        return _apply(
            locked,
            fields,
            action="reporting_unit.update",
            principal=principal,
            sensitive=("contact_phone_sealed", "contact_phone_masked"),
        )


def unit_member_update(*, member: UnitMember, phone: str | None, skills: str = "", hours_offered=0, principal) -> bool:
    """Correct a unit member's phone, skills and hours (`phone` None keeps the one on file)."""
    authorize(principal, MANAGE, member.grid.path)
    fields = {"skills": _text(skills, field="skills"), "hours_offered": _hours(hours_offered)}
    with transaction.atomic():
        locked = UnitMember.objects.select_for_update().select_related("grid").get(pk=member.pk)
        if phone is not None:
            number = parse_phone(phone)
            if locked.phone_sealed is None or unseal(locked.phone_sealed) != number.number:
                fields.update(phone_sealed=seal(number.number), phone_masked=number.masked)
        return _apply(
            locked,
            fields,
            action="unit_member.update",
            principal=principal,
            sensitive=("phone_sealed", "phone_masked"),
        )


def unit_member_assign(
    *,
    member: UnitMember,
    branch: TemporaryBranch | None = None,
    duty: str = "",
    wish: Wish | None = None,
    note: str = "",
    principal,
) -> UnitMember:
    """The community sends the member to one place: an open temporary branch of the community, a
    duty (值守, 排查, 消杀, 宣传, a service), or an open wish of the community. A new assignment
    replaces the last one; the same one again changes nothing."""
    authorize(principal, MANAGE, member.grid.path)
    community = member.grid.path
    chosen = [x for x in (branch, duty, wish) if x]
    if len(chosen) != 1:
        raise DomainError("assignment_one", _("Choose one: a temporary branch, a duty or a wish."), field="assignment")
    fields = {"branch_id": None, "duty": "", "wish_id": None, "note": _text(note, field="note")}
    if branch is not None:
        if community_path(branch.grid.path) != community:
            raise NotFound("branch_not_found", _("No such temporary branch in this community."))
        if branch.closed_on is not None:
            raise Conflict("branch_closed", _("This temporary branch is closed."), field="branch")
        fields.update(assignment=AssignmentKind.BRANCH, branch_id=branch.pk)
    elif duty:
        if duty not in ShiftKind.values:
            raise DomainError("shift_kind", _("Unknown duty."), field="duty")
        fields.update(assignment=AssignmentKind.DUTY, duty=duty)
    else:
        if community_path(wish.grid.path) != community:
            raise NotFound("wish_not_found", _("No such wish."))
        if wish.status not in (WishStatus.OPEN, WishStatus.CLAIMED):
            raise Conflict("wish_not_open", _("This wish is no longer open."), field="wish")
        fields.update(assignment=AssignmentKind.WISH, wish_id=wish.pk)
    branch_pk = getattr(branch, "pk", None)
    with transaction.atomic():
        locked = UnitMember.objects.select_for_update().select_related("grid").get(pk=member.pk)
        before = {k: getattr(locked, k) for k in ("assignment", "branch_id", "duty", "wish_id", "note")}
        after = {k: fields[k] for k in before}
        if before == after:
            return locked
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.assigned_at = timezone.now()
        locked.save(update_fields=[*fields, "assigned_at"])
        audit.record(
            principal=principal,
            action="unit_member.assign",
            obj=locked,
            grid_path=locked.grid.path,
            changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
        )
        # Sent to a branch: a seat in it; sent elsewhere: the seat of the last branch ends.
        for seat in TemporaryBranchMember.objects.active().filter(unit_member=locked).exclude(branch_id=branch_pk):
            services.temporary_member_end(member=seat, principal=principal)
        if branch is not None:
            services.temporary_member_add(
                branch=branch, role=BranchRole.UNIT_MEMBER, unit_member=locked, principal=principal
            )
            locked.refresh_from_db()
    return locked


# ---------------------------------------------------------------- appeals (倡议书)


def appeal_issue(*, grid: GridNode, title: str, text: str, principal) -> Appeal:
    """An appeal to every unit registered with the community; each unit's acknowledgement starts
    pending. A community without a registered unit has no one to appeal to (409)."""
    _community(grid)
    authorize(principal, MANAGE, grid.path)
    title = _text(title, field="title", required=True, limit=100)
    text = (text or "").strip()
    if not text:
        raise DomainError("text_required", _("Fill in this field."), field="text")
    if len(text) > 5000:
        raise DomainError("text_too_long", _("At most %(n)s characters."), field="text", params={"n": 5000})
    with transaction.atomic():
        units = list(ReportingUnit.objects.filter(grid=grid).order_by("pk"))
        if not units:
            raise Conflict("appeal_no_units", _("No unit has registered with this community yet."), field="grid")
        appeal = Appeal.objects.create(grid=grid, title=title, text=text, issued_by=user_of(principal))
        AppealAck.objects.bulk_create([AppealAck(appeal=appeal, unit=u, grid=grid) for u in units])
        audit.record(
            principal=principal,
            action="appeal.issue",
            obj=appeal,
            grid_path=grid.path,
            changes={"title": [None, title], "units": [None, len(units)]},
        )
    return appeal


def appeal_acknowledge(*, ack: AppealAck, by_name: str, principal) -> AppealAck:
    """Record that the unit acknowledged the appeal, and who there; acknowledged once (a retry
    changes nothing)."""
    authorize(principal, MANAGE, ack.grid.path)
    by_name = _text(by_name, field="by_name", required=True, limit=50)
    with transaction.atomic():
        locked = AppealAck.objects.select_for_update().get(pk=ack.pk)
        if locked.acknowledged_at is not None:
            return locked
        locked.acknowledged_at, locked.acknowledged_name = timezone.now(), by_name
        locked.recorded_by = user_of(principal)
        locked.save(update_fields=["acknowledged_at", "acknowledged_name", "recorded_by"])
        audit.record(
            principal=principal,
            action="appeal.ack",
            obj=locked.appeal,
            grid_path=locked.grid.path,
            changes={"unit": [None, locked.unit_id], "by": [None, by_name]},
        )
    return locked


# ---------------------------------------------------------------- reading


def unit_list(*, user):
    return (
        ReportingUnit.objects.restrict(user)
        .select_related("grid")
        .annotate(member_count=Count("members"))
        .order_by("grid__path", "kind", "name")
    )


def unit_get(*, user, pk, capability: str = VIEW) -> ReportingUnit:
    return ReportingUnit.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("unit_not_found", _("No such unit."))
    )


def unit_member_get(*, user, pk, capability: str = VIEW) -> UnitMember:
    return UnitMember.objects.select_related("grid", "unit", "branch", "wish").get_for(
        user, capability, pk=pk, missing=NotFound("unit_member_not_found", _("No such member."))
    )


def unit_members(unit: ReportingUnit):
    return unit.members.select_related("branch", "wish").order_by("name", "id")


def appeal_list(*, user):
    return (
        Appeal.objects.restrict(user)
        .select_related("grid")
        .annotate(unit_count=Count("acks"), acknowledged=Count("acks", filter=Q(acks__acknowledged_at__isnull=False)))
        .order_by("-issued_at", "-id")
    )


def appeal_get(*, user, pk, capability: str = VIEW) -> Appeal:
    return Appeal.objects.select_related("grid", "issued_by").get_for(
        user, capability, pk=pk, missing=NotFound("appeal_not_found", _("No such appeal."))
    )


def appeal_acks(appeal: Appeal):
    """The units' acknowledgements, those still owed first."""
    return appeal.acks.select_related("unit").order_by(F("acknowledged_at").asc(nulls_first=True), "unit__name")


def ack_get(*, user, pk, capability: str = VIEW) -> AppealAck:
    return AppealAck.objects.select_related("grid", "unit", "appeal").get_for(
        user, capability, pk=pk, missing=NotFound("appeal_ack_not_found", _("No such acknowledgement."))
    )


def assignable(member: UnitMember) -> dict:
    """What the member can be sent to: the community's open temporary branches and open wishes."""
    return {
        "branches": TemporaryBranch.objects.filter(subtree_q("grid__path", member.grid.path), closed_on__isnull=True)
        .select_related("grid")
        .order_by("name"),
        "wishes": Wish.objects.filter(
            subtree_q("grid__path", member.grid.path), status__in=(WishStatus.OPEN, WishStatus.CLAIMED)
        )
        .select_related("household")
        .order_by("created_at")[:100],
    }
