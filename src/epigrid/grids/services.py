"""Writes about the grid tree and places."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import seal
from epigrid.core.errors import Conflict, DomainError, NotFound
from epigrid.core.scoping import authorize
from epigrid.core.validators import parse_phone

from .choices import CHILD_LEVELS, GridLevel, PlaceKind, ThematicCategory
from .models import GridNode, Place

MANAGE_GRIDS = Capability.MANAGE_GRIDS
EDIT_PEOPLE = Capability.EDIT_PEOPLE


def grid_node_create(
    *, parent: GridNode | None, code: str, name: str, level: str, category: str = "", address: str = "", principal
) -> GridNode:
    """Add a node under `parent` (a new subdistrict when parent is None), checking the level rules."""
    code, name = code.strip().upper(), name.strip()
    if parent is None:
        if not getattr(principal, "is_superuser", False):
            raise NotFound("grid_not_found", _("No such grid."))
    else:
        authorize(principal, MANAGE_GRIDS, parent.path)
    if level not in CHILD_LEVELS.get(parent.level if parent else None, set()):
        raise DomainError("grid_level", _("A node of this level cannot be placed here."), field="level")
    if level == GridLevel.THEMATIC and category not in ThematicCategory.values:
        raise DomainError("grid_category", _("Choose the thematic grid's category."), field="category")
    if level != GridLevel.THEMATIC and category:
        raise DomainError("grid_category_thematic_only", _("Only a thematic grid has a category."), field="category")
    if not code or not name:
        raise DomainError("grid_code_required", _("A grid needs a code and a name."), field="code")
    with transaction.atomic():
        if GridNode.objects.filter(code=code).exists():
            raise Conflict("grid_code_taken", _("This grid code is already used."), field="code")
        fields = {"code": code, "name": name, "level": level, "category": category, "address": address}
        if parent is None:
            node = GridNode.objects.add_root(fields)
        else:
            node = GridNode.objects.add_child(GridNode.objects.get(pk=parent.pk), fields)
        audit.record(
            principal=principal,
            action="grid_node.create",
            obj=node,
            grid_path=node.path,
            changes={k: [None, v] for k, v in fields.items() if v},
        )
    return node


def clean_place_fields(*, name, kind, grid, thematic_grid, credit_code, contact_phone):
    if not (name or "").strip():
        raise DomainError("place_name_required", _("A place needs a name."), field="name")
    if kind not in PlaceKind.values:
        raise DomainError("place_kind", _("Unknown kind of place."), field="kind")
    if grid.level == GridLevel.THEMATIC:
        raise DomainError("place_grid_thematic", _("A place's grid must be a geographic grid."), field="grid")
    if thematic_grid is not None and thematic_grid.level != GridLevel.THEMATIC:
        raise DomainError("place_thematic_grid", _("This is not a thematic grid."), field="thematic_grid")
    credit_code = (credit_code or "").strip().upper()
    if credit_code and not uscc.is_valid(credit_code):
        raise DomainError("credit_code_invalid", _("The unified social credit code is not valid."), field="credit_code")
    phone = parse_phone(contact_phone, field="contact_phone") if contact_phone else None
    return credit_code, phone


def place_create(
    *,
    name: str,
    kind: str,
    grid: GridNode,
    address: str = "",
    thematic_grid: GridNode | None = None,
    credit_code: str = "",
    contact_name: str = "",
    contact_phone: str = "",
    principal,
) -> Place:
    authorize(principal, EDIT_PEOPLE, grid.path)
    credit_code, phone = clean_place_fields(
        name=name,
        kind=kind,
        grid=grid,
        thematic_grid=thematic_grid,
        credit_code=credit_code,
        contact_phone=contact_phone,
    )
    with transaction.atomic():
        place = Place.objects.create(
            name=name.strip(),
            kind=kind,
            grid=grid,
            address=address.strip(),
            thematic_grid=thematic_grid,
            credit_code=credit_code,
            contact_name=contact_name.strip(),
            contact_phone_sealed=seal(phone.number) if phone else None,
            contact_phone_masked=phone.masked if phone else "",
        )
        audit.record(
            principal=principal,
            action="place.create",
            obj=place,
            grid_path=grid.path,
            changes=audit.diff({}, _place_state(place), sensitive={"contact_phone"}),
        )
    return place


def _place_state(place: Place) -> dict:
    return {
        "name": place.name,
        "kind": place.kind,
        "address": place.address,
        "grid": place.grid.code,
        "thematic_grid": place.thematic_grid.code if place.thematic_grid else None,
        "credit_code": place.credit_code,
        "contact_name": place.contact_name,
        "contact_phone": place.contact_phone_masked or None,
    }


def place_update(*, place: Place, principal, **changes) -> Place:
    allowed = {"name", "kind", "grid", "address", "thematic_grid", "credit_code", "contact_name", "contact_phone"}
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError("field_unknown", _("This field cannot be changed."), field=sorted(unknown)[0])
    # A place is in the care of its geographic grid and of its thematic grid (专属网格): either may edit it.
    Place.objects.get_for(principal, EDIT_PEOPLE, pk=place.pk)
    if "grid" in changes:
        authorize(principal, EDIT_PEOPLE, changes["grid"].path)
    with transaction.atomic():
        locked = Place.objects.select_for_update(of=("self",)).select_related("grid", "thematic_grid").get(pk=place.pk)
        before = _place_state(locked)
        merged = {
            "name": changes.get("name", locked.name),
            "kind": changes.get("kind", locked.kind),
            "grid": changes.get("grid", locked.grid),
            "thematic_grid": changes.get("thematic_grid", locked.thematic_grid),
            "credit_code": changes.get("credit_code", locked.credit_code),
            "contact_phone": changes.get("contact_phone"),
        }
        credit_code, phone = clean_place_fields(**merged)
        locked.name, locked.kind, locked.grid = merged["name"].strip(), merged["kind"], merged["grid"]
        locked.thematic_grid, locked.credit_code = merged["thematic_grid"], credit_code
        locked.address = changes.get("address", locked.address).strip()
        locked.contact_name = changes.get("contact_name", locked.contact_name).strip()
        if "contact_phone" in changes:
            locked.contact_phone_sealed = seal(phone.number) if phone else None
            locked.contact_phone_masked = phone.masked if phone else ""
        after = _place_state(locked)
        if after == before and "contact_phone" not in changes:
            return locked
        locked.save()
        audit.record(
            principal=principal,
            action="place.update",
            obj=locked,
            grid_path=locked.grid.path,
            changes=audit.diff(before, after, sensitive={"contact_phone"}),
        )
    return locked


def place_archive(*, place: Place, principal) -> Place:
    Place.objects.get_for(principal, EDIT_PEOPLE, pk=place.pk)
    with transaction.atomic():
        locked = Place.objects.select_for_update().get(pk=place.pk)
        if locked.archived_at:
            return locked
        locked.archived_at = timezone.now()
        locked.save(update_fields=["archived_at", "updated_at"])
        audit.record(principal=principal, action="place.archive", obj=locked, grid_path=place.grid.path)
    return locked
