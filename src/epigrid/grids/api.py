from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, page
from epigrid.core.errors import NotFound
from epigrid.core.scoping import subtree_q

from . import selectors, services
from .choices import GridLevel, PlaceKind, ThematicCategory
from .models import GridNode, Place

router = Router(tags=["grids"])


class CountsOut(Schema):
    places: int
    households: int
    persons: int
    staff: int


class GridOut(Schema):
    code: str
    name: str
    level: GridLevel
    category: str
    parent: str | None
    depth: int
    counts: CountsOut | None = None


class GridDetailOut(GridOut):
    ancestors: list[str]
    children: list[GridOut]


class GridIn(Schema):
    parent: str | None = None
    code: str
    name: str
    level: GridLevel
    category: ThematicCategory | None = None
    address: str = ""


def _grid_out(node: GridNode, parents: dict[str, str], counts=None) -> dict:
    return {
        "code": node.code,
        "name": node.name,
        "level": node.level,
        "category": node.category,
        "parent": parents.get(node.path[: -GridNode.steplen]) if node.depth > 1 else None,
        "depth": node.depth,
        "counts": counts.__dict__ if counts is not None else None,
    }


@router.get("/grids", response={200: list[GridOut], **ERRORS}, summary="The grid tree in the user's scope")
def grid_list(request, root: str | None = None, max_depth: int = 4, counts: bool = False):
    nodes = GridNode.objects.visible_to(request.user)
    if root:
        nodes = nodes.in_subtree(selectors.grid_node_get(user=request.user, code=root).path)
    nodes = list(nodes.filter(depth__lte=max_depth)[:5000])
    parents = {n.path: n.code for n in GridNode.objects.filter(path__in={n.path[:-4] for n in nodes if n.depth > 1})}
    parents.update({n.path: n.code for n in nodes})
    tallies = selectors.subtree_counts(nodes=nodes) if counts else {}
    return [_grid_out(n, parents, tallies.get(n.pk)) for n in nodes]


@router.get("/grids/{code}", response={200: GridDetailOut, **ERRORS})
def grid_detail(request, code: str):
    node = selectors.grid_node_get(user=request.user, code=code)
    children = list(selectors.grid_children(node=node))
    tallies = selectors.subtree_counts(nodes=[node, *children])
    ancestors = list(selectors.grid_ancestors(node=node))
    parents = {a.path: a.code for a in ancestors} | {node.path: node.code}
    return {
        **_grid_out(node, parents, tallies[node.pk]),
        "ancestors": [a.code for a in ancestors],
        "children": [_grid_out(c, parents, tallies[c.pk]) for c in children],
    }


@router.post("/grids", response={201: GridOut, **ERRORS})
def grid_create(request, payload: GridIn):
    parent = selectors.grid_node_get(user=request.user, code=payload.parent) if payload.parent else None
    node = services.grid_node_create(
        parent=parent,
        code=payload.code,
        name=payload.name,
        level=payload.level,
        category=payload.category.value if payload.category else "",
        address=payload.address,
        actor=request.user,
    )
    return Status(201, _grid_out(node, {parent.path: parent.code} if parent else {}))


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


@router.get("/coverage", response={200: CoverageOut, **ERRORS}, summary="Coverage audit (零疏漏)")
def coverage(request, grid: str | None = None):
    root = selectors.grid_node_get(user=request.user, code=grid) if grid else None
    return _coverage_out(selectors.coverage_audit(user=request.user, root=root))


class PlaceOut(Schema):
    id: int
    name: str
    kind: PlaceKind
    address: str
    grid: str
    thematic_grid: str | None
    credit_code: str
    contact_name: str
    contact_phone_masked: str

    @staticmethod
    def from_model(p: Place) -> dict:
        return {
            "id": p.pk,
            "name": p.name,
            "kind": p.kind,
            "address": p.address,
            "grid": p.grid.code,
            "thematic_grid": p.thematic_grid.code if p.thematic_grid_id else None,
            "credit_code": p.credit_code,
            "contact_name": p.contact_name,
            "contact_phone_masked": p.contact_phone_masked,
        }


class PlacePage(Schema):
    items: list[PlaceOut]
    next_offset: int | None


class PlaceIn(Schema):
    name: str
    kind: PlaceKind
    grid: str
    address: str = ""
    thematic_grid: str | None = None
    credit_code: str = ""
    contact_name: str = ""
    contact_phone: str = ""


class PlacePatch(Schema):
    name: str | None = None
    kind: PlaceKind | None = None
    grid: str | None = None
    address: str | None = None
    thematic_grid: str | None = None
    credit_code: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None


def _place(request, pk: int) -> Place:
    place = (
        Place.objects.visible_to(request.user)
        .select_related("grid", "thematic_grid")
        .filter(pk=pk, archived_at__isnull=True)
        .first()
    )
    if place is None:
        raise NotFound("place_not_found", _("No such place."))
    return place


@router.get("/places", response={200: PlacePage, **ERRORS})
def place_list(request, grid: str | None = None, q: str = "", limit: int = 50, offset: int = 0):
    places = (
        Place.objects.visible_to(request.user).filter(archived_at__isnull=True).select_related("grid", "thematic_grid")
    )
    if grid:
        places = places.filter(subtree_q("grid__path", selectors.grid_node_get(user=request.user, code=grid).path))
    if q:
        places = places.filter(name__contains=q)
    items, next_offset = page(places.order_by("id"), limit=limit, offset=offset)
    return {"items": [PlaceOut.from_model(p) for p in items], "next_offset": next_offset}


@router.get("/places/{pk}", response={200: PlaceOut, **ERRORS})
def place_detail(request, pk: int):
    return PlaceOut.from_model(_place(request, pk))


@router.post("/places", response={201: PlaceOut, **ERRORS})
def place_create(request, payload: PlaceIn):
    grid = selectors.grid_node_get(user=request.user, code=payload.grid)
    thematic = selectors.grid_node_get(user=request.user, code=payload.thematic_grid) if payload.thematic_grid else None
    data = payload.dict(exclude={"grid", "thematic_grid", "kind"})
    place = services.place_create(
        grid=grid, thematic_grid=thematic, kind=payload.kind.value, actor=request.user, **data
    )
    return Status(201, PlaceOut.from_model(place))


@router.patch("/places/{pk}", response={200: PlaceOut, **ERRORS})
def place_update(request, pk: int, payload: PlacePatch):
    changes = payload.dict(exclude_unset=True)
    if "grid" in changes:
        changes["grid"] = selectors.grid_node_get(user=request.user, code=changes["grid"] or "")
    if "thematic_grid" in changes:
        code = changes["thematic_grid"]
        changes["thematic_grid"] = selectors.grid_node_get(user=request.user, code=code) if code else None
    if changes.get("kind") is not None:
        changes["kind"] = changes["kind"].value
    return PlaceOut.from_model(services.place_update(place=_place(request, pk), actor=request.user, **changes))
