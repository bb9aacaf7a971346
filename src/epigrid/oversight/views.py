"""Pages across the grid tree, its people and its staff: the tree, a node's page, staff
assignments and the coverage audit (零疏漏)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.accounts import selectors as account_selectors
from epigrid.accounts import services as account_services
from epigrid.accounts.choices import RESPONSIBLE_ROLE
from epigrid.accounts.forms import AssignmentForm
from epigrid.accounts.models import GridAssignment, User
from epigrid.core.capabilities import Capability
from epigrid.core.confirm import confirm_page, confirmed
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.scoping import VIEW, allows, grant_paths, subtree_q
from epigrid.core.tabular import read_upload
from epigrid.core.views import domain_errors, paginate, refused_back
from epigrid.grids import geo
from epigrid.grids import selectors as grid_selectors
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import Place
from epigrid.health.ledgers import LEDGER_EXPORTS as HEALTH_LEDGERS
from epigrid.people.selectors import household_list, person_list, person_rows

from . import selectors

TABS = ("children", "households", "persons", "places", "staff")


@login_required
def tree(request):
    roots = list(grid_selectors.grid_roots(user=request.user))
    rows = []
    for root in roots:
        children = list(grid_selectors.grid_children(node=root))
        rows.append((root, children))
    nodes = [n for root, children in rows for n in (root, *children)]
    counts = selectors.subtree_counts(nodes=nodes)
    thematic = [n for n in nodes if n.level == GridLevel.THEMATIC]
    return render(request, "grids/tree.html", {"rows": rows, "counts": counts, "thematic": thematic})


@login_required
@domain_errors
def node(request, code):
    node = grid_selectors.grid_node_get(user=request.user, code=code)
    tab = request.GET.get("tab") or ("children" if node.level != GridLevel.BUILDING else "households")
    if tab not in TABS:
        tab = "children"
    children = list(grid_selectors.grid_children(node=node))
    counts = selectors.subtree_counts(nodes=[node, *children])
    context = {
        "node": node,
        "tab": tab,
        "tabs": TABS,
        "children": [c for c in children if not c.is_thematic],
        "thematic": [c for c in children if c.is_thematic],
        "counts": counts,
        # Ancestors above the user's area are named, not linked (their pages would be 404).
        "ancestors": [(a, allows(request.user, VIEW, a.path)) for a in grid_selectors.grid_ancestors(node=node)],
        "can_export": allows(request.user, Capability.IMPORT_EXPORT, node.path),
        "health_ledgers": [(ledger.name, ledger.label) for ledger in HEALTH_LEDGERS],
        "can_assign": allows(request.user, Capability.MANAGE_ASSIGNMENTS, node.path),
        "can_edit": allows(request.user, Capability.EDIT_PEOPLE, node.path),
    }
    if tab == "households":
        context["page"] = paginate(request, household_list(user=request.user, grid_path=node.path))
    elif tab == "persons":
        context["page"] = paginate(request, person_list(user=request.user, grid_path=node.path), rows=person_rows)
    elif tab == "places":
        places = (
            Place.objects.restrict(request.user)
            .filter(archived_at__isnull=True)
            .filter(subtree_q("grid__path", node.path) | subtree_q("thematic_grid__path", node.path))
            .select_related("grid", "thematic_grid")
            .order_by("id")
        )
        context["page"] = paginate(request, places)
    elif tab == "staff":
        context["assignments"] = (
            GridAssignment.objects.restrict(request.user)
            .active()
            .filter(node=node)
            .select_related("user")
            .order_by("role", "user__username")
        )
        context["form"] = AssignmentForm()
    return render(request, "grids/node.html", context)


@login_required
@require_POST
@domain_errors
def assignment_add(request, code):
    node = grid_selectors.grid_node_get(user=request.user, code=code, capability=Capability.MANAGE_ASSIGNMENTS)
    form = AssignmentForm(request.POST)
    if form.is_valid():
        user = User.objects.filter(username=form.cleaned_data["username"], is_active=True).first()
        if user is None:
            raise DomainError("user_unknown", _("No active user with this username."), field="username")
        account_services.grid_assignment_create(
            node=node,
            user=user,
            role=form.cleaned_data["role"],
            duties=form.cleaned_data["duties"],
            principal=request.user,
        )
        messages.success(request, _("Assignment saved."))
    else:
        messages.error(request, _("Check the form."))
    return redirect(f"{node.get_absolute_url()}?tab=staff")


@login_required
@require_POST
@domain_errors
def assignment_end(request, pk):
    """解除: the staff member's rights at the node end at once; the page asks first (core.confirm)."""
    assignment = account_selectors.grid_assignment_get(
        user=request.user, pk=pk, capability=Capability.MANAGE_ASSIGNMENTS
    )
    node, role = assignment.node, assignment.get_role_display()
    back = f"{node.get_absolute_url()}?tab=staff"
    if assignment.ended_at is None and not confirmed(request):
        who = str(assignment.user)
        follows = [
            _("%(who)s is no longer %(role)s of %(node)s: their rights there end at once.")
            % {"who": who, "role": role, "node": node.name}
        ]
        others = (
            GridAssignment.objects.active().filter(node=node, role=assignment.role).exclude(pk=assignment.pk).exists()
        )
        if RESPONSIBLE_ROLE.get(node.level) == assignment.role and not others:
            follows.append(
                _("%(node)s is left without a %(role)s: the coverage audit shows it as a gap.")
                % {"node": node.name, "role": role}
            )
        return confirm_page(
            request,
            title=_("End the assignment"),
            question=_("End %(who)s's assignment as %(role)s?") % {"who": who, "role": role},
            consequences=follows,
            button=_("Confirm: end the assignment"),
            cancel_url=back,
        )
    try:
        account_services.grid_assignment_end(assignment=assignment, principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Assignment ended."))
    return redirect(back)


@login_required
@domain_errors
def coverage(request):
    code = request.GET.get("grid")
    root = grid_selectors.grid_node_get(user=request.user, code=code) if code else None
    report = selectors.coverage_audit(user=request.user, root=root)
    return render(
        request,
        "grids/coverage.html",
        {
            "report": report,
            "root": root,
            "gap_kinds": selectors.gap_kinds(),
            "overlap_kinds": selectors.OVERLAP_KINDS,
        },
    )


@login_required
@domain_errors
def map_import(request):
    """网格地图: outlines (and place points) from a GeoJSON or KML file, for those who edit the grid tree."""
    can_import = grant_paths(request.user, Capability.MANAGE_GRIDS) != []
    if request.method == "POST":
        if not can_import:
            raise PermissionDenied
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("file_required", _("Choose a GeoJSON or KML file."), field="file")
            counts = geo.map_file_import(data=read_upload(upload), principal=request.user)
        except RowErrors as exc:
            return render(request, "grids/map_import.html", {"report": exc}, status=422)
        except DomainError as exc:
            return refused_back(request, exc, "oversight:map_import")
        messages.success(request, _("Imported: %(grids)s outlines, %(places)s place points.") % counts)
        return redirect("oversight:map_import")
    return render(request, "grids/map_import.html", {"coordinates": settings.MAP_COORDINATES, "can_import": can_import})
