"""Writes of the party chain (六级链条): each authorizes at its grid, is atomic and audited, and
is harmless when repeated (a retry, a ledger imported twice)."""

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.models import GridAssignment
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Conflict, DomainError
from epigrid.core.scoping import authorize, subtree_q
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode, community_path, compound_path, lineage_paths, within
from epigrid.people.models import Household, Person

from .choices import KIND_FOR_LEVEL, SINGLE_ROLES, AssignmentKind, BranchRole, MemberRole, OrgKind, SiteKind
from .models import (
    CentralHousehold,
    LookedAfter,
    PartyMember,
    PartyOrg,
    TemporaryBranch,
    TemporaryBranchMember,
    UnitMember,
)

# Who sets up the chain: the grid heads and the community and street offices (the bundle that
# sets up household teams).
MANAGE = Capability.MANAGE_TEAMS
GROUP_ROLES = {MemberRole.MEMBER, MemberRole.GROUP_LEADER}
COMMITTEE_ROLES = {MemberRole.MEMBER, MemberRole.SECRETARY, MemberRole.DEPUTY_SECRETARY}


def _org_roles(org: PartyOrg) -> set:
    return GROUP_ROLES if org.kind == OrgKind.BUILDING_GROUP else COMMITTEE_ROLES


def covers(org: PartyOrg, path: str) -> bool:
    """True when the grid node at `path` lies in what the organisation covers."""
    if within(path, org.grid.path):
        return True
    return org.kind == OrgKind.BUILDING_GROUP and any(within(path, node.path) for node in org.also_covers.all())


def org_create(*, grid: GridNode, name: str, kind: str = "", also_covers: list[GridNode] = (), principal) -> PartyOrg:
    """A party organisation at the grid node it covers; its kind follows the node's level. The
    same organisation created again is returned as it is."""
    authorize(principal, MANAGE, grid.path)
    expected = KIND_FOR_LEVEL.get(grid.level)
    if expected is None or (kind and kind != expected):
        raise DomainError(
            "org_grid_level",
            _("A party organisation covers a subdistrict, a community, a compound grid or a building."),
            field="grid",
        )
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError("org_name", _("Give the organisation's name (at most 100 characters)."), field="name")
    also_covers = [node for node in also_covers if node.pk != grid.pk]
    for node in also_covers:
        authorize(principal, MANAGE, node.path)
        if (
            expected != OrgKind.BUILDING_GROUP
            or node.level != GridLevel.BUILDING
            or compound_path(node.path) != compound_path(grid.path)
        ):
            raise DomainError(
                "org_also_covers",
                _("A party group may also cover other buildings of its own compound, nothing else."),
                field="also_covers",
            )
    with transaction.atomic():
        existing = PartyOrg.objects.active().select_for_update().filter(grid=grid).first()
        if existing is not None:
            if existing.name == name:
                return existing
            raise Conflict("org_exists", _("This grid already has its party organisation."), field="grid")
        org = PartyOrg.objects.create(kind=expected, name=name, grid=grid)
        if also_covers:
            org.also_covers.set(also_covers)
        audit.record(
            principal=principal,
            action="party_org.create",
            obj=org,
            grid_path=grid.path,
            changes={
                "kind": [None, expected],
                "name": [None, name],
                "also_covers": [None, [n.code for n in also_covers]],
            },
        )
    return org


def org_dissolve(*, org: PartyOrg, principal) -> PartyOrg:
    """Dissolve an organisation; one with members is refused (they move first)."""
    authorize(principal, MANAGE, org.grid.path)
    with transaction.atomic():
        locked = PartyOrg.objects.select_for_update().get(pk=org.pk)
        if locked.dissolved_at:
            return locked
        if PartyMember.objects.active().filter(org=locked).exists():
            raise Conflict("org_has_members", _("End or move its members first, then dissolve the organisation."))
        locked.dissolved_at = timezone.now()
        locked.save(update_fields=["dissolved_at"])
        audit.record(
            principal=principal,
            action="party_org.dissolve",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"dissolved_at": [None, locked.dissolved_at.isoformat()]},
        )
    return locked


def _person_audit(principal, action: str, person: Person, grid_path: str, changes: dict) -> None:
    audit.record(
        principal=principal,
        action=action,
        object_type="people.person",
        object_id=str(person.pk),
        grid_path=grid_path,
        changes=changes,
    )


def member_add(
    *, org: PartyOrg, person: Person, role: str = MemberRole.MEMBER, since: dt.date | None = None, principal
) -> PartyMember:
    """Record a person as a party member of `org` in an office. The same again is returned as it
    is; another office in the same organisation replaces the former one."""
    authorize(principal, MANAGE, org.grid.path)
    if role not in _org_roles(org):
        raise DomainError("member_role", _("This office does not exist in this kind of organisation."), field="role")
    if person.archived_at:
        raise DomainError("person_archived", _("This person's file is archived."), field="person")
    if since and since > timezone.localdate():
        raise DomainError("member_since", _("The date lies in the future."), field="since")
    with transaction.atomic():
        org = PartyOrg.objects.select_for_update().get(pk=org.pk)
        if org.dissolved_at:
            raise Conflict("org_dissolved", _("This organisation is dissolved."))
        current = PartyMember.objects.active().select_for_update().filter(person=person).first()
        if current is not None and current.org_id != org.pk:
            raise Conflict(
                "member_elsewhere",
                _("This person is a member of %(org)s; end that membership first."),
                field="person",
                params={"org": current.org.name},
            )
        if role in SINGLE_ROLES:
            taken = PartyMember.objects.active().filter(org=org, role=role).exclude(person=person)
            if taken.exists():
                raise Conflict(
                    "org_role_taken", _("This organisation already has someone in this office."), field="role"
                )
        if current is not None:
            if current.role == role and (since is None or current.since == since):
                return current
            changes = {"role": [current.role, role]}
            if since is not None and since != current.since:
                changes["since"] = [str(current.since or ""), str(since)]
                current.since = since
            current.role = role
            current.save(update_fields=["role", "since"])
            _person_audit(principal, "party_member.change", person, org.grid.path, changes)
            return current
        member = PartyMember.objects.create(person=person, org=org, grid=org.grid, role=role, since=since)
        _person_audit(
            principal,
            "party_member.add",
            person,
            org.grid.path,
            {"org": [None, org.name], "role": [None, role], "since": [None, str(since or "")]},
        )
    return member


def member_end(*, member: PartyMember, principal) -> PartyMember:
    """End a membership (moved away, transferred); one heading a 党员中心户 is refused."""
    authorize(principal, MANAGE, member.grid.path)
    with transaction.atomic():
        locked = PartyMember.objects.select_for_update().get(pk=member.pk)
        if locked.ended_at:
            return locked
        if CentralHousehold.objects.active().filter(member=locked).exists():
            raise Conflict(
                "member_has_central_household",
                _("This member heads a 党员中心户: hand its households to another first."),
            )
        locked.ended_at = timezone.now()
        locked.save(update_fields=["ended_at"])
        _person_audit(principal, "party_member.end", locked.person, locked.grid.path, {"org": [locked.org.name, None]})
    return locked


def central_household_create(*, member: PartyMember, household: Household | None = None, principal) -> CentralHousehold:
    """Make a party member's household a 党员中心户 (by default the household the member lives in)."""
    household = household or member.person.household
    if household is None:
        raise DomainError("member_without_household", _("This member is registered without a household."))
    authorize(principal, MANAGE, household.grid.path)
    if member.ended_at:
        raise Conflict("member_ended", _("This membership has ended."))
    if member.org.kind not in (OrgKind.BUILDING_GROUP, OrgKind.GRID_BRANCH) or not covers(
        member.org, household.grid.path
    ):
        raise DomainError(
            "central_outside_org",
            _("A 党员中心户 is a household that the member's party group or grid branch covers."),
            field="household",
        )
    with transaction.atomic():
        existing = CentralHousehold.objects.active().select_for_update().filter(household=household).first()
        if existing is not None:
            if existing.member_id == member.pk:
                return existing
            raise Conflict("central_exists", _("This household is already a 党员中心户."), field="household")
        central = CentralHousehold.objects.create(household=household, member=member, grid=household.grid)
        # It looks after itself from now on.
        LookedAfter.objects.active().filter(household=household).update(ended_at=timezone.now())
        audit.record(
            principal=principal,
            action="central_household.create",
            obj=household,
            grid_path=household.grid.path,
            changes={"party_member": [None, member.pk]},
        )
    return central


def central_household_end(*, central: CentralHousehold, principal) -> CentralHousehold:
    authorize(principal, MANAGE, central.grid.path)
    with transaction.atomic():
        locked = CentralHousehold.objects.select_for_update().get(pk=central.pk)
        if locked.ended_at:
            return locked
        now = timezone.now()
        released = LookedAfter.objects.active().filter(central=locked).update(ended_at=now)
        locked.ended_at = now
        locked.save(update_fields=["ended_at"])
        audit.record(
            principal=principal,
            action="central_household.end",
            obj=locked.household,
            grid_path=locked.grid.path,
            changes={"households": [released, 0]},
        )
    return locked


def households_assign(*, central: CentralHousehold, households: list[Household], principal) -> int:
    """Assign households to a 党员中心户 of their own compound; one assigned elsewhere moves.
    Answers how many changed (0 on a retry)."""
    if central.ended_at:
        raise Conflict("central_ended", _("This 党员中心户 is no longer in service."))
    for household in households:
        authorize(principal, MANAGE, household.grid.path)
        if household.archived_at or compound_path(household.grid.path) != compound_path(central.grid.path):
            raise DomainError(
                "looked_after_compound",
                _("A 党员中心户 looks after households of its own compound."),
                field="households",
            )
    changed = 0
    with transaction.atomic():
        centrals = set(
            CentralHousehold.objects.active().filter(household__in=households).values_list("household_id", flat=True)
        )
        for household in households:
            if household.pk in centrals:
                if household.pk == central.household_id:
                    continue
                raise Conflict(
                    "looked_after_is_central",
                    _("%(household)s is a 党员中心户 itself."),
                    field="households",
                    params={"household": household.address},
                )
            current = LookedAfter.objects.active().select_for_update().filter(household=household).first()
            if current is not None and current.central_id == central.pk:
                continue
            before = None
            if current is not None:
                before = current.central_id
                current.ended_at = timezone.now()
                current.save(update_fields=["ended_at"])
            LookedAfter.objects.create(central=central, household=household, grid=household.grid)
            audit.record(
                principal=principal,
                action="looked_after.assign",
                obj=household,
                grid_path=household.grid.path,
                changes={"central_household": [before, central.pk]},
            )
            changed += 1
    return changed


def _end_once(model, pk):
    """Lock the row and stamp its end, once: (row, False) when it had ended already (a retry)."""
    locked = model.objects.select_for_update().get(pk=pk)
    if locked.ended_at:
        return locked, False
    locked.ended_at = timezone.now()
    locked.save(update_fields=["ended_at"])
    return locked, True


def household_release(*, link: LookedAfter, principal) -> LookedAfter:
    """Take a household off its 党员中心户 (it shows as a gap until assigned again)."""
    authorize(principal, MANAGE, link.grid.path)
    with transaction.atomic():
        locked, ended = _end_once(LookedAfter, link.pk)
        if not ended:
            return locked
        audit.record(
            principal=principal,
            action="looked_after.release",
            obj=locked.household,
            grid_path=locked.grid.path,
            changes={"central_household": [locked.central_id, None]},
        )
    return locked


# ---------------------------------------------------------------- temporary branches (临时党支部)

SITE_LEVELS = {
    SiteKind.CHECKPOINT: {GridLevel.GRID},
    SiteKind.COMPOUND: {GridLevel.GRID},
    SiteKind.ROAD_SECTION: {GridLevel.COMMUNITY, GridLevel.SUBDISTRICT},
}


def temporary_branch_open(
    *, grid: GridNode, site_kind: str, name: str, site: str = "", reason: str = "", opened_on: dt.date, principal
) -> TemporaryBranch:
    """Set up a temporary branch; the same one again (same place, site and name, still open) is
    returned as it is."""
    authorize(principal, MANAGE, grid.path)
    if site_kind not in SITE_LEVELS:
        raise DomainError(
            "branch_site_kind", _("Set it up at a checkpoint, a compound or a road section."), field="site_kind"
        )
    if grid.level not in SITE_LEVELS[site_kind]:
        raise DomainError(
            "branch_site_grid",
            _("A checkpoint or a compound is in a compound grid; a road section in a community or subdistrict."),
            field="grid",
        )
    name, site, reason = (name or "").strip(), (site or "").strip(), (reason or "").strip()
    if not name or len(name) > 100:
        raise DomainError("branch_name", _("Give the branch's name (at most 100 characters)."), field="name")
    if site_kind != SiteKind.COMPOUND and not site:
        raise DomainError("branch_site", _("Name the checkpoint or the road section."), field="site")
    if len(site) > 100 or len(reason) > 200:
        raise DomainError("branch_text_long", _("The site or the emergency is too long."), field="site")
    if opened_on > timezone.localdate():
        raise DomainError("branch_opened_on", _("The date lies in the future."), field="opened_on")
    with transaction.atomic():
        existing = (
            TemporaryBranch.objects.select_for_update()
            .filter(grid=grid, site_kind=site_kind, site=site, name=name, closed_on__isnull=True)
            .first()
        )
        if existing is not None:
            return existing
        branch = TemporaryBranch.objects.create(
            grid=grid, site_kind=site_kind, site=site, name=name, reason=reason, opened_on=opened_on
        )
        audit.record(
            principal=principal,
            action="temporary_branch.open",
            obj=branch,
            grid_path=grid.path,
            changes={
                "name": [None, name],
                "site_kind": [None, site_kind],
                "site": [None, site],
                "opened_on": [None, str(opened_on)],
            },
        )
    return branch


def temporary_branch_close(*, branch: TemporaryBranch, closed_on: dt.date, principal) -> TemporaryBranch:
    """Close a temporary branch when its emergency is over; its seats end with it."""
    authorize(principal, MANAGE, branch.grid.path)
    if closed_on > timezone.localdate() or closed_on < branch.opened_on:
        raise DomainError("branch_closed_on", _("It closes between its opening and today."), field="closed_on")
    with transaction.atomic():
        locked = TemporaryBranch.objects.select_for_update().get(pk=branch.pk)
        if locked.closed_on:
            return locked
        locked.closed_on = closed_on
        locked.save(update_fields=["closed_on"])
        ended = TemporaryBranchMember.objects.active().filter(branch=locked).update(ended_at=timezone.now())
        # The registered units' members sent to it are free again.
        UnitMember.objects.filter(assignment=AssignmentKind.BRANCH, branch=locked).update(
            assignment="", branch=None, assigned_at=None
        )
        audit.record(
            principal=principal,
            action="temporary_branch.close",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"closed_on": [None, str(closed_on)], "members": [ended, 0]},
        )
    return locked


def temporary_member_add(
    *,
    branch: TemporaryBranch,
    role: str,
    user=None,
    person: Person | None = None,
    unit_member: UnitMember | None = None,
    principal,
) -> TemporaryBranchMember:
    """Seat a staff account, a person or a party member of a registered unit (双报到) in a
    temporary branch. Staff serve in the branch's community (an assignment there); a person is one
    the caller found in their own area; a unit member belongs to a unit of the branch's community,
    sits as such, and is thereby assigned to the branch (UnitMember.assignment, kept in step)."""
    authorize(principal, MANAGE, branch.grid.path)
    if role not in BranchRole.values:
        raise DomainError("branch_role", _("Unknown role in a temporary branch."), field="role")
    if sum(x is not None for x in (user, person, unit_member)) != 1:
        raise DomainError("branch_member_who", _("Choose one staff member or one person."), field="user")
    if unit_member is not None:
        if role != BranchRole.UNIT_MEMBER:
            raise DomainError("branch_role", _("Unknown role in a temporary branch."), field="role")
        if unit_member.grid.path != community_path(branch.grid.path):
            raise DomainError(
                "branch_member_elsewhere", _("This unit has not registered with this community."), field="unit_member"
            )
    elif user is not None:
        community = community_path(branch.grid.path) or branch.grid.path
        serves = (
            GridAssignment.objects.active()
            .filter(user=user)
            .filter(subtree_q("node__path", community) | Q(node__path__in=lineage_paths(branch.grid.path)))
        )
        if not serves.exists():
            raise DomainError("branch_member_elsewhere", _("This staff member does not serve here."), field="user")
    elif person.archived_at:
        raise DomainError("person_archived", _("This person's file is archived."), field="person")
    with transaction.atomic():
        locked = TemporaryBranch.objects.select_for_update().get(pk=branch.pk)
        if locked.closed_on:
            raise Conflict("branch_closed", _("This temporary branch is closed."))
        seats = TemporaryBranchMember.objects.active().filter(branch=locked)
        if unit_member is not None:
            current = seats.filter(unit_member=unit_member).first()
            _unit_member_sent_to(unit_member, locked, principal=principal)
        elif user is not None:
            current = seats.filter(user=user).first()
        else:
            current = seats.filter(person=person).first()
        if current is not None and current.role == role:
            return current
        if (
            role == BranchRole.SECRETARY
            and seats.filter(role=BranchRole.SECRETARY).exclude(pk=getattr(current, "pk", None)).exists()
        ):
            raise Conflict(
                "branch_secretary_taken", _("This temporary branch already has its secretary."), field="role"
            )
        if current is not None:
            before = current.role
            current.role = role
            current.save(update_fields=["role"])
            member = current
        else:
            before = None
            member = TemporaryBranchMember.objects.create(
                branch=locked, grid=locked.grid, role=role, user=user, person=person, unit_member=unit_member
            )
        audit.record(
            principal=principal,
            action="temporary_branch.member",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"member": [None, member.pk], "role": [before, role]},
        )
    return member


def _unit_member_sent_to(member: UnitMember, branch: TemporaryBranch | None, *, principal, from_branch=None) -> None:
    """Keep a unit member's assignment in step with their seat: sent to `branch`, or (None) no
    longer assigned to `from_branch`. Inside the caller's transaction; audited when it changes."""
    locked = UnitMember.objects.select_for_update().get(pk=member.pk)
    if branch is not None:
        if locked.assignment == AssignmentKind.BRANCH and locked.branch_id == branch.pk:
            return
        fields = {"assignment": AssignmentKind.BRANCH, "branch_id": branch.pk, "duty": "", "wish_id": None}
        stamp = timezone.now()
    else:
        if locked.assignment != AssignmentKind.BRANCH or locked.branch_id != from_branch:
            return
        fields = {"assignment": "", "branch_id": None, "duty": "", "wish_id": None}
        stamp = None
    before = {k: getattr(locked, k) for k in fields}
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.assigned_at = stamp
    locked.save(update_fields=[*fields, "assigned_at"])
    audit.record(
        principal=principal,
        action="unit_member.assign",
        obj=locked,
        grid_path=locked.grid.path,
        changes={k: [before[k], v] for k, v in fields.items() if before[k] != v},
    )


def temporary_member_end(*, member: TemporaryBranchMember, principal) -> TemporaryBranchMember:
    authorize(principal, MANAGE, member.grid.path)
    with transaction.atomic():
        locked, ended = _end_once(TemporaryBranchMember, member.pk)
        if not ended:
            return locked
        if locked.unit_member_id:  # no longer in the branch: no longer assigned to it
            _unit_member_sent_to(locked.unit_member, None, principal=principal, from_branch=locked.branch_id)
        audit.record(
            principal=principal,
            action="temporary_branch.member_end",
            object_type="mobilization.temporarybranch",
            object_id=str(locked.branch_id),
            grid_path=locked.grid.path,
            changes={"member": [locked.pk, None], "role": [locked.role, None]},
        )
    return locked
