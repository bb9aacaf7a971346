import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from epigrid.accounts.models import GridAssignment
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.scoping import allows, subtree_q
from epigrid.core.tabular import read_upload
from epigrid.core.views import domain_errors, safe_next
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import ancestor_path
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors
from epigrid.people.models import Household

from . import ledger_jobs, ledgers, selectors, services, team_ledgers
from .choices import KIND_FOR_LEVEL, BranchRole, MemberRole, OrgKind, SiteKind
from .models import CentralHousehold, LookedAfter, PartyMember, TemporaryBranchMember
from .volunteers import community_grids

MANAGE = services.MANAGE
PERSON_CHOICES = 300  # persons offered in the "add a member" list; a name filter narrows it


def _date(value: str, field: str):
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError("date_invalid", _("Give the date as YYYY-MM-DD."), field=field) from None


@login_required
@domain_errors
def chain(request):
    """六级链条: the organisations in the user's sight as a tree, its gaps, and where to add one."""
    root = grid_node_get(user=request.user, code=request.GET["grid"]) if request.GET.get("grid") else None
    if request.method == "POST":
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", "").strip())
        also = [
            grid_node_get(user=request.user, code=code.strip())
            for code in request.POST.get("also_covers", "").replace("，", ",").split(",")
            if code.strip()
        ]
        org = services.org_create(
            grid=grid, name=request.POST.get("name", ""), also_covers=also, principal=request.user
        )
        messages.success(request, _("%(org)s is set up.") % {"org": org.name})
        return redirect("mobilization:org", pk=org.pk)
    orgs = list(selectors.org_list(user=request.user, grid_path=root.path if root else ""))
    depth0 = min((o.grid.depth for o in orgs), default=1)
    for org in orgs:
        org.indent = org.grid.depth - depth0
    gaps = []
    for check in (selectors.COMMUNITY_GAP, selectors.BRANCH_GAP, selectors.GROUP_GAP, selectors.CENTRAL_GAP):
        rows = check.queryset().restrict(request.user)
        if root is not None:
            rows = rows.in_subtree(root.path)
        count = rows.count()
        if count:
            gaps.append(
                {"label": check.label, "count": count, "rows": [(r, check.link(r)) for r in rows.order_by("pk")[:20]]}
            )
    return render(
        request,
        "mobilization/chain.html",
        {
            "root": root,
            "orgs": orgs,
            "gaps": gaps,
            "can_manage": allows(request.user, MANAGE, root.path if root else None),
            "can_import": allows(request.user, Capability.IMPORT_EXPORT),
            "kinds": OrgKind,
            "new_grid": root.code if root and root.level in KIND_FOR_LEVEL else "",
        },
    )


@login_required
@domain_errors
def org(request, pk):
    org = selectors.org_get(user=request.user, pk=pk)
    can_manage = allows(request.user, MANAGE, org.grid.path)
    candidates = []
    if can_manage:
        q = request.GET.get("q", "")
        # Members of a branch or group live in what it covers; committees draw from their subtree too.
        candidates = people_selectors.person_list(user=request.user, q=q, grid_path=org.grid.path)[:PERSON_CHOICES]
    members = list(selectors.org_members(org))
    centrals = list(selectors.org_centrals(org))
    unassigned = []
    if can_manage and org.kind in (OrgKind.GRID_BRANCH, OrgKind.BUILDING_GROUP) and centrals:
        unassigned = list(
            selectors.households_without_central()
            .restrict(request.user, MANAGE)
            .filter(subtree_q("grid__path", ancestor_path(org.grid.path, GridLevel.GRID)))
            .order_by("address")[:200]
        )
        # Where the chain is not under a street committee yet, offer the compound's households all the same.
        if not unassigned:
            unassigned = list(
                Household.objects.restrict(request.user, MANAGE)
                .filter(archived_at__isnull=True)
                .filter(subtree_q("grid__path", ancestor_path(org.grid.path, GridLevel.GRID)))
                .exclude(pk__in=[c.household_id for c in centrals])
                .order_by("address")[:200]
            )
    return render(
        request,
        "mobilization/org.html",
        {
            "org": org,
            "members": members,
            "centrals": centrals,
            "candidates": candidates,
            "unassigned": unassigned,
            "roles": [r for r in MemberRole if r in services._org_roles(org)],
            "can_manage": can_manage,
            "holds_households": org.kind in (OrgKind.GRID_BRANCH, OrgKind.BUILDING_GROUP),
            "heading": {c.member_id for c in centrals},
        },
    )


@login_required
@require_POST
@domain_errors
def org_dissolve(request, pk):
    org = selectors.org_get(user=request.user, pk=pk, capability=MANAGE)
    if request.POST.get("confirm") != "yes":
        raise DomainError("confirm_required", _("Tick the box to confirm: dissolving cannot be undone."))
    services.org_dissolve(org=org, principal=request.user)
    messages.success(request, _("%(org)s is dissolved.") % {"org": org.name})
    return redirect("mobilization:chain")


@login_required
@require_POST
@domain_errors
def member_add(request, pk):
    org = selectors.org_get(user=request.user, pk=pk, capability=MANAGE)
    person = people_selectors.person_get(user=request.user, pk=request.POST.get("person", ""))
    services.member_add(
        org=org,
        person=person,
        role=request.POST.get("role", MemberRole.MEMBER),
        since=_date(request.POST.get("since", ""), "since"),
        principal=request.user,
    )
    return redirect("mobilization:org", pk=org.pk)


@login_required
@require_POST
@domain_errors
def member_end(request, pk):
    member = PartyMember.objects.select_related("org", "grid", "person").get_for(request.user, MANAGE, pk=pk)
    services.member_end(member=member, principal=request.user)
    return redirect("mobilization:org", pk=member.org_id)


@login_required
@require_POST
@domain_errors
def central_create(request, pk):
    """Make the member's household a 党员中心户."""
    member = PartyMember.objects.select_related("org__grid", "grid", "person__household__grid").get_for(
        request.user, MANAGE, pk=pk
    )
    services.central_household_create(member=member, principal=request.user)
    return redirect("mobilization:org", pk=member.org_id)


@login_required
@require_POST
@domain_errors
def central_assign(request, pk):
    """Assign the ticked households to a 党员中心户."""
    central = CentralHousehold.objects.select_related("grid", "member").get_for(request.user, MANAGE, pk=pk)
    households = [
        Household.objects.select_related("grid").get_for(request.user, MANAGE, pk=value)
        for value in request.POST.getlist("households")
    ]
    if not households:
        raise DomainError("households_required", _("Tick at least one household."), field="households")
    count = services.households_assign(central=central, households=households, principal=request.user)
    messages.success(request, _("%(count)s household(s) assigned.") % {"count": count})
    return redirect(safe_next(request, "mobilization:org", pk=central.member.org_id))


@login_required
@require_POST
@domain_errors
def household_assign(request, pk):
    """From the household page: choose its 党员中心户."""
    household = Household.objects.select_related("grid").get_for(request.user, MANAGE, pk=pk)
    central = CentralHousehold.objects.select_related("grid").get_for(
        request.user, MANAGE, pk=request.POST.get("central", "")
    )
    services.households_assign(central=central, households=[household], principal=request.user)
    return redirect(safe_next(request, "people:household", pk=household.pk))


@login_required
@require_POST
@domain_errors
def household_release(request, pk):
    link = LookedAfter.objects.select_related("grid", "central").get_for(request.user, MANAGE, pk=pk)
    services.household_release(link=link, principal=request.user)
    return redirect(safe_next(request, "mobilization:org", pk=link.central.member.org_id))


@login_required
@domain_errors
def chain_import(request):
    """The chain ledger (.xlsx): all of it or nothing, like the residents' ledger. The file is
    checked (the right, type, size, header) and queued as a background job, whose page shows the
    report or every refused row (ledger_jobs)."""
    error, status = None, 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("file_required", _("Choose a file."), field="file")
            job = ledger_jobs.ledger_import_start(
                kind=ledger_jobs.CHAIN, data=read_upload(upload), file_name=upload.name, principal=request.user
            )
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            error, status = exc, exc.status
        else:
            return redirect(job.get_absolute_url())
    return render(
        request,
        "mobilization/import.html",
        {"error": error, "columns": ledgers.COLUMNS, "kinds": ledgers.KIND_LABELS},
        status=status,
    )


def household_chain_panel(request, household):
    """On the household page: who answers for this household, up to the street's committee."""
    chain = selectors.household_chain(household)
    if not any(link.org or link.central for link in chain):
        return None  # no chain set up above this household (nor counted as a gap: selectors._under_chain)
    can_manage = allows(request.user, MANAGE, household.grid.path)
    return "mobilization/_household_chain.html", {
        "household": household,
        "chain": chain,
        "can_manage": can_manage,
        "centrals": list(selectors.centrals_of_compound(household.grid.path)) if can_manage else [],
    }


@login_required
@domain_errors
def chain_export(request):
    node = grid_node_get(user=request.user, code=request.GET.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    out, name = ledgers.chain_export(node=node, principal=request.user)
    return xlsx_response(out, name)


@login_required
@require_POST
@domain_errors
def chain_export_job(request):
    """The chain ledger of a large subtree in the background: the job's page follows it and offers
    the file when it is written."""
    node = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    job = ledger_jobs.ledger_export_start(kind=ledger_jobs.CHAIN, node=node, principal=request.user)
    return redirect(job.get_absolute_url())


# ---------------------------------------------------------------- the units, volunteers and hours ledgers

LEDGER_TITLES = {
    "units": _lazy("Ledger of registered units (双报到)"),
    "volunteers": _lazy("Ledger of volunteers"),
    "hours": _lazy("Ledger of volunteer hours"),
}


@login_required
@domain_errors
def team_ledger(request, kind):
    """A ledger of the "3": download it for a grid, upload it back as a background job (all rows
    or none; its page shows each row created, updated or unchanged)."""
    if kind not in team_ledgers.SHEETS:
        raise NotFound("import_kind", _("Unknown ledger kind."))
    error, status = None, 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("file_required", _("Choose a file."), field="file")
            job = ledger_jobs.ledger_import_start(
                kind=kind, data=read_upload(upload), file_name=upload.name, principal=request.user
            )
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            error, status = exc, exc.status
        else:
            return redirect(job.get_absolute_url())
    return render(
        request,
        "mobilization/team_ledger.html",
        {
            "kind": kind,
            "title": LEDGER_TITLES[kind],
            "kinds": LEDGER_TITLES,
            "columns": team_ledgers.ledger_columns(kind),
            "error": error,
            "grids": community_grids(request.user, Capability.IMPORT_EXPORT),
        },
        status=status,
    )


@login_required
@domain_errors
def team_ledger_export(request, kind):
    if kind not in team_ledgers.SHEETS:
        raise NotFound("import_kind", _("Unknown ledger kind."))
    node = grid_node_get(user=request.user, code=request.GET.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    out, name = team_ledgers.team_ledger_export(kind=kind, node=node, principal=request.user)
    return xlsx_response(out, name)


@login_required
@require_POST
@domain_errors
def team_ledger_export_job(request, kind):
    """The units, volunteers or hours ledger of a large subtree in the background (the job's page)."""
    if kind not in team_ledgers.SHEETS:
        raise NotFound("import_kind", _("Unknown ledger kind."))
    node = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    job = ledger_jobs.ledger_export_start(kind=kind, node=node, principal=request.user)
    return redirect(job.get_absolute_url())


# ---------------------------------------------------------------- temporary branches (临时党支部)


@login_required
@domain_errors
def temporary_branches(request):
    """The temporary branches in sight, open ones first; the community sets one up here."""
    if request.method == "POST":
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", "").strip())
        branch = services.temporary_branch_open(
            grid=grid,
            site_kind=request.POST.get("site_kind", ""),
            site=request.POST.get("site", ""),
            name=request.POST.get("name", ""),
            reason=request.POST.get("reason", ""),
            opened_on=_date(request.POST.get("opened_on", ""), "opened_on") or timezone.localdate(),
            principal=request.user,
        )
        return redirect("mobilization:temporary_branch", pk=branch.pk)
    return render(
        request,
        "mobilization/temporary_branches.html",
        {
            "branches": selectors.temporary_branch_list(user=request.user),
            "can_manage": allows(request.user, MANAGE),
            "site_kinds": SiteKind,
            "today": timezone.localdate(),
        },
    )


@login_required
@domain_errors
def temporary_branch(request, pk):
    branch = selectors.temporary_branch_get(user=request.user, pk=pk)
    can_manage = allows(request.user, MANAGE, branch.grid.path) and not branch.closed_on
    staff, persons = [], []
    if can_manage:
        community = ancestor_path(branch.grid.path, GridLevel.COMMUNITY) or branch.grid.path
        staff = (
            GridAssignment.objects.restrict(request.user)
            .active()
            .filter(subtree_q("node__path", community))
            .select_related("user", "node")
            .order_by("node__path", "role")[:PERSON_CHOICES]
        )
        persons = people_selectors.person_list(user=request.user, q=request.GET.get("q", ""), grid_path=community)[
            :PERSON_CHOICES
        ]
    return render(
        request,
        "mobilization/temporary_branch.html",
        {
            "branch": branch,
            "can_manage": can_manage,
            "staff": staff,
            "persons": persons,
            "roles": BranchRole,
            "today": timezone.localdate(),
        },
    )


@login_required
@require_POST
@domain_errors
def temporary_branch_close(request, pk):
    branch = selectors.temporary_branch_get(user=request.user, pk=pk, capability=MANAGE)
    if request.POST.get("confirm") != "yes":
        raise DomainError("confirm_required", _("Tick the box to confirm: closing cannot be undone."))
    closed_on = _date(request.POST.get("closed_on", ""), "closed_on") or timezone.localdate()
    services.temporary_branch_close(branch=branch, closed_on=closed_on, principal=request.user)
    return redirect("mobilization:temporary_branch", pk=branch.pk)


@login_required
@require_POST
@domain_errors
def temporary_member_add(request, pk):
    branch = selectors.temporary_branch_get(user=request.user, pk=pk, capability=MANAGE)
    user = person = None
    if request.POST.get("user"):
        # Staff of the branch's community whom the caller sees at work there.
        assignment = (
            GridAssignment.objects.restrict(request.user)
            .active()
            .filter(user_id=request.POST["user"] if request.POST["user"].isdigit() else None)
            .select_related("user")
            .first()
        )
        if assignment is None:
            raise NotFound("not_found", _("Not found."))
        user = assignment.user
    elif request.POST.get("person"):
        person = people_selectors.person_get(user=request.user, pk=request.POST["person"])
    services.temporary_member_add(
        branch=branch, role=request.POST.get("role", ""), user=user, person=person, principal=request.user
    )
    return redirect("mobilization:temporary_branch", pk=branch.pk)


@login_required
@require_POST
@domain_errors
def temporary_member_end(request, pk):
    member = TemporaryBranchMember.objects.select_related("grid").get_for(request.user, MANAGE, pk=pk)
    services.temporary_member_end(member=member, principal=request.user)
    return redirect("mobilization:temporary_branch", pk=member.branch_id)


def checkpoint_branches_panel(request, checkpoint):
    """On the gate page: the temporary branch set up at this checkpoint or over its compound."""
    branches = list(selectors.branches_at_checkpoint(checkpoint))
    if not branches:
        return None
    return "mobilization/_checkpoint_branches.html", {"branches": branches}
