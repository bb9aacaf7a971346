"""Writes about persons and households. Every write is atomic and audited; nothing is deleted."""

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pypinyin import Style, lazy_pinyin

from epigrid.core import audit, throttle
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, seal, unseal
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound, Throttled
from epigrid.core.scoping import VIEW, allows, authorize, grant_paths, subtree_q
from epigrid.core.validators import IdNumber, Phone, parse_id_number, parse_phone
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import STEP, GridNode

from .choices import Relationship
from .models import ERASED_NAME, Household, Person

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


def _masks(person: Person) -> dict:
    return {"id_number": person.id_number_masked or None, "phone": person.phone_masked or None}


def _audited_diff(before: dict, after: dict, masks_before: dict, masks_after: dict) -> dict:
    """The diff with the personal values as their masks ("138****0001 → 139****0002"), which
    the file shows anyway: the timeline can say what changed without the full number."""
    changes = audit.diff(before, after, sensitive=SENSITIVE)
    for key in changes.keys() & masks_after.keys():
        changes[key] = [masks_before.get(key), masks_after[key]]
    return changes


def _resolve_grid(grid: GridNode | None, household: Household | None) -> GridNode:
    if grid is None and household is not None:
        return household.grid
    if grid is None:
        raise DomainError("grid_required", _("Choose the person's grid or household."), field="grid")
    if grid.level == GridLevel.THEMATIC:
        raise DomainError("grid_thematic", _("A person lives in a geographic grid."), field="grid")
    return grid


# ---------------------------------------------------------------- ID numbers already registered


class RegisteredInScope(Conflict):
    """The ID number is already registered to a person the caller may see: the answer points to
    that file (`person_id`), which the caller can open anyway."""

    def __init__(self, person_id: int):
        super().__init__(
            "id_number_duplicate",
            _("A person with this ID number is already registered in your area: open their file."),
            field="id_number",
        )
        self.person_id = person_id

    def as_dict(self) -> dict:
        return {**super().as_dict(), "person_id": self.person_id}


def id_number_unavailable() -> Conflict:
    """The answer when the ID number is registered where the caller may not see: it says no more
    than that it cannot be registered here (no name, no grid, no "already registered")."""
    return Conflict(
        "id_number_unavailable",
        _("This ID number cannot be registered here. Contact the community office."),
        field="id_number",
    )


@dataclass(frozen=True)
class Duplicate:
    """An ID number refused because `holder_id` (in `holder_path`) has it, met while the caller
    registered at `grid`."""

    holder_id: int
    holder_path: str
    grid: GridNode


def duplicate_answer(duplicate: Duplicate, principal) -> Conflict:
    if allows(principal, VIEW, duplicate.holder_path):
        return RegisteredInScope(duplicate.holder_id)
    return id_number_unavailable()


def duplicates_log(*, principal, duplicates: list[Duplicate], source: str, changes: dict | None = None):
    """Audit and count the duplicates that tell the principal something it may not read in full.

    A holder outside the principal's area: `person.duplicate_outside_scope`, at the grid where the
    principal registered (the community office follows up there), without the number or the
    holder. A holder the principal sees but may not unmask: `person.duplicate` on the holder's
    file (the principal has just confirmed the full number). Both count against the principal's
    allowance (core.throttle.duplicate_probes_*). Holders the principal may unmask tell it nothing
    new and are neither logged nor counted."""
    entries, counted, outside = [], 0, {}
    base = {"source": [None, source], **(changes or {})}
    for duplicate in duplicates:
        if not allows(principal, VIEW, duplicate.holder_path):
            grid = duplicate.grid
            outside.setdefault(grid.pk, [grid, 0])[1] += 1
            counted += 1
        elif not allows(principal, Capability.UNMASK_PII, duplicate.holder_path):
            entries.append(
                audit.AuditEntry(
                    "person.duplicate", "people.person", str(duplicate.holder_id), duplicate.holder_path, base
                )
            )
            counted += 1
    for grid, count in outside.values():
        entries.append(
            audit.AuditEntry(
                "person.duplicate_outside_scope",
                "grids.gridnode",
                str(grid.pk),
                grid.path,
                {**base, "count": [None, count]},
            )
        )
    audit.record_many(principal=principal, entries=entries)
    return throttle.duplicate_probes_count(principal, counted) if counted else None


def _id_number_holder(id_hash: str, *, exclude: int | None = None) -> Person | None:
    holders = Person.objects.filter(id_number_hash=id_hash).select_related("grid")
    if exclude is not None:
        holders = holders.exclude(pk=exclude)
    return holders.first()


def id_number_conflict(*, holder: Person | None, principal, grid: GridNode, source: str) -> Conflict:
    """The refusal of an ID number `holder` already has, logged and counted (`duplicates_log`)."""
    if holder is None:  # gone again since the clash (a concurrent registration rolled back)
        return id_number_unavailable()
    duplicate = Duplicate(holder.pk, holder.grid.path, grid)
    duplicates_log(principal=principal, duplicates=[duplicate], source=source)
    return duplicate_answer(duplicate, principal)


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
    throttle.duplicate_probes_check(principal)
    row = person_row(clean)
    with transaction.atomic():
        holder = _id_number_holder(row["id_number_hash"])
        if holder is None:
            try:
                with transaction.atomic():
                    person = Person.objects.create(household=household, grid=grid, **row)
            except IntegrityError:  # a concurrent request registered the same ID number
                holder = _id_number_holder(row["id_number_hash"])
            else:
                audit.record(
                    principal=principal,
                    action="person.create",
                    obj=person,
                    grid_path=grid.path,
                    changes=_audited_diff({}, _person_state(person), {}, _masks(person)),
                )
                return person
    # Outside the transaction, so the conflict's audit row stays.
    raise id_number_conflict(holder=holder, principal=principal, grid=grid, source="create")


PERSON_EDITABLE = {"name", "id_number", "phone", "household", "grid", "relationship", "note"}


def person_update(*, person: Person, principal, **changes) -> Person:
    unknown = set(changes) - PERSON_EDITABLE
    if unknown:
        raise DomainError("field_unknown", _("This field cannot be changed."), field=sorted(unknown)[0])
    authorize(principal, Capability.EDIT_PEOPLE, person.grid.path)
    if "id_number" in changes:
        throttle.duplicate_probes_check(principal)
    with transaction.atomic():
        locked = Person.objects.select_for_update(of=("self",)).select_related("grid", "household").get(pk=person.pk)
        if locked.archived_at:
            raise DomainError("person_archived", _("This person's file is archived."))
        before, masks_before = _person_state(locked), _masks(locked)
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
        holder = None
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
        else:
            holder = _id_number_holder(row["id_number_hash"], exclude=locked.pk)
        if holder is None:
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
                changes=_audited_diff(before, after, masks_before, _masks(locked)),
            )
            return locked
    # Outside the transaction, so the conflict's audit row stays.
    raise id_number_conflict(holder=holder, principal=principal, grid=grid, source="update")


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
    if person.erased_at:
        raise Conflict(
            "person_erased",
            _("This person's data was erased when its retention ended: there is nothing left to reveal."),
            field=field,
        )
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


# ---------------------------------------------------------------- erasure (retention)


def persons_erase(*, person_ids, now=None) -> dict[str, int]:
    """Anonymise the persons in place (docs/architecture.md "Retention and erasure"): name → a
    placeholder, ID number (sealed, hash, mask), birth date, phone and note emptied, the file
    archived and stamped `erased_at`; the row stays, so counts by grid, sex and birth year keep
    counting. A household with nobody left unerased loses its address and number (archived).
    Set-based (a few UPDATEs whatever the count). Called only by `oversight.retention.purge`, in its
    transaction, which has checked who may and audits the purge once (what and how many, never
    who): this writes no audit row, so nothing here names the persons."""
    now = now or timezone.now()
    ids = list(person_ids)
    if not ids:
        return {"persons": 0, "households": 0}
    persons = Person.objects.filter(pk__in=ids, erased_at__isnull=True)
    household_ids = set(persons.exclude(household=None).values_list("household_id", flat=True))
    erased = persons.update(
        name=ERASED_NAME,
        name_pinyin="",
        name_initials="",
        id_number_sealed=b"",
        # Unique and never a real number's hash (a hash is 64 hex digits).
        id_number_hash=Concat(Value("erased:"), Cast("pk", CharField())),
        id_number_masked="",
        birth_date_sealed=b"",
        phone_sealed=None,
        phone_hash="",
        phone_masked="",
        note="",
        archived_at=Coalesce("archived_at", Value(now)),
        erased_at=now,
        updated_at=now,
    )
    emptied = Household.objects.filter(pk__in=household_ids).exclude(
        Exists(Person.objects.filter(household=OuterRef("pk"), erased_at__isnull=True))
    )
    households = emptied.update(
        address=ERASED_NAME,
        number=Concat(Value("erased-"), Cast("pk", CharField())),
        archived_at=Coalesce("archived_at", Value(now)),
        updated_at=now,
    )
    return {"persons": erased, "households": households}


# ---------------------------------------------------------------- exact search

EXACT_SEARCH_MAX = 20
_EXACT_KEYS = {"id_number": ("id", parse_id_number), "phone": ("phone", parse_phone)}


def _scope_path(paths) -> str:
    """The deepest grid path under which all of `paths` lie ("" for everywhere)."""
    if not paths:
        return ""
    first, *rest = sorted(paths)
    depth = 0
    while depth < len(first) and all(p[depth : depth + STEP] == first[depth : depth + STEP] for p in rest):
        depth += STEP
    return first[:depth]


def person_search_exact(
    *, principal, id_number: str | None = None, phone: str | None = None, grid_path: str = "", include_archived=False
) -> list[Person]:
    """Persons with this full ID number or phone, among those the principal may unmask.

    A full number confirms who a person is, so this search is a reveal: it needs
    Capability.UNMASK_PII over the searched scope (403 without it; `grid_path` narrows the scope,
    404 outside what the principal sees), each search is audited as `person.search_reveal`
    (which key was searched and how many were found, never the value: one row per person found,
    or one at the searched scope when none was), and searches are limited per principal
    (settings.PERSON_EXACT_SEARCH_LIMIT per PERSON_EXACT_SEARCH_WINDOW_SECONDS, then 429).
    Callers take the value from a request body, never from a URL."""
    given = [(key, value) for key, value in (("id_number", id_number), ("phone", phone)) if (value or "").strip()]
    if len(given) != 1:
        raise DomainError(
            "search_key_required", _("Give either a full ID number or a phone number."), field="id_number"
        )
    key, value = given[0]
    if grid_path and not allows(principal, VIEW, grid_path):
        raise NotFound("not_found", _("Not found."))
    if not allows(principal, Capability.UNMASK_PII, grid_path or None):
        raise Forbidden(
            "unmask_required",
            _("Searching by a full ID number or phone needs the right to see them unmasked here."),
            field=key,
        )
    kind, parse = _EXACT_KEYS[key]
    number = parse(value, field=key).number
    scope = grid_path or _scope_path(grant_paths(principal, Capability.UNMASK_PII))
    count = throttle.hit(
        "person-exact-search",
        principal,
        limit=settings.PERSON_EXACT_SEARCH_LIMIT,
        window=settings.PERSON_EXACT_SEARCH_WINDOW_SECONDS,
    )
    if count.crossed:
        audit.record(
            principal=principal,
            action="person.search_throttled",
            grid_path=scope,
            changes={"searches": [None, count.after], "limit": [None, count.limit]},
        )
    if count.refused:
        raise Throttled(
            "exact_search_throttled",
            _("Too many searches by ID number or phone: wait a few minutes, then try again."),
            field=key,
        )
    persons = (
        Person.objects.restrict(principal, Capability.UNMASK_PII)
        .filter(**{f"{key}_hash": lookup_hash(kind, number)})
        .select_related("grid", "household")
    )
    if not include_archived:
        persons = persons.current()
    if grid_path:
        persons = persons.filter(subtree_q("grid__path", grid_path))
    found = list(persons.order_by("grid__path", "id")[:EXACT_SEARCH_MAX])
    changes = {"key": [None, key], "matches": [None, len(found)]}
    entries = [
        audit.AuditEntry("person.search_reveal", "people.person", str(person.pk), person.grid.path, changes)
        for person in found
    ] or [audit.AuditEntry("person.search_reveal", "", "", scope, changes)]
    audit.record_many(principal=principal, entries=entries)
    return found


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
