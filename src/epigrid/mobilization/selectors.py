"""Reads of the party chain: the chain above a household, the organisations in a user's sight,
and the chain's coverage gaps (零疏漏)."""

from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Prefetch, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from epigrid.core.extensions import GapCheck
from epigrid.core.scoping import VIEW, subtree_q
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode, ancestor_path, lineage_paths
from epigrid.people.models import Household

from .choices import RESPONSIBLE_ROLES, OrgKind, SiteKind
from .models import (
    CentralHousehold,
    LookedAfter,
    PartyMember,
    PartyOrg,
    TemporaryBranch,
    TemporaryBranchMember,
)

CHAIN_LABELS = {
    "household": _("Resident household"),
    "central": _("Party member central household"),
    OrgKind.BUILDING_GROUP: _("Building party group"),
    OrgKind.GRID_BRANCH: _("Grid party branch"),
    OrgKind.COMMUNITY_COMMITTEE: _("Community party committee"),
    OrgKind.STREET_COMMITTEE: _("Street party working committee"),
}


@dataclass
class Link:
    """One level of the chain above a household: who answers for it there, or a gap."""

    level: str
    label: object
    name: str = ""
    responsible: list = field(default_factory=list)  # PartyMember rows (secretary, group leader)
    org: PartyOrg | None = None
    central: CentralHousehold | None = None

    @property
    def missing(self) -> bool:
        return not self.name


def _active_orgs():
    return (
        PartyOrg.objects.active()
        .select_related("grid")
        .prefetch_related(
            Prefetch(
                "members",
                queryset=PartyMember.objects.active().filter(role__in=RESPONSIBLE_ROLES).select_related("person"),
                to_attr="responsible",
            )
        )
    )


def central_for(household: Household) -> CentralHousehold | None:
    """The 党员中心户 that looks after the household: itself when it is one."""
    own = CentralHousehold.objects.active().filter(household=household).select_related("member__person", "household")
    central = own.first()
    if central is None:
        link = (
            LookedAfter.objects.active()
            .filter(household=household)
            .select_related("central__member__person", "central__household")
            .first()
        )
        central = link.central if link else None
    return central


def household_chain(household: Household) -> list[Link]:
    """The chain from the household up to the street's party working committee, bottom first.
    Read for a household the caller may see: who answers for it is shown whoever they are."""
    path = household.grid.path
    lineage = lineage_paths(path)
    orgs = {
        org.kind: org
        for org in _active_orgs()
        .filter(Q(grid__path__in=lineage) | Q(kind=OrgKind.BUILDING_GROUP, also_covers__path__in=lineage))
        .distinct()
    }
    central = central_for(household)
    chain = [Link("household", CHAIN_LABELS["household"], name=household.address)]
    chain.append(
        Link(
            "central",
            CHAIN_LABELS["central"],
            name=central.household.address if central else "",
            responsible=[central.member] if central else [],
            central=central,
        )
    )
    kinds = [OrgKind.GRID_BRANCH, OrgKind.COMMUNITY_COMMITTEE, OrgKind.STREET_COMMITTEE]
    if ancestor_path(path, GridLevel.BUILDING):  # a household straight in a compound grid has no group
        kinds.insert(0, OrgKind.BUILDING_GROUP)
    for kind in kinds:
        org = orgs.get(kind)
        chain.append(
            Link(
                kind,
                CHAIN_LABELS[kind],
                name=org.name if org else "",
                responsible=org.responsible if org else [],
                org=org,
            )
        )
    return chain


def org_list(*, user, grid_path: str = ""):
    """Organisations in the user's sight, in the order of the grid tree (a parent before its children)."""
    orgs = _active_orgs().restrict(user)
    if grid_path:
        orgs = orgs.in_subtree(grid_path)
    return orgs.order_by("grid__path")


def org_get(*, user, pk, capability: str = VIEW) -> PartyOrg:
    return _active_orgs().get_for(user, capability, pk=pk)


def org_members(org: PartyOrg):
    return (
        PartyMember.objects.active()
        .filter(org=org)
        .select_related("person", "person__household")
        .order_by("role", "id")
    )


def org_centrals(org: PartyOrg):
    """The 党员中心户 of the organisation's members, with the households each looks after."""
    return (
        CentralHousehold.objects.active()
        .filter(member__org=org)
        .select_related("household", "member__person")
        .prefetch_related(
            Prefetch("links", queryset=LookedAfter.objects.active().select_related("household"), to_attr="households")
        )
        .order_by("household__address")
    )


def centrals_of_compound(path: str):
    compound = ancestor_path(path, GridLevel.GRID)
    return (
        CentralHousehold.objects.active()
        .filter(subtree_q("grid__path", compound))
        .select_related("household", "member__person")
        .order_by("household__address")
    )


# ---------------------------------------------------------------- coverage (零疏漏)


def _under_chain(lookup: str) -> Q | None:
    """Where the chain is set up: under a street party working committee. Elsewhere its levels
    are not yet counted as gaps (a subdistrict that has not started its chain has one gap less
    to read, not thousands)."""
    roots = PartyOrg.objects.active().filter(kind=OrgKind.STREET_COMMITTEE).values_list("grid__path", flat=True)
    condition = Q()
    for path in roots:
        condition |= subtree_q(lookup, path)
    return condition or None


def _nodes_without(level: str, kind: str):
    under = _under_chain("path")
    if under is None:
        return GridNode.objects.none()
    org_here = Exists(PartyOrg.objects.active().filter(grid=OuterRef("pk")))
    missing = ~org_here
    if kind == OrgKind.BUILDING_GROUP:
        also = PartyOrg.also_covers.through.objects.filter(gridnode=OuterRef("pk"), partyorg__dissolved_at__isnull=True)
        missing &= ~Exists(also)
    return GridNode.objects.filter(level=level).filter(under).filter(missing)


def communities_without_committee():
    return _nodes_without(GridLevel.COMMUNITY, OrgKind.COMMUNITY_COMMITTEE)


def compounds_without_branch():
    return _nodes_without(GridLevel.GRID, OrgKind.GRID_BRANCH)


def buildings_without_group():
    return _nodes_without(GridLevel.BUILDING, OrgKind.BUILDING_GROUP)


def households_without_central():
    under = _under_chain("grid__path")
    if under is None:
        return Household.objects.none()
    return (
        Household.objects.filter(archived_at__isnull=True)
        .filter(under)
        .filter(~Exists(LookedAfter.objects.active().filter(household=OuterRef("pk"))))
        .filter(~Exists(CentralHousehold.objects.active().filter(household=OuterRef("pk"))))
    )


def _fix_at(node: GridNode) -> str:
    return f"{reverse('mobilization:chain')}?grid={node.code}#new-org"


COMMUNITY_GAP = GapCheck(
    "chain_community_without_committee",
    _("Community without a party committee"),
    communities_without_committee,
    _fix_at,
)
BRANCH_GAP = GapCheck(
    "chain_compound_without_branch", _("Compound grid without a party branch"), compounds_without_branch, _fix_at
)
GROUP_GAP = GapCheck(
    "chain_building_without_group", _("Building without a party group"), buildings_without_group, _fix_at
)
CENTRAL_GAP = GapCheck(
    "chain_household_without_central",
    _("Household not looked after by a party member central household"),
    households_without_central,
    lambda household: reverse("people:household", args=[household.pk]) + "#chain",
)


# ---------------------------------------------------------------- temporary branches


def _with_seats(branches):
    return branches.select_related("grid").prefetch_related(
        Prefetch(
            "members",
            queryset=TemporaryBranchMember.objects.active()
            .select_related("user", "person", "unit_member__unit")
            .order_by("role", "id"),
            to_attr="seats",
        )
    )


def temporary_branch_list(*, user, open_only: bool = False):
    branches = _with_seats(TemporaryBranch.objects.restrict(user))
    if open_only:
        branches = branches.filter(closed_on__isnull=True)
    return branches.order_by(F("closed_on").desc(nulls_first=True), "-opened_on", "grid__path", "id")


def temporary_branch_get(*, user, pk, capability: str = VIEW) -> TemporaryBranch:
    return _with_seats(TemporaryBranch.objects.all()).get_for(user, capability, pk=pk)


def branches_at_checkpoint(checkpoint):
    """Open temporary branches at the checkpoint (named by its compound and name) or over its
    whole compound."""
    return _with_seats(
        TemporaryBranch.objects.filter(grid_id=checkpoint.grid_id, closed_on__isnull=True).filter(
            Q(site_kind=SiteKind.CHECKPOINT, site=checkpoint.name) | Q(site_kind=SiteKind.COMPOUND)
        )
    ).order_by("opened_on", "id")
