"""/api/v1/mobilization: the party chain (六级链条)."""

import datetime as dt
from typing import Literal

from django.utils.translation import gettext_lazy as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from epigrid.accounts.models import GridAssignment
from epigrid.core.api import ERRORS, EventDate, In
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.job_api import GridJobIn, JobOut, job_accepted
from epigrid.core.tabular import read_upload
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Household

from . import ledger_jobs, ledgers, selectors, services, team_ledgers
from .choices import BranchRole, MemberRole, OrgKind, SiteKind
from .models import CentralHousehold, PartyMember, PartyOrg, TemporaryBranch, TemporaryBranchMember

router = Router(tags=["mobilization"])
MANAGE = services.MANAGE


class MemberOut(Schema):
    id: int
    person_id: int
    person_name: str
    org_id: int
    role: MemberRole
    since: dt.date | None

    @staticmethod
    def from_model(m: PartyMember) -> dict:
        return {
            "id": m.pk,
            "person_id": m.person_id,
            "person_name": m.person.name,
            "org_id": m.org_id,
            "role": m.role,
            "since": m.since,
        }


class OrgOut(Schema):
    id: int
    kind: OrgKind
    name: str
    grid: str
    also_covers: list[str]
    responsible: list[MemberOut]

    @staticmethod
    def from_model(org: PartyOrg) -> dict:
        responsible = getattr(org, "responsible", None)
        if responsible is None:
            responsible = list(selectors.org_members(org).filter(role__in=services.SINGLE_ROLES))
        return {
            "id": org.pk,
            "kind": org.kind,
            "name": org.name,
            "grid": org.grid.code,
            "also_covers": [n.code for n in org.also_covers.all()],
            "responsible": [MemberOut.from_model(m) for m in responsible],
        }


class CentralOut(Schema):
    id: int
    household_id: int
    member: MemberOut
    household_ids: list[int]

    @staticmethod
    def from_model(c: CentralHousehold) -> dict:
        links = getattr(c, "households", None)
        if links is None:
            links = list(c.links.filter(ended_at__isnull=True))
        return {
            "id": c.pk,
            "household_id": c.household_id,
            "member": MemberOut.from_model(c.member),
            "household_ids": [link.household_id for link in links],
        }


class OrgDetailOut(OrgOut):
    members: list[MemberOut]
    central_households: list[CentralOut]


class OrgIn(In):
    grid: str
    name: str
    also_covers: list[str] = []


class ConfirmIn(In):
    confirm: bool = False


class MemberIn(In):
    person_id: int
    role: MemberRole = MemberRole.MEMBER
    since: EventDate | None = None


class CentralHouseholdsIn(In):
    household_ids: list[int]


class ChainLinkOut(Schema):
    level: str
    label: str
    name: str
    org_id: int | None
    responsible: list[str]


@router.get(
    "/mobilization/orgs",
    response={200: list[OrgOut], **ERRORS},
    summary="Party organisations in sight",
    description=(
        "Who may call: any user with a role; answers the party organisations (not dissolved) whose grid the "
        "caller sees. Filter: `grid` (a subtree; 404 `grid_not_found` out of sight). Ordered by the grid "
        "tree, a parent before its children; not paged. Reads only: no cascade."
    ),
)
def org_list(request, grid: str = ""):
    root = grid_node_get(user=request.user, code=grid) if grid else None
    orgs = selectors.org_list(user=request.user, grid_path=root.path if root else "").prefetch_related("also_covers")
    return [OrgOut.from_model(o) for o in orgs]


@router.post(
    "/mobilization/orgs",
    response={201: OrgOut, **ERRORS},
    summary="Set up a party organisation at a grid",
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over `grid` and every `also_covers` building (403 in sight without it, 404 out of "
        "sight, `grid_not_found`). The kind follows the grid's level; the same organisation again is answered "
        "as it is, another name at a grid that has one is 409 `org_exists`. Audited. No cascade."
    ),
)
def org_create(request, payload: OrgIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    also = [grid_node_get(user=request.user, code=code) for code in payload.also_covers]
    org = services.org_create(grid=grid, name=payload.name, also_covers=also, principal=request.user)
    return Status(201, OrgOut.from_model(org))


@router.get(
    "/mobilization/orgs/{pk}",
    response={200: OrgDetailOut, **ERRORS},
    description=(
        "Who may call: a user who sees the organisation's grid (else 404 `not_found`, whether or not it "
        "exists; a dissolved one too). Its members and its 党员中心户 with the households each looks after. Reads "
        "only: no cascade."
    ),
)
def org_detail(request, pk: int):
    org = selectors.org_get(user=request.user, pk=pk)
    return {
        **OrgOut.from_model(org),
        "members": [MemberOut.from_model(m) for m in selectors.org_members(org)],
        "central_households": [CentralOut.from_model(c) for c in selectors.org_centrals(org)],
    }


@router.post(
    "/mobilization/orgs/{pk}/dissolve",
    response={200: OrgOut, **ERRORS},
    summary="Dissolve (confirm: true)",
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the organisation's grid (403 in sight without it, 404 out of sight). Without "
        "`confirm: true` nothing happens (400 `confirm_required`); one with members is 409 `org_has_members`. "
        "Audited. No cascade."
    ),
)
def org_dissolve(request, pk: int, payload: ConfirmIn):
    org = selectors.org_get(user=request.user, pk=pk, capability=MANAGE)
    if not payload.confirm:
        raise DomainError("confirm_required", _("Send confirm: true: dissolving cannot be undone."), field="confirm")
    return OrgOut.from_model(services.org_dissolve(org=org, principal=request.user))


@router.post(
    "/mobilization/orgs/{pk}/members",
    response={201: MemberOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the organisation's grid (403 in sight without it, 404 out of sight); the "
        "person must be in the caller's sight (404 `person_not_found`). Another office in the same "
        "organisation replaces the former one; a member of another organisation is 409 `member_elsewhere`, a "
        "taken secretary or leader's office 409 `org_role_taken`. Idempotent; audited. No cascade."
    ),
)
def member_add(request, pk: int, payload: MemberIn):
    org = selectors.org_get(user=request.user, pk=pk, capability=MANAGE)
    person = people_selectors.person_get(user=request.user, pk=payload.person_id)
    member = services.member_add(
        org=org, person=person, role=payload.role.value, since=payload.since, principal=request.user
    )
    return Status(201, MemberOut.from_model(member))


@router.post(
    "/mobilization/members/{pk}/end",
    response={200: MemberOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the membership's grid (its organisation's; 403 in sight without it, 404 out "
        "of sight). A member heading a 党员中心户 is 409 `member_has_central_household`; ending an ended one "
        "changes nothing. Audited. No cascade."
    ),
)
def member_end(request, pk: int):
    member = PartyMember.objects.select_related("person", "org", "grid").get_for(request.user, MANAGE, pk=pk)
    return MemberOut.from_model(services.member_end(member=member, principal=request.user))


@router.post(
    "/mobilization/members/{pk}/central",
    response={201: CentralOut, **ERRORS},
    summary="Make the member's household a 党员中心户",
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the membership's grid and the member's household's grid (403 in sight "
        "without it, 404 out of sight). The household must lie in what the member's party group or grid "
        "branch covers; the household stops being looked after by another 党员中心户 in the same write. "
        "Idempotent; audited. No cascade."
    ),
)
def central_create(request, pk: int):
    member = PartyMember.objects.select_related("person__household__grid", "org__grid").get_for(
        request.user, MANAGE, pk=pk
    )
    return Status(201, CentralOut.from_model(services.central_household_create(member=member, principal=request.user)))


@router.post(
    "/mobilization/centrals/{pk}/households",
    response={200: CentralOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the 党员中心户's grid and every listed household's grid (403 in sight without it, "
        "404 out of sight). Households of its own compound only; one looked after elsewhere moves here. "
        "Idempotent; each change audited. No cascade."
    ),
)
def central_assign(request, pk: int, payload: CentralHouseholdsIn):
    central = CentralHousehold.objects.select_related("grid", "member__person", "household").get_for(
        request.user, MANAGE, pk=pk
    )
    households = [
        Household.objects.select_related("grid").get_for(request.user, MANAGE, pk=value)
        for value in dict.fromkeys(payload.household_ids)
    ]
    services.households_assign(central=central, households=households, principal=request.user)
    return CentralOut.from_model(central)


@router.get(
    "/mobilization/households/{pk}/chain",
    response={200: list[ChainLinkOut], **ERRORS},
    summary="Who answers for a household, up to the street's committee",
    description=(
        "Who may call: a user who sees the household (else 404 `household_not_found`, whether or not it "
        "exists). The chain bottom first, from the household up to the street's party working committee, a "
        "level without anyone an empty name (a gap); who answers at each level is named whoever the caller "
        "is. Reads only: no cascade."
    ),
)
def household_chain(request, pk: int):
    household = people_selectors.household_get(user=request.user, pk=pk)
    return [
        {
            "level": link.level,
            "label": str(link.label),
            "name": link.name,
            "org_id": link.org.pk if link.org else None,
            "responsible": [m.person.name for m in link.responsible],
        }
        for link in selectors.household_chain(household)
    ]


@router.post(
    "/mobilization/chain/import",
    response={202: JobOut, **ERRORS},
    summary="Import the chain ledger (.xlsx) as a background job; all rows or none",
    description=(
        "Who may call: a user with `import_export` (command center, subdistrict staff, community secretary "
        "and staff; held only with a verified second factor) in at least one grid (403 otherwise). What refuses "
        "the file before a row is read (no right 403; not .xlsx/.csv, too large, unreadable or a missing column "
        "400) is answered now; else 202 with the job (`/api/v1/jobs/{id}`: follow it, cancel it). Each row's "
        "grid must be in sight and under `import_export` there, else that row is refused. All rows or none: "
        "the job ends `done` with `result` {kind: chain, row_count, orgs, members, centrals, looked_after}, or "
        "`failed` with every refused row in `error.rows` and nothing written; a file imported twice changes "
        "nothing. Audited (the import and each row's write). No cascade."
    ),
)
def chain_import(request, file: File[UploadedFile]):
    job = ledger_jobs.ledger_import_start(
        kind=ledger_jobs.CHAIN, data=read_upload(file), file_name=file.name or "chain.xlsx", principal=request.user
    )
    return job_accepted(job)


@router.get(
    "/mobilization/chain/export",
    response={200: None, **ERRORS},
    summary="Export the chain ledger of a subtree",
    description=(
        "Who may call: a user with `import_export` (command center, subdistrict staff, community secretary "
        "and staff; held only with a verified second factor) over `grid` (403 in sight without it, 404 out of "
        "sight, `grid_not_found`). The chain of that subtree as the .xlsx the import reads; full ID numbers "
        "only where the caller also holds `unmask_pii`. Each export is audited (row count, unmasked or not). "
        "Reads only: no cascade."
    ),
)
def chain_export(request, grid: str):
    node = grid_node_get(user=request.user, code=grid, capability=Capability.IMPORT_EXPORT)
    out, name = ledgers.chain_export(node=node, principal=request.user)
    return xlsx_response(out, name)


EXPORT_JOB_ANSWER = (
    "202 with the job (`/api/v1/jobs/{id}`: follow it, cancel it); when it is `done`, its `download_url` serves "
    "the .xlsx to the caller alone until `result_expires_at` (then 410, and the sweep deletes the file). The "
    "export is audited when the job writes it (row count, unmasked or not), and each download. No cascade."
)


@router.post(
    "/mobilization/chain/export/jobs",
    response={202: JobOut, **ERRORS},
    summary="Export the chain ledger of a subtree in a background job (large areas)",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor) over `grid` (403 "
        "in sight without it, 404 out of sight, `grid_not_found`). The same ledger as `GET "
        "/mobilization/chain/export` (full ID numbers only where the caller also holds `unmask_pii`). "
        + EXPORT_JOB_ANSWER
    ),
)
def chain_export_job(request, payload: GridJobIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.IMPORT_EXPORT)
    job = ledger_jobs.ledger_export_start(kind=ledger_jobs.CHAIN, node=node, principal=request.user)
    return job_accepted(job)


# ---------------------------------------------------------------- the units, volunteers and hours ledgers


LedgerKind = Literal["units", "volunteers", "hours"]


@router.post(
    "/mobilization/ledgers/{kind}/import",
    response={202: JobOut, **ERRORS},
    summary="Import the 双报到 units, volunteers or volunteer hours ledger (.xlsx) as a background job",
    description=(
        "Who may call: a user with `import_export` (command center, subdistrict staff, community secretary "
        "and staff; held only with a verified second factor) in at least one grid (403 otherwise). What refuses "
        "the file before a row is read (no right 403; not .xlsx/.csv, too large, unreadable or a missing column "
        "400) is answered now; else 202 with the job (`/api/v1/jobs/{id}`: follow it, cancel it). Each row's "
        "community must be in sight and under `import_export` there, and the writes need `manage_teams`, else "
        "that row is refused. A row matches what is on file by its natural key (units: community and name, a "
        "member row its unit and name; volunteers: ID number of a resident on file, else phone; hours: the "
        "volunteer, duty and start) and is updated, or added. All rows or none: the job ends `done` with "
        "`result` {kind, row_count, created, updated, unchanged, refused, rows: each row's outcome sorted by "
        "row}, or `failed` with every refused row in `error.rows` and nothing written. Audited (the import and "
        "each row's write). No cascade."
    ),
)
def team_ledger_import(request, kind: LedgerKind, file: File[UploadedFile]):
    job = ledger_jobs.ledger_import_start(
        kind=kind, data=read_upload(file), file_name=file.name or f"{kind}.xlsx", principal=request.user
    )
    return job_accepted(job)


@router.get(
    "/mobilization/ledgers/{kind}/export",
    response={200: None, **ERRORS},
    summary="Export the 双报到 units, volunteers or volunteer hours ledger of a subtree",
    description=(
        "Who may call: a user with `import_export` over `grid` (403 in sight without it, 404 out of sight, "
        "`grid_not_found`). That subtree's ledger as the .xlsx the import reads; full ID numbers and phones "
        "only where the caller also holds `unmask_pii`. Each export is audited. Reads only: no cascade."
    ),
)
def team_ledger_export(request, kind: LedgerKind, grid: str):
    node = grid_node_get(user=request.user, code=grid, capability=Capability.IMPORT_EXPORT)
    out, name = team_ledgers.team_ledger_export(kind=kind, node=node, principal=request.user)
    return xlsx_response(out, name)


@router.post(
    "/mobilization/ledgers/{kind}/export/jobs",
    response={202: JobOut, **ERRORS},
    summary="Export the 双报到 units, volunteers or volunteer hours ledger in a background job (large areas)",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor) over `grid` (403 "
        "in sight without it, 404 out of sight, `grid_not_found`). The same ledger as `GET "
        "/mobilization/ledgers/{kind}/export` (full ID numbers and phones only where the caller also holds "
        "`unmask_pii`). " + EXPORT_JOB_ANSWER
    ),
)
def team_ledger_export_job(request, kind: LedgerKind, payload: GridJobIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.IMPORT_EXPORT)
    job = ledger_jobs.ledger_export_start(kind=kind, node=node, principal=request.user)
    return job_accepted(job)


# ---------------------------------------------------------------- temporary branches (临时党支部)


class SeatOut(Schema):
    id: int
    role: BranchRole
    name: str
    user_id: int | None
    person_id: int | None
    unit_member_id: int | None = None  # a party member of a registered unit (双报到)

    @staticmethod
    def from_model(s: TemporaryBranchMember) -> dict:
        return {
            "id": s.pk,
            "role": s.role,
            "name": s.display_name,
            "user_id": s.user_id,
            "person_id": s.person_id,
            "unit_member_id": s.unit_member_id,
        }


class BranchOut(Schema):
    id: int
    name: str
    site_kind: SiteKind
    grid: str
    site: str
    reason: str
    opened_on: dt.date
    closed_on: dt.date | None
    members: list[SeatOut]

    @staticmethod
    def from_model(b: TemporaryBranch) -> dict:
        seats = getattr(b, "seats", None)
        if seats is None:
            seats = list(b.members.filter(ended_at__isnull=True).select_related("user", "person"))
        return {
            "id": b.pk,
            "name": b.name,
            "site_kind": b.site_kind,
            "grid": b.grid.code,
            "site": b.site,
            "reason": b.reason,
            "opened_on": b.opened_on,
            "closed_on": b.closed_on,
            "members": [SeatOut.from_model(s) for s in seats],
        }


class BranchIn(In):
    grid: str
    site_kind: SiteKind
    name: str
    site: str = ""
    reason: str = ""
    opened_on: EventDate


class BranchCloseIn(In):
    closed_on: EventDate
    confirm: bool = False


class SeatIn(In):
    role: BranchRole
    user_id: int | None = None
    person_id: int | None = None


@router.get(
    "/mobilization/temporary-branches",
    response={200: list[BranchOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the temporary party branches in the grids the caller "
        "sees. Filter: `open` (open ones only). Open ones first, then the closed by closing date; newest "
        "opening first within each; not paged. Reads only: no cascade."
    ),
)
def temporary_branch_list(request, open: bool = False):
    return [BranchOut.from_model(b) for b in selectors.temporary_branch_list(user=request.user, open_only=open)]


@router.post(
    "/mobilization/temporary-branches",
    response={201: BranchOut, **ERRORS},
    summary="Set up a temporary party branch",
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over `grid` (403 in sight without it, 404 out of sight, `grid_not_found`). A "
        "checkpoint or a compound in a compound grid, a road section in a community or subdistrict; the same "
        "open branch again is answered as it is. Audited. No cascade."
    ),
)
def temporary_branch_open(request, payload: BranchIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    branch = services.temporary_branch_open(
        grid=grid,
        site_kind=payload.site_kind.value,
        name=payload.name,
        site=payload.site,
        reason=payload.reason,
        opened_on=payload.opened_on,
        principal=request.user,
    )
    return Status(201, BranchOut.from_model(branch))


@router.get(
    "/mobilization/temporary-branches/{pk}",
    response={200: BranchOut, **ERRORS},
    description=(
        "Who may call: a user who sees the branch's grid (else 404 `not_found`, whether or not it exists). "
        "The branch with its current seats. Reads only: no cascade."
    ),
)
def temporary_branch_detail(request, pk: int):
    return BranchOut.from_model(selectors.temporary_branch_get(user=request.user, pk=pk))


@router.post(
    "/mobilization/temporary-branches/{pk}/close",
    response={200: BranchOut, **ERRORS},
    summary="Close (confirm: true)",
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the branch's grid (403 in sight without it, 404 out of sight). Without "
        "`confirm: true` nothing happens (400 `confirm_required`); its seats end with it; closing a closed "
        "branch changes nothing. Audited. No cascade."
    ),
)
def temporary_branch_close(request, pk: int, payload: BranchCloseIn):
    branch = selectors.temporary_branch_get(user=request.user, pk=pk, capability=MANAGE)
    if not payload.confirm:
        raise DomainError("confirm_required", _("Send confirm: true: closing cannot be undone."), field="confirm")
    branch = services.temporary_branch_close(branch=branch, closed_on=payload.closed_on, principal=request.user)
    return BranchOut.from_model(branch)


@router.post(
    "/mobilization/temporary-branches/{pk}/members",
    response={201: SeatOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the branch's grid (403 in sight without it, 404 out of sight). `user_id` is "
        "an account with an assignment in the caller's sight (404 otherwise) that serves in the branch's "
        "community; `person_id` a person in sight (404 `person_not_found`). A closed branch is 409 "
        "`branch_closed`, a second secretary 409 `branch_secretary_taken`; a seat again changes its role. "
        "Idempotent; audited. No cascade."
    ),
)
def temporary_member_add(request, pk: int, payload: SeatIn):
    branch = selectors.temporary_branch_get(user=request.user, pk=pk, capability=MANAGE)
    user = person = None
    if payload.user_id is not None:
        assignment = (
            GridAssignment.objects.restrict(request.user)
            .active()
            .filter(user_id=payload.user_id)
            .select_related("user")
            .first()
        )
        if assignment is None:
            raise NotFound("not_found", _("Not found."))
        user = assignment.user
    elif payload.person_id is not None:
        person = people_selectors.person_get(user=request.user, pk=payload.person_id)
    seat = services.temporary_member_add(
        branch=branch, role=payload.role.value, user=user, person=person, principal=request.user
    )
    return Status(201, SeatOut.from_model(seat))


@router.post(
    "/mobilization/temporary-branch-members/{pk}/end",
    response={200: SeatOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over the seat's branch grid (403 in sight without it, 404 out of sight). Ending "
        "an ended seat changes nothing. Audited. No cascade."
    ),
)
def temporary_member_end(request, pk: int):
    seat = TemporaryBranchMember.objects.select_related("grid", "user", "person").get_for(request.user, MANAGE, pk=pk)
    return SeatOut.from_model(services.temporary_member_end(member=seat, principal=request.user))


# Volunteers and the wish loop (泉心愿): mobilization/volunteer_api.py, on this router.
from .volunteer_api import router as volunteer_router  # noqa: E402

router.add_router("", volunteer_router)

# 双报到: registered units and appeals, mobilization/unit_api.py.
from .unit_api import router as unit_router  # noqa: E402

router.add_router("", unit_router)

# Notices to households (告知书), mobilization/notice_api.py.
from .notice_api import router as notice_router  # noqa: E402

router.add_router("", notice_router)

# Publicity campaigns (宣传), mobilization/campaign_api.py.
from .campaign_api import router as campaign_router  # noqa: E402

router.add_router("", campaign_router)

# The follow-ups after release, mobilization/followup_api.py.
from .followup_api import router as followup_router  # noqa: E402

router.add_router("", followup_router)
