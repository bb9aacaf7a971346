from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, In, page
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Invalid
from epigrid.core.scoping import subtree_q

from . import selectors, services
from .choices import GridLevel, PlaceKind, ThematicCategory
from .models import GridNode, Place

router = Router(tags=["grids"])
EDIT_PEOPLE = Capability.EDIT_PEOPLE  # places are registered and edited with the people right


class GridOut(Schema):
    code: str
    name: str
    level: GridLevel
    category: str
    parent: str | None
    depth: int


class GridIn(In):
    parent: str | None = None
    code: str
    name: str
    level: GridLevel
    category: ThematicCategory | None = None
    address: str = ""


def grid_out(node: GridNode, parents: dict[str, str]) -> dict:
    return {
        "code": node.code,
        "name": node.name,
        "level": node.level,
        "category": node.category,
        "parent": parents.get(node.parent_path) if node.depth > 1 else None,
        "depth": node.depth,
    }


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
    total: int | None = None  # with_total=true: the rows matching the filters


class PlaceIn(In):
    name: str
    kind: PlaceKind
    grid: str
    address: str = ""
    thematic_grid: str | None = None
    credit_code: str = ""
    contact_name: str = ""
    contact_phone: str = ""


class PlacePatch(In):
    # Left out: unchanged. These three cannot be emptied, so null is not a value (the schema says so).
    name: str = None
    kind: PlaceKind = None
    grid: str = None
    address: str | None = None
    thematic_grid: str | None = None
    credit_code: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None


@router.get(
    "/places",
    response={200: PlacePage, **ERRORS},
    description=(
        "Who may call: any user with a role; answers only the places (not archived) seen from the caller's "
        "grids, through their geographic or their thematic grid. Filters: `grid` (a subtree of the geographic "
        "grid, 404 outside sight), `q` (part of the name). The contact's phone is answered masked. Ordered by "
        "id; `next_offset` pages. Reads only: no cascade."
    ),
)
def place_list(
    request, grid: str | None = None, q: str = "", limit: int = 50, offset: int = 0, with_total: bool = False
):
    places = (
        Place.objects.restrict(request.user).filter(archived_at__isnull=True).select_related("grid", "thematic_grid")
    )
    if grid:
        places = places.filter(subtree_q("grid__path", selectors.grid_node_get(user=request.user, code=grid).path))
    if q:
        places = places.filter(name__contains=q)
    items, next_offset, total = page(places.order_by("id"), limit=limit, offset=offset, with_total=with_total)
    return {"items": [PlaceOut.from_model(p) for p in items], "next_offset": next_offset, "total": total}


@router.get(
    "/places/{pk}",
    response={200: PlaceOut, **ERRORS},
    description=(
        "Who may call: a user who sees the place's geographic or thematic grid (else 404 `place_not_found`, "
        "whether or not it exists). The contact's phone is answered masked. Reads only: no cascade."
    ),
)
def place_detail(request, pk: int):
    return PlaceOut.from_model(selectors.place_get(user=request.user, pk=pk))


@router.post(
    "/places",
    response={201: PlaceOut, **ERRORS},
    description=(
        "Who may call: a user with `edit_people` over `grid` (403 in sight without it, 404 out of sight); a "
        "`thematic_grid` must be in the caller's sight (404 `grid_not_found`). Audited. No cascade."
    ),
)
def place_create(request, payload: PlaceIn):
    grid = selectors.grid_node_get(user=request.user, code=payload.grid, capability=EDIT_PEOPLE)
    thematic = selectors.grid_node_get(user=request.user, code=payload.thematic_grid) if payload.thematic_grid else None
    data = payload.dict(exclude={"grid", "thematic_grid", "kind"})
    place = services.place_create(
        grid=grid, thematic_grid=thematic, kind=payload.kind.value, principal=request.user, **data
    )
    return Status(201, PlaceOut.from_model(place))


@router.patch(
    "/places/{pk}",
    response={200: PlaceOut, **ERRORS},
    description=(
        "Who may call: a user with `edit_people` over the place's geographic or thematic grid (403 in sight "
        "without it, 404 out of sight, `place_not_found`); moving it to another `grid` needs `edit_people` "
        "there too. Fields left out stay; `null` clears a text but `name`, `kind` and `grid` cannot be emptied "
        "(422 `required`). Audited. No cascade."
    ),
)
def place_update(request, pk: int, payload: PlacePatch):
    place = selectors.place_get(user=request.user, pk=pk, capability=EDIT_PEOPLE)
    changes = payload.dict(exclude_unset=True)
    for key in ("name", "kind", "grid"):
        if key in changes and changes[key] is None:
            raise Invalid("required", _("This field cannot be empty."), field=key)
    for key in ("address", "credit_code", "contact_name"):
        if key in changes and changes[key] is None:
            changes[key] = ""  # null clears a text
    if "grid" in changes:
        changes["grid"] = selectors.grid_node_get(user=request.user, code=changes["grid"], capability=EDIT_PEOPLE)
    if "thematic_grid" in changes:
        code = changes["thematic_grid"]
        changes["thematic_grid"] = selectors.grid_node_get(user=request.user, code=code) if code else None
    if changes.get("kind") is not None:
        changes["kind"] = changes["kind"].value
    return PlaceOut.from_model(services.place_update(place=place, principal=request.user, **changes))
