"""API across the grid tree, people and staff: the tree with counts, the coverage audit, and the
access log of file reads."""

import datetime as dt

from ninja import Router, Schema, Status

from epigrid.core import access
from epigrid.core.api import ERRORS, page
from epigrid.grids import selectors as grid_selectors
from epigrid.grids import services as grid_services
from epigrid.grids.api import GridIn, GridOut, grid_out
from epigrid.grids.models import GridNode

from . import selectors

router = Router(tags=["grids"])


class CountsOut(Schema):
    places: int
    households: int
    persons: int
    staff: int


class GridCountsOut(GridOut):
    counts: CountsOut | None = None


class GridDetailOut(GridCountsOut):
    ancestors: list[str]
    children: list[GridCountsOut]


def grid_out_with_counts(node: GridNode, parents: dict[str, str], counts=None) -> dict:
    return {**grid_out(node, parents), "counts": counts.__dict__ if counts is not None else None}


@router.get(
    "/grids",
    response={200: list[GridCountsOut], **ERRORS},
    summary="The grid tree in the user's scope",
    description=(
        "Who may call: any user with a role; answers the nodes of the subtrees where the caller holds a role "
        "(everything for a superuser). `root` keeps one subtree (404 `grid_not_found` outside sight), "
        "`max_depth` the depth; `counts` adds the places, households, persons and staff under each node. "
        "Ordered by path; at most 5000 nodes, not paged. Reads only: no cascade."
    ),
)
def grid_list(request, root: str | None = None, max_depth: int = 4, counts: bool = False):
    nodes = GridNode.objects.restrict(request.user)
    if root:
        nodes = nodes.in_subtree(grid_selectors.grid_node_get(user=request.user, code=root).path)
    nodes = list(nodes.filter(depth__lte=max_depth)[:5000])
    parents = {n.path: n.code for n in GridNode.objects.filter(path__in={n.parent_path for n in nodes if n.depth > 1})}
    parents.update({n.path: n.code for n in nodes})
    tallies = selectors.subtree_counts(nodes=nodes) if counts else {}
    return [grid_out_with_counts(n, parents, tallies.get(n.pk)) for n in nodes]


# GET and POST /grids live in one router: Django resolves a path to the first router that has
# it, so a POST /grids in the grids router answered GET /grids with 405.
@router.post(
    "/grids",
    response={201: GridOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_grids` over `parent` (403 in sight without it, 404 out of sight, "
        "`grid_not_found`); a new subdistrict (no `parent`) only a superuser. The level must fit under the "
        "parent's (400 `grid_level`), a thematic grid names its category. Audited. No cascade."
    ),
)
def grid_create(request, payload: GridIn):
    parent = grid_selectors.grid_node_get(user=request.user, code=payload.parent) if payload.parent else None
    node = grid_services.grid_node_create(
        parent=parent,
        code=payload.code,
        name=payload.name,
        level=payload.level,
        category=payload.category.value if payload.category else "",
        address=payload.address,
        principal=request.user,
    )
    return Status(201, grid_out(node, {parent.path: parent.code} if parent else {}))


@router.get(
    "/grids/{code}",
    response={200: GridDetailOut, **ERRORS},
    description=(
        "Who may call: a user who sees the node (else 404 `grid_not_found`, whether or not it exists). Answers "
        "the node with its counts, its ancestors' codes and its children with their counts. Reads only: no "
        "cascade."
    ),
)
def grid_detail(request, code: str):
    node = grid_selectors.grid_node_get(user=request.user, code=code)
    children = list(grid_selectors.grid_children(node=node))
    tallies = selectors.subtree_counts(nodes=[node, *children])
    ancestors = list(grid_selectors.grid_ancestors(node=node))
    parents = {a.path: a.code for a in ancestors} | {node.path: node.code}
    return {
        **grid_out_with_counts(node, parents, tallies[node.pk]),
        "ancestors": [a.code for a in ancestors],
        "children": [grid_out_with_counts(c, parents, tallies[c.pk]) for c in children],
    }


class FindingOut(Schema):
    severity: str
    kind: str
    label: str
    grid: str
    object_type: str
    object_id: int
    fix_url: str


class CoverageOut(Schema):
    ok: bool
    gap_counts: dict[str, int]
    overlap_counts: dict[str, int]
    gaps: list[FindingOut]
    overlaps: list[FindingOut]


def _coverage_out(report) -> dict:
    def finding(f):
        return {
            "severity": f.severity,
            "kind": f.kind,
            "label": f.label,
            "grid": f.grid_code,
            "object_type": f.object_type,
            "object_id": f.object_id,
            "fix_url": f.fix_url,
        }

    return {
        "ok": report.ok,
        "gap_counts": report.gap_counts,
        "overlap_counts": report.overlap_counts,
        "gaps": [finding(f) for f in report.gaps],
        "overlaps": [finding(f) for f in report.overlaps],
    }


@router.get(
    "/coverage",
    response={200: CoverageOut, **ERRORS},
    summary="Coverage audit (零疏漏)",
    description=(
        "Who may call: any user with a role; audits only what the caller sees (the whole of it, or the subtree "
        "of `grid`, 404 outside sight): every gap (a node without its responsible person, a place, household "
        "or person not in a leaf grid, a hand-off left unfinished…) is an error, every overlap is information. "
        "Reads only: no cascade."
    ),
)
def coverage(request, grid: str | None = None):
    root = grid_selectors.grid_node_get(user=request.user, code=grid) if grid else None
    return _coverage_out(selectors.coverage_audit(user=request.user, root=root))


class AccessOut(Schema):
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    channel: str
    remote_addr: str | None
    request_id: str


class AccessPage(Schema):
    items: list[AccessOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/access-log",
    response={200: AccessPage, **ERRORS},
    tags=["audit"],
    summary="查阅记录: who opened a person's (person=id) or household's (household=id) file, newest first; "
    "only where the caller may read the audit log",
    description=(
        "Who may call: a user with `view_audit` (command center, community secretary, inspector); answers only "
        "the reads of files in the grids where the caller holds it (nothing for anyone else, not a 403). "
        "Filters: `person` or `household` (the file read), `actor` (the reader's username). Newest first; "
        "`next_offset` pages. Reads only: no cascade."
    ),
)
def access_log(
    request,
    person: int | None = None,
    household: int | None = None,
    actor: str = "",
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    if person is not None:
        object_type, object_id = "people.person", person
    elif household is not None:
        object_type, object_id = "people.household", household
    else:
        object_type, object_id = "", ""
    rows = access.access_list(user=request.user, object_type=object_type, object_id=object_id, actor=actor)
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {
        "items": [
            {
                "at": r.at,
                "actor": r.actor_label,
                "action": r.action,
                "object_type": r.object_type,
                "object_id": r.object_id,
                "channel": r.channel,
                "remote_addr": r.remote_addr,
                "request_id": r.request_id,
            }
            for r in items
        ],
        "next_offset": next_offset,
        "total": total,
    }
