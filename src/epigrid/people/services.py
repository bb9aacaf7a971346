"""Writes about persons and households. Every write is atomic and audited; nothing is deleted."""

from dataclasses import dataclass
from functools import cache

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pypinyin import Style, lazy_pinyin

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, seal, unseal
from epigrid.core.errors import Conflict, DomainError
from epigrid.core.scoping import authorize
from epigrid.core.validators import IdNumber, Phone, parse_id_number, parse_phone
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode

from .choices import Relationship
from .models import Household, Person

# Never in clear outside `person_reveal` (and never in the audit log's `changes`): the birth
# date is the 8 digits the masked ID number hides.
SENSITIVE = {"id_number", "phone", "birth_date"}
REVEALABLE = ("id_number", "birth_date", "phone")


@cache
def _char_pinyin(char: str) -> tuple[str, str]:
    # Per character and cached: a city's names reuse a few thousand characters, and pypinyin
    # costs ~70 µs a call (imports of a million rows).
    full = "".join(lazy_pinyin(char, errors="ignore")).lower()
    initial = "".join(lazy_pinyin(char, style=Style.FIRST_LETTER, errors="ignore")).lower()
    return full, initial


def name_pinyin(name: str) -> tuple[str, str]:
    """Full pinyin and initials, so "zhangsan" and "zs" both find 张三."""
    parts = [_char_pinyin(char) for char in name if not char.isspace()]
    return "".join(p[0] for p in parts), "".join(p[1] for p in parts)


@dataclass(frozen=True)
class CleanPerson:
    """A validated person row, ready to be sealed and stored (shared by forms, API and import)."""

    name: str
    id_number: IdNumber
    phone: Phone | None
    relationship: str
    note: str


def clean_person_fields(*, name, id_number, phone, relationship="", note="") -> CleanPerson:
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise DomainError("name_required", _("Enter the person's name (at most 50 characters)."), field="name")
    if relationship and relationship not in Relationship.values:
        raise DomainError("relationship_unknown", _("Unknown relationship."), field="relationship")
    return CleanPerson(
        name=name,
        id_number=parse_id_number(id_number),
        phone=parse_phone(phone) if phone not in (None, "") else None,
        relationship=relationship or "",
        note=(note or "").strip()[:200],
    )


def person_row(clean: CleanPerson) -> dict:
    """The stored columns of a person (sealed values, hashes, masks, pinyin)."""
    pinyin, initials = name_pinyin(clean.name)
    phone = clean.phone
    return {
        "name": clean.name,
        "name_pinyin": pinyin,
        "name_initials": initials,
        "id_number_sealed": seal(clean.id_number.number),
        "id_number_hash": lookup_hash("id", clean.id_number.number),
        "id_number_masked": clean.id_number.masked,
        "sex": clean.id_number.sex,
        "birth_year": clean.id_number.birth_date.year,
        "birth_date_sealed": seal(clean.id_number.birth_date.isoformat()),
        "phone_sealed": seal(phone.number) if phone else None,
        "phone_hash": lookup_hash("phone", phone.number) if phone else "",
        "phone_masked": phone.masked if phone else "",
        "relationship": clean.relationship,
        "note": clean.note,
    }


def _person_state(person: Person) -> dict:
    return {
        "name": person.name,
        "id_number": person.id_number_hash,
        "phone": person.phone_hash or None,
        "household": person.household_id,
        "relationship": person.relationship or None,
        "grid": person.grid.code,
        "note": person.note or None,
    }


def _resolve_grid(grid: GridNode | None, household: Household | None) -> GridNode:
    if grid is None and household is not None:
        return household.grid
    if grid is None:
        raise DomainError("grid_required", _("Choose the person's grid or household."), field="grid")
    if grid.level == GridLevel.THEMATIC:
        raise DomainError("grid_thematic", _("A person lives in a geographic grid."), field="grid")
    return grid


def person_create(
    *,
    name: str,
    id_number: str,
    phone: str | None = None,
    household: Household | None = None,
    grid: GridNode | None = None,
    relationship: str = "",
    note: str = "",
    principal,
) -> Person:
    clean = clean_person_fields(name=name, id_number=id_number, phone=phone, relationship=relationship, note=note)
    grid = _resolve_grid(grid, household)
    authorize(principal, Capability.EDIT_PEOPLE, grid.path)
    row = person_row(clean)
    with transaction.atomic():
        if Person.objects.filter(id_number_hash=row["id_number_hash"]).exists():
            raise Conflict(
                "id_number_duplicate", _("A person with this ID number is already registered."), field="id_number"
            )
        try:
            with transaction.atomic():
                person = Person.objects.create(household=household, grid=grid, **row)
        except IntegrityError:  # a concurrent request registered the same ID number
            raise Conflict(
                "id_number_duplicate", _("A person with this ID number is already registered."), field="id_number"
            ) from None
        audit.record(
            principal=principal,
            action="person.create",
            obj=person,
            grid_path=grid.path,
            changes=audit.diff({}, _person_state(person), sensitive=SENSITIVE),
        )
    return person


PERSON_EDITABLE = {"name", "id_number", "phone", "household", "grid", "relationship", "note"}


def person_update(*, person: Person, principal, **changes) -> Person:
    unknown = set(changes) - PERSON_EDITABLE
    if unknown:
        raise DomainError("field_unknown", _("This field cannot be changed."), field=sorted(unknown)[0])
    authorize(principal, Capability.EDIT_PEOPLE, person.grid.path)
    with transaction.atomic():
        locked = Person.objects.select_for_update(of=("self",)).select_related("grid", "household").get(pk=person.pk)
        if locked.archived_at:
            raise DomainError("person_archived", _("This person's file is archived."))
        before = _person_state(locked)
        household = changes.get("household", locked.household)
        grid = changes.get("grid") or (household.grid if "household" in changes and household else locked.grid)
        grid = _resolve_grid(grid, household)
        if grid.pk != locked.grid_id:
            authorize(principal, Capability.EDIT_PEOPLE, grid.path)
        phone = changes.get("phone", "keep")
        clean = clean_person_fields(
            name=changes.get("name", locked.name),
            id_number=changes["id_number"] if "id_number" in changes else unseal(locked.id_number_sealed),
            phone=None if phone == "keep" else phone,
            relationship=changes.get("relationship", locked.relationship),
            note=changes.get("note", locked.note),
        )
        row = person_row(clean)
        if "id_number" not in changes or row["id_number_hash"] == locked.id_number_hash:
            for key in (
                "id_number_sealed",
                "id_number_hash",
                "id_number_masked",
                "sex",
                "birth_year",
                "birth_date_sealed",
            ):
                row.pop(key)
        elif Person.objects.filter(id_number_hash=row["id_number_hash"]).exclude(pk=locked.pk).exists():
            raise Conflict(
                "id_number_duplicate", _("A person with this ID number is already registered."), field="id_number"
            )
        if phone == "keep" or row["phone_hash"] == locked.phone_hash:
            for key in ("phone_sealed", "phone_hash", "phone_masked"):
                row.pop(key)
        for key, value in row.items():
            setattr(locked, key, value)
        locked.household, locked.grid = household, grid
        after = _person_state(locked)
        if after == before:
            return locked
        locked.save()
        audit.record(
            principal=principal,
            action="person.update",
            obj=locked,
            grid_path=grid.path,
            changes=audit.diff(before, after, sensitive=SENSITIVE),
        )
    return locked


def person_archive(*, person: Person, reason: str, principal) -> Person:
    """Close a file (moved away, deceased, duplicate): the file stays, it leaves the lists."""
    authorize(principal, Capability.EDIT_PEOPLE, person.grid.path)
    if not (reason or "").strip():
        raise DomainError("reason_required", _("Give the reason."), field="reason")
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        if locked.archived_at:
            return locked
        locked.archived_at = timezone.now()
        locked.save(update_fields=["archived_at", "updated_at"])
        audit.record(
            principal=principal,
            action="person.archive",
            obj=locked,
            grid_path=person.grid.path,
            changes={"archived_at": [None, locked.archived_at.isoformat()], "reason": [None, reason.strip()]},
        )
    return locked


def person_reveal(*, person: Person, field: str, principal) -> str:
    """The full ID number, birth date (YYYY-MM-DD) or phone, for a user allowed to see it;
    every reveal is logged (the field's name, never its value)."""
    if field not in REVEALABLE:
        raise DomainError("field_unknown", _("This field cannot be revealed."), field="field")
    authorize(principal, Capability.UNMASK_PII, person.grid.path)
    sealed = {
        "id_number": person.id_number_sealed,
        "birth_date": person.birth_date_sealed,
        "phone": person.phone_sealed,
    }[field]
    if not sealed:
        return ""
    audit.record(
        principal=principal,
        action="person.reveal",
        obj=person,
        grid_path=person.grid.path,
        changes={"field": [None, field]},
    )
    return unseal(sealed)


def _household_state(household: Household) -> dict:
    return {"number": household.number, "address": household.address, "grid": household.grid.code}


def household_create(*, grid: GridNode, number: str, address: str, principal) -> Household:
    grid = _resolve_grid(grid, None)
    authorize(principal, Capability.EDIT_PEOPLE, grid.path)
    number, address = (number or "").strip(), (address or "").strip()
    if not number or not address:
        raise DomainError("household_required", _("A household needs a number and an address."), field="number")
    with transaction.atomic():
        if Household.objects.filter(grid=grid, number=number, archived_at__isnull=True).exists():
            raise Conflict(
                "household_number_taken", _("This household number is already used in this grid."), field="number"
            )
        household = Household.objects.create(grid=grid, number=number, address=address)
        audit.record(
            principal=principal,
            action="household.create",
            obj=household,
            grid_path=grid.path,
            changes=audit.diff({}, _household_state(household)),
        )
    return household


def household_update(*, household: Household, principal, **changes) -> Household:
    unknown = set(changes) - {"number", "address", "grid"}
    if unknown:
        raise DomainError("field_unknown", _("This field cannot be changed."), field=sorted(unknown)[0])
    authorize(principal, Capability.EDIT_PEOPLE, household.grid.path)
    with transaction.atomic():
        locked = Household.objects.select_for_update(of=("self",)).select_related("grid").get(pk=household.pk)
        before = _household_state(locked)
        if "grid" in changes:
            grid = _resolve_grid(changes["grid"], None)
            authorize(principal, Capability.EDIT_PEOPLE, grid.path)
            locked.grid = grid
        locked.number = (changes.get("number", locked.number) or "").strip()
        locked.address = (changes.get("address", locked.address) or "").strip()
        if not locked.number or not locked.address:
            raise DomainError("household_required", _("A household needs a number and an address."), field="number")
        after = _household_state(locked)
        if after == before:
            return locked
        if (
            Household.objects.filter(grid=locked.grid, number=locked.number, archived_at__isnull=True)
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise Conflict(
                "household_number_taken", _("This household number is already used in this grid."), field="number"
            )
        locked.save()
        if before["grid"] != after["grid"]:
            # Members move with their household, in one statement.
            Person.objects.filter(household=locked).update(grid=locked.grid, updated_at=timezone.now())
        audit.record(
            principal=principal,
            action="household.update",
            obj=locked,
            grid_path=locked.grid.path,
            changes=audit.diff(before, after),
        )
    return locked
