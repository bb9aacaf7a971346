"""台账: import and export of the residents and places ledgers as .xlsx (or .csv).

An import is all-or-nothing: every row is validated, rows are written chunk by chunk inside one
transaction, and if any row is bad the transaction is rolled back and the answer lists every
bad row (row number, column, bilingual message). Rows are streamed, so a 100,000-row file
never sits in memory as Python objects.

A residents ledger matches its rows to registered persons by ID number (the keyed lookup hash,
one query per chunk): a person the importer may edit is updated from the row (or left as is),
a new number is registered; the batch's `report` says per row created / updated / unchanged.
"""

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.permissions import job_start_for, job_user
from epigrid.core import audit, extensions, jobs, throttle
from epigrid.core.bulk import bulk_insert, copy_insert, copy_staged_update, gc_paused
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, seal, unseal
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.models import ImportBatch, ImportKind, ImportStatus
from epigrid.core.replica import from_replica
from epigrid.core.scoping import allows, authorize, subtree_q
from epigrid.core.tabular import check_size, iter_table
from epigrid.core.validators import parse_id_number, parse_phone
from epigrid.core.xlsx import write_ledger
from epigrid.grids.choices import GridLevel, PlaceKind
from epigrid.grids.models import GridNode, Place
from epigrid.grids.services import clean_place_fields

from .choices import Relationship
from .models import Household, Person
from .services import (
    SENSITIVE,
    CleanPerson,
    Duplicate,
    duplicate_answer,
    duplicates_log,
    name_pinyin,
    person_row,
)

CHUNK = 2000
IMPORT_JOB = "ledger_import"
EXPORT_JOB = "ledger_export"
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the Chinese header community offices already use
    required: bool = True


RESIDENT_COLUMNS = [
    Column("grid", "网格编码"),
    Column("household_number", "户号"),
    Column("address", "住址"),
    Column("name", "姓名"),
    Column("id_number", "身份证号码"),
    Column("phone", "联系电话", required=False),
    Column("relationship", "与户主关系", required=False),
    Column("note", "备注", required=False),
]
PLACE_COLUMNS = [
    Column("name", "场所名称"),
    Column("kind", "类型"),
    Column("address", "地址", required=False),
    Column("grid", "网格编码"),
    Column("thematic_grid", "专属网格编码", required=False),
    Column("credit_code", "统一社会信用代码", required=False),
    Column("contact_name", "联系人", required=False),
    Column("phone", "联系电话", required=False),
]
COLUMNS = {ImportKind.RESIDENTS: RESIDENT_COLUMNS, ImportKind.PLACES: PLACE_COLUMNS}
SHEET_NAMES = {ImportKind.RESIDENTS: "居民台账", ImportKind.PLACES: "场所台账"}

# Ledgers carry the Chinese labels; the database keeps the codes.
RELATIONSHIP_LABELS = {
    Relationship.HEAD: "户主",
    Relationship.SPOUSE: "配偶",
    Relationship.CHILD: "子女",
    Relationship.PARENT: "父母",
    Relationship.GRANDCHILD: "孙子女",
    Relationship.OTHER: "其他",
}
PLACE_KIND_LABELS = {
    PlaceKind.COMPOUND: "居民小区",
    PlaceKind.SCHOOL: "学校",
    PlaceKind.CLINIC: "医疗机构",
    PlaceKind.ENTERPRISE: "企业",
    PlaceKind.SHOP: "商户",
    PlaceKind.INSTITUTION: "驻区单位",
    PlaceKind.PUBLIC: "公共场所",
    PlaceKind.OTHER: "其他",
}
_RELATIONSHIP_BY_LABEL = {v: k for k, v in RELATIONSHIP_LABELS.items()}
_KIND_BY_LABEL = {v: k for k, v in PLACE_KIND_LABELS.items()}


# ---------------------------------------------------------------- reading


def iter_rows(data: bytes, file_name: str) -> Iterator[list[str]]:
    """Rows of the first sheet (or the CSV) as lists of text cells, read within the upload limits
    (core.tabular: file size, rows, columns, cell length, zip expansion)."""
    return iter_table(data, file_name)


def _header_map(header: list[str], columns: list[Column]) -> dict[str, int]:
    positions = {text.strip(): i for i, text in enumerate(header) if text}
    missing = [c.header for c in columns if c.required and c.header not in positions]
    if missing:
        raise DomainError(
            "header_missing",
            _("The first row must hold the column headers; missing: %(columns)s."),
            params={"columns": "、".join(missing)},
        )
    return {c.key: positions[c.header] for c in columns if c.header in positions}


def _row_error(row_number: int, column: Column | None, error: DomainError) -> dict:
    data = error.as_dict()
    row = {
        "row": row_number,
        "column": column.header if column else "",
        "code": data["code"],
        "message": data["message"],
        "messages": data["messages"],
    }
    if data.get("person_id"):  # already registered in the importer's area: the file to open
        row["person_id"] = data["person_id"]
    return row


# ---------------------------------------------------------------- importing


class _Rollback(Exception):
    pass


class _Importer:
    """Validates and writes one ledger; subclasses know their columns and rows."""

    kind: str

    def __init__(self, *, principal, batch: ImportBatch, progress=None):
        self.principal = principal
        self.batch = batch
        self.progress = progress  # core.jobs.Progress: told after each chunk; raises Cancelled
        self.written = 0  # rows written so far (inside the import's transaction)
        self.columns = COLUMNS[self.kind]
        self.by_key = {c.key: c for c in self.columns}
        self.errors: list[dict] = []
        self.error_count = 0
        self.grids: dict[str, GridNode | DomainError] = {}
        self.nodes: dict[str, GridNode | None] = {}  # by code; None: unknown or outside the area
        self.importable: set[str] = set()  # codes of nodes the principal may import into
        self.present: set[str] = set()  # the keys of the columns the file has
        self.refused_rows: set[int] = set()
        # The audit entries of every chunk, appended to the chain once at the end: the chain's
        # head is locked from an append to the commit, so appending per chunk would stop every
        # other audited write in the city (a temperature report, a gate scan) for the whole import.
        self.audit_entries: list[audit.AuditEntry] = []

    def preload(self, chunk) -> None:
        """The chunk's grid codes in two queries, not two per code (a city file names thousands)."""
        self._load({v.get(k, "").upper() for _, v in chunk for k in ("grid", "thematic_grid")})

    def _load(self, codes: set[str]) -> None:
        # Through restrict: a code outside the principal's area reads as unknown, one inside it
        # where their role may not import is refused as such (the rows' 404 and 403).
        codes = codes - set(self.nodes) - {""}
        if not codes:
            return
        visible = {n.code: n for n in GridNode.objects.restrict(self.principal).filter(code__in=codes)}
        self.nodes.update({code: visible.get(code) for code in codes})
        self.importable.update(
            GridNode.objects.restrict(self.principal, Capability.IMPORT_EXPORT)
            .filter(code__in=list(visible))
            .values_list("code", flat=True)
        )

    def error(self, row_number: int, key: str | None, error: DomainError) -> None:
        self.error_count += 1
        self.refused_rows.add(row_number)
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(_row_error(row_number, self.by_key.get(key) if key else None, error))

    def grid(self, code: str, *, thematic: bool = False) -> GridNode:
        key = f"{'T' if thematic else 'G'}:{code.upper()}"
        if key not in self.grids:
            self._load({code.upper()})
            node = self.nodes.get(code.upper())
            if node is None:
                result = DomainError("grid_unknown", _("Unknown grid code (or outside your area)."))
            elif node.code not in self.importable:
                result = DomainError("grid_forbidden", _("Your role may not import into this grid."))
            elif thematic != (node.level == GridLevel.THEMATIC):
                result = DomainError("grid_level", _("This grid code is not of the right kind here."))
            else:
                result = node
            self.grids[key] = result
        result = self.grids[key]
        if isinstance(result, DomainError):
            raise result
        return result

    def run(self, rows: Iterator[list[str]]) -> int:
        try:
            header = next(rows)
        except StopIteration:
            raise DomainError("file_empty", _("The file is empty.")) from None
        positions = _header_map(header, self.columns)
        self.present = set(positions)
        count, chunk, row_number = 0, [], 1
        for cells in rows:
            row_number += 1
            if not any(cells):
                continue
            values = {key: (cells[i] if i < len(cells) else "") for key, i in positions.items()}
            chunk.append((row_number, values))
            count += 1
            if len(chunk) >= CHUNK:
                self.preload(chunk)
                self.process(chunk)
                self.report_progress(count)
                chunk = []
        if chunk:
            self.preload(chunk)
            self.process(chunk)
            self.report_progress(count)
        if count == 0:
            raise DomainError("file_empty", _("The file has no data rows."))
        return count

    def process(self, chunk) -> None:
        raise NotImplementedError

    def report_progress(self, checked: int) -> None:
        if self.progress is not None:
            self.progress.step(checked=checked, written=0 if self.error_count else self.written)


class _ResidentImporter(_Importer):
    kind = ImportKind.RESIDENTS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen_ids: set[str] = set()
        self.duplicates: list[Duplicate] = []
        self.households: dict[tuple[int, str], int] = {}
        self.household_addresses: dict[tuple[int, str], str] = {}
        self.outcomes: list[tuple[int, str, int]] = []  # (row, created|updated|unchanged, person id)

    def process(self, chunk) -> None:
        clean_rows = []
        today = timezone.localdate()  # once a chunk, not once a row
        parsers = (
            ("name", _parse_name),
            ("id_number", lambda value: parse_id_number(value, today=today)),
            ("phone", _parse_optional_phone),
        )
        for row_number, values in chunk:
            before = self.error_count
            grid = None
            id_hash = None
            try:
                grid = self.grid(values["grid"])
                if grid.level not in (GridLevel.GRID, GridLevel.BUILDING):
                    grid = None
                    raise DomainError("grid_not_leaf", _("Use a compound-grid or building code."))
            except DomainError as exc:
                self.error(row_number, "grid", exc)
            number, address = values["household_number"], values["address"]
            for key, value in (("household_number", number), ("address", address)):
                if not value:
                    self.error(row_number, key, DomainError("required", _("This cell is required.")))
            label = values.get("relationship", "")
            relationship = _RELATIONSHIP_BY_LABEL.get(label, "" if not label else None)
            if relationship is None:
                self.error(
                    row_number,
                    "relationship",
                    DomainError(
                        "relationship_unknown",
                        _("Unknown relationship; use one of: %(labels)s."),
                        params={"labels": "、".join(RELATIONSHIP_LABELS.values())},
                    ),
                )
            # Each cell is checked on its own so the report lists every bad cell of the row.
            cells = {}
            for key, parse in parsers:
                try:
                    cells[key] = parse(values.get(key, ""))
                except DomainError as exc:
                    self.error(row_number, key, exc)
            if "id_number" in cells:
                id_hash = lookup_hash("id", cells["id_number"].number)
                if id_hash in self.seen_ids:
                    self.error(
                        row_number,
                        "id_number",
                        DomainError("id_number_duplicate_in_file", _("This ID number appears twice in the file.")),
                    )
                self.seen_ids.add(id_hash)
            if grid is not None and number and address:
                known = self.household_addresses.setdefault((grid.pk, number), address)
                if known != address:
                    self.error(
                        row_number,
                        "address",
                        DomainError(
                            "household_address_mismatch", _("The same household number has another address above.")
                        ),
                    )
            if self.error_count == before:
                clean = CleanPerson(
                    name=cells["name"],
                    id_number=cells["id_number"],
                    phone=cells["phone"],
                    relationship=relationship,
                    note=values.get("note", "")[:200],
                )
                clean_rows.append((row_number, grid, number, address, clean, id_hash))
        registered = self._check_existing(clean_rows)
        if self.error_count:
            return  # keep validating the rest of the file, but write nothing more
        self._write(clean_rows, registered)
        self.written += len(clean_rows)

    def _check_existing(self, clean_rows) -> dict[str, dict]:
        """The registered persons the rows name, by ID hash, in one query: those the importer may
        edit are returned (to update), the others refuse their row.

        A number registered where the importer may not see gets the generic refusal, naming no one
        (services.duplicate_answer); ledger_import logs and counts them. One the importer sees but
        may not import or edit there points to the file, as the person form does."""
        rows = {row[5]: row for row in clean_rows}
        registered = {}
        # Locked until the import commits: an edit of one of these files meanwhile waits, rather
        # than being overwritten by the file's older values.
        holders = (
            Person.objects.filter(id_number_hash__any_of=list(rows))
            .select_for_update(of=("self",))
            .values(*_HOLDER_FIELDS, "grid__path", "grid__code")
        )
        for holder in holders:
            row_number, grid = rows[holder["id_number_hash"]][:2]
            path = holder["grid__path"]
            if not (
                allows(self.principal, Capability.IMPORT_EXPORT, path)
                and allows(self.principal, Capability.EDIT_PEOPLE, path)
            ):
                duplicate = Duplicate(holder["id"], path, grid)
                self.duplicates.append(duplicate)
                self.error(row_number, "id_number", duplicate_answer(duplicate, self.principal))
            elif holder["archived_at"] is not None:
                self.error(
                    row_number,
                    "id_number",
                    DomainError(
                        "person_archived",
                        _("This person's file is archived: reopen it, or remove the row."),
                        field="id_number",
                    ),
                )
            else:
                registered[holder["id_number_hash"]] = holder
        return registered

    def _households(self, wanted: dict) -> list[tuple[int, GridNode]]:
        """The households of the rows (by grid and number): found (one query for those not met in
        an earlier chunk) or created; an address the file changes is updated and audited. The
        new ones, as (id, grid)."""
        missing = [key for key in wanted if key not in self.households]
        changed = []
        if missing:
            existing = Household.objects.filter(
                grid_id__in={g for g, _ in missing}, number__in={n for _, n in missing}, archived_at__isnull=True
            ).select_related("grid")
            for household in existing:
                key = (household.grid_id, household.number)
                if key not in wanted or key in self.households:
                    continue
                self.households[key] = household.pk
                address = wanted[key][1]
                if household.address != address:
                    changed.append((household, household.address))
                    household.address = address
        if changed:
            now = timezone.now()
            for household, _old in changed:
                household.updated_at = now
            Household.objects.bulk_update([h for h, _ in changed], ["address", "updated_at"], batch_size=CHUNK)
        new_keys = [key for key in missing if key not in self.households]
        now = timezone.now()
        ids = copy_insert(
            Household,
            [(grid_id, number, wanted[(grid_id, number)][1], self.batch.pk, now, now) for grid_id, number in new_keys],
            columns=_NEW_HOUSEHOLD_COLUMNS,
        )
        self.households.update(zip(new_keys, ids, strict=True))
        self.audit_entries.extend(
            [
                audit.AuditEntry(
                    "household.update",
                    "people.household",
                    str(h.pk),
                    h.grid.path,
                    {"address": [old, h.address], "import_batch": [None, self.batch.pk]},
                )
                for h, old in changed
            ],
        )
        return [(pk, wanted[key][0]) for key, pk in zip(new_keys, ids, strict=True)]

    def _write(self, clean_rows, registered: dict[str, dict]) -> None:
        """The chunk's persons: the new ones COPYed through a staging table (one INSERT …
        RETURNING gives their ids), the registered ones the file changes updated in one
        UPDATE … FROM staging. Pinyin and sealing are the only work done per row."""
        wanted = {(grid.pk, number): (grid, address) for _, grid, number, address, _, _ in clean_rows}
        new_households = self._households(wanted)
        new_rows, grids_of_rows, updates, entries = [], {}, [], []
        now = timezone.now()
        batch_id = self.batch.pk
        for row_number, grid, number, _address, clean, id_hash in clean_rows:
            household_id = self.households[(grid.pk, number)]
            holder = registered.get(id_hash)
            if holder is None:
                values = person_row(clean)
                new_rows.append(
                    (
                        *(values[key] for key in _PERSON_ROW_FIELDS),
                        household_id,
                        grid.pk,
                        batch_id,
                        row_number,
                        now,
                        now,
                    )
                )
                grids_of_rows[row_number] = grid
                continue
            values, changes = self._updated(holder, grid, household_id, clean)
            if not changes:
                self.outcomes.append((row_number, "unchanged", holder["id"]))
                continue
            updates.append((holder["id"], *(values[key] for key in _UPDATED_COLUMNS[1:-1]), now))
            self.outcomes.append((row_number, "updated", holder["id"]))
            entries.append(
                audit.AuditEntry(
                    "person.update",
                    "people.person",
                    str(holder["id"]),
                    grid.path,
                    {**changes, "import_batch": [None, batch_id], "row": [None, row_number]},
                )
            )
        try:
            # Straight into the table, as a raw COPY would: the keys are taken beforehand.
            ids = copy_insert(Person, new_rows, columns=_NEW_PERSON_COLUMNS)
        except IntegrityError:
            # A number registered by someone else since the rows were checked: nothing is kept.
            raise DomainError(
                "id_number_registered_meanwhile",
                _("Someone registered one of these ID numbers during the import; import the file again."),
            ) from None
        created = sorted(zip((row[_IMPORT_ROW_AT] for row in new_rows), ids, strict=True))
        copy_staged_update(Person, updates, columns=_UPDATED_COLUMNS)
        self.outcomes.extend((row_number, "created", pk) for row_number, pk in created)
        entries = (
            [
                audit.AuditEntry(
                    "household.import",
                    "people.household",
                    str(pk),
                    grid.path,
                    {"import_batch": [None, batch_id]},
                )
                for pk, grid in new_households
            ]
            + [
                audit.AuditEntry(
                    "person.import",
                    "people.person",
                    str(pk),
                    grids_of_rows[row_number].path,
                    {"import_batch": [None, batch_id], "row": [None, row_number]},
                )
                for row_number, pk in created
            ]
            + entries
        )
        self.audit_entries.extend(entries)

    def _updated(self, holder: dict, grid: GridNode, household_id: int, clean: CleanPerson) -> tuple[dict, dict]:
        """The registered person's columns as the row has them, and the audit diff (empty:
        unchanged). A column the file leaves out (phone, relationship, note) keeps what is
        registered."""
        values = {key: holder[key] for key in _UPDATED_FIELDS if key not in ("household", "grid")}
        values["household_id"], values["grid_id"] = household_id, grid.pk
        if clean.name != holder["name"]:
            pinyin, initials = name_pinyin(clean.name)
            values.update(name=clean.name, name_pinyin=pinyin, name_initials=initials)
        if "phone" in self.present:
            phone_hash = lookup_hash("phone", clean.phone.number) if clean.phone else ""
            if phone_hash != holder["phone_hash"]:
                values.update(
                    phone_sealed=seal(clean.phone.number) if clean.phone else None,
                    phone_hash=phone_hash,
                    phone_masked=clean.phone.masked if clean.phone else "",
                )
        if "relationship" in self.present:
            values["relationship"] = clean.relationship
        if "note" in self.present:
            values["note"] = clean.note
        before = _state(holder, holder["household_id"], holder["grid__code"])
        after = _state(values, household_id, grid.code)
        changes = audit.diff(before, after, sensitive=SENSITIVE)
        return values, changes


# What an import may change on a registered person (the ID number is the key, never changed).
_UPDATED_FIELDS = [
    "name",
    "name_pinyin",
    "name_initials",
    "phone_sealed",
    "phone_hash",
    "phone_masked",
    "relationship",
    "note",
    "household",
    "grid",
]
# The columns of a new person, in the order _write gives them (person_row's, then the links).
_PERSON_ROW_FIELDS = [
    "name",
    "name_pinyin",
    "name_initials",
    "id_number_sealed",
    "id_number_hash",
    "id_number_masked",
    "sex",
    "birth_year",
    "birth_date_sealed",
    "phone_sealed",
    "phone_hash",
    "phone_masked",
    "relationship",
    "note",
]
_NEW_PERSON_COLUMNS = [
    *_PERSON_ROW_FIELDS,
    "household_id",
    "grid_id",
    "import_batch_id",
    "import_row",
    "created_at",
    "updated_at",
]
_IMPORT_ROW_AT = _NEW_PERSON_COLUMNS.index("import_row")
_NEW_HOUSEHOLD_COLUMNS = ["grid_id", "number", "address", "import_batch_id", "created_at", "updated_at"]
# A re-imported person's columns, as copy_staged_update takes them (the key first).
_UPDATED_COLUMNS = [
    "id",
    *(f"{f}_id" if f in ("household", "grid") else f for f in _UPDATED_FIELDS),
    "updated_at",
]
_HOLDER_FIELDS = [
    "id",
    "id_number_hash",
    "archived_at",
    "household_id",
    "grid_id",
    *(f for f in _UPDATED_FIELDS if f not in ("household", "grid")),
]


def _state(values: dict, household_id: int | None, grid_code: str) -> dict:
    """A person's audited state, as services._person_state has it (the phone by its hash, so a
    change shows without its value)."""
    return {
        "name": values["name"],
        "phone": values["phone_hash"] or None,
        "household": household_id,
        "relationship": values["relationship"] or None,
        "grid": grid_code,
        "note": values["note"] or None,
    }


def _parse_name(value: str) -> str:
    if not value or len(value) > 50:
        raise DomainError("name_required", _("Enter the person's name (at most 50 characters)."), field="name")
    return value


def _parse_optional_phone(value: str):
    return parse_phone(value) if value else None


class _PlaceImporter(_Importer):
    kind = ImportKind.PLACES

    def process(self, chunk) -> None:
        places = []
        for row_number, values in chunk:
            before = self.error_count
            try:
                grid = self.grid(values["grid"])
            except DomainError as exc:
                self.error(row_number, "grid", exc)
                continue
            thematic = None
            if values.get("thematic_grid"):
                try:
                    thematic = self.grid(values["thematic_grid"], thematic=True)
                except DomainError as exc:
                    self.error(row_number, "thematic_grid", exc)
            kind = _KIND_BY_LABEL.get(values["kind"].strip())
            if kind is None:
                self.error(
                    row_number,
                    "kind",
                    DomainError(
                        "place_kind",
                        _("Unknown kind of place; use one of: %(labels)s."),
                        params={"labels": "、".join(PLACE_KIND_LABELS.values())},
                    ),
                )
                continue
            try:
                credit_code, phone = clean_place_fields(
                    name=values["name"],
                    kind=kind,
                    grid=grid,
                    thematic_grid=thematic,
                    credit_code=values.get("credit_code", ""),
                    contact_phone=values.get("phone", ""),
                )
            except DomainError as exc:
                key = {"contact_phone": "phone"}.get(exc.field, exc.field)
                self.error(row_number, key if key in self.by_key else None, exc)
                continue
            if self.error_count == before:
                places.append(
                    Place(
                        name=values["name"].strip(),
                        kind=kind,
                        address=values.get("address", "").strip(),
                        grid=grid,
                        thematic_grid=thematic,
                        credit_code=credit_code,
                        contact_name=values.get("contact_name", "").strip(),
                        contact_phone_sealed=seal(phone.number) if phone else None,
                        contact_phone_masked=phone.masked if phone else "",
                        import_batch=self.batch,
                    )
                )
        if self.error_count:
            return
        bulk_insert(Place, places)
        self.written += len(places)
        self.audit_entries.extend(
            [
                audit.AuditEntry(
                    "place.import", "grids.place", str(p.pk), p.grid.path, {"import_batch": [None, self.batch.pk]}
                )
                for p in places
            ],
        )


IMPORTERS = {ImportKind.RESIDENTS: _ResidentImporter, ImportKind.PLACES: _PlaceImporter}


def ledger_import_check(*, data: bytes, file_name: str, kind: str, principal) -> None:
    """What refuses a file before any row is read (the request's 4xx, before a job is queued)."""
    if kind not in IMPORTERS:
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    authorize(principal, Capability.IMPORT_EXPORT)
    if not file_name.lower().endswith((".xlsx", ".csv")):
        raise DomainError("file_type", _("Upload an .xlsx (or .csv) file."), field="file")
    check_size(len(data))
    if kind == ImportKind.RESIDENTS:
        throttle.duplicate_probes_check(principal)
    header = next(iter_rows(data, file_name), None)  # an unreadable file or a wrong header: now, not in a job
    if header is None:
        raise DomainError("file_empty", _("The file is empty."))
    _header_map(header, COLUMNS[kind])


def ledger_import(*, data: bytes, file_name: str, kind: str, principal, progress=None) -> ImportBatch:
    """Import a ledger; returns the batch (status committed) or raises RowErrors (nothing written).

    With `progress` (a core.jobs.Progress) the rows are counted first (its total), and it is told
    the rows checked and written after each chunk; a cancel raises from there, inside the
    transaction, so nothing of the file stays."""
    ledger_import_check(data=data, file_name=file_name, kind=kind, principal=principal)
    if progress is not None:
        rows = iter_rows(data, file_name)
        next(rows, None)  # the header
        progress.total(sum(1 for cells in rows if any(cells)))
    digest = hashlib.sha256(data).hexdigest()
    importer = None
    try:
        with gc_paused(), transaction.atomic():
            batch = ImportBatch.objects.create(
                kind=kind,
                status=ImportStatus.COMMITTED,
                file_name=file_name[:200],
                file_sha256=digest,
                created_by=principal,
            )
            importer = IMPORTERS[kind](principal=principal, batch=batch, progress=progress)
            count = importer.run(iter_rows(data, file_name))
            if importer.error_count:
                raise _Rollback
            batch.row_count, batch.finished_at = count, timezone.now()
            batch.save(update_fields=["row_count", "finished_at"])
            batch.report = _report(importer, count)
            audit.record_many(principal=principal, entries=importer.audit_entries)
            changes = {"kind": [None, kind], "rows": [None, count], "file_sha256": [None, digest]}
            changes.update({key: [None, batch.report[key]] for key in OUTCOMES if key in batch.report})
            audit.record(principal=principal, action="import.commit", obj=batch, changes=changes)
            return batch
    except _Rollback:
        pass
    # Rolled back: keep a record of the refused file and why (no personal values in it).
    assert importer is not None
    with transaction.atomic():
        rejected = ImportBatch.objects.create(
            kind=kind,
            status=ImportStatus.REJECTED,
            file_name=file_name[:200],
            file_sha256=digest,
            created_by=principal,
            error_count=importer.error_count,
            errors=importer.errors,
            finished_at=timezone.now(),
        )
        audit.record(
            principal=principal,
            action="import.reject",
            obj=rejected,
            changes={"kind": [None, kind], "errors": [None, importer.error_count]},
        )
        probes = duplicates_log(
            principal=principal,
            duplicates=getattr(importer, "duplicates", []),
            source="import",
            changes={"import_batch": [None, rejected.pk]},
        )
    if probes is not None and probes.after > probes.limit:
        # More numbers registered out of the importer's sight than its allowance: the rows are
        # not listed, so a file of candidate numbers cannot sort them into taken and free.
        raise throttle.duplicate_probes_refused()
    raise ImportRejected(
        rows=sorted(importer.errors, key=lambda row: row["row"]),  # stable: a row's cells stay in order
        problems=importer.error_count,
        refused=len(importer.refused_rows),
    ) from None


class ImportRejected(RowErrors):
    """The import's refusal: every problem by row number, and how many rows were refused."""

    def __init__(self, *, rows: list[dict], problems: int, refused: int):
        super().__init__(
            "import_rejected",
            _(
                "%(count)s problem(s) in %(refused)s row(s); nothing was imported. "
                "Fix the rows listed and upload again."
            ),
            rows=rows,
        )
        self.params = {"count": problems, "refused": refused}
        self.refused = refused

    def as_dict(self) -> dict:
        return {**super().as_dict(), "refused": self.refused}


OUTCOMES = ("created", "updated", "unchanged", "refused")


def _report(importer: _Importer, count: int) -> dict:
    """What became of each row of a committed import: counts, and the rows sorted by number."""
    outcomes = sorted(getattr(importer, "outcomes", []))
    if not outcomes:  # places: every row is a new place
        return {"created": count, "updated": 0, "unchanged": 0, "refused": 0, "rows": []}
    report = {key: 0 for key in OUTCOMES}
    for _row, outcome, _pk in outcomes:
        report[outcome] += 1
    report["rows"] = [{"row": row, "outcome": outcome, "person_id": pk} for row, outcome, pk in outcomes]
    return report


# ---------------------------------------------------------------- exporting


def _export_rows(kind: str, node: GridNode, reveal: bool):
    if kind == ImportKind.RESIDENTS:
        # Plain tuples, not model instances: an export of a city's ledger is 100,000s of rows.
        persons = (
            Person.objects.current()
            .filter(subtree_q("grid__path", node.path))
            .order_by("id")
            .values_list(
                "grid__code",
                "household__grid__code",
                "household__number",
                "household__address",
                "name",
                "id_number_sealed" if reveal else "id_number_masked",
                "phone_sealed" if reveal else "phone_masked",
                "relationship",
                "note",
            )
        )
        for grid, household_grid, number, address, name, id_number, phone, relationship, note in persons.iterator(
            chunk_size=CHUNK
        ):
            if reveal:
                id_number, phone = unseal(id_number), unseal(phone) if phone else ""
            yield [
                household_grid or grid,
                number or "",
                address or "",
                name,
                id_number,
                phone,
                RELATIONSHIP_LABELS.get(relationship, ""),
                note,
            ]
    else:
        places = (
            Place.objects.filter(archived_at__isnull=True)
            .filter(subtree_q("grid__path", node.path))
            .select_related("grid", "thematic_grid")
            .order_by("id")
        )
        for p in places.iterator(chunk_size=CHUNK):
            yield [
                p.name,
                PLACE_KIND_LABELS[p.kind],
                p.address,
                p.grid.code,
                p.thematic_grid.code if p.thematic_grid else "",
                p.credit_code,
                p.contact_name,
                (unseal(p.contact_phone_sealed) if p.contact_phone_sealed else "")
                if reveal
                else p.contact_phone_masked,
            ]


def ledger_export(*, kind: str, node: GridNode, principal) -> tuple[tempfile.SpooledTemporaryFile, str]:
    """Write the ledger of a subtree to .xlsx; full ID numbers and phones only for users who may
    unmask them (and the export is logged as an unmasking)."""
    out, name, _count = _ledger_export(kind=kind, node=node, principal=principal)
    return out, name


def counted_rows(rows, progress, total: int | None = None):
    """The rows of an export, telling its job's progress after each chunk (where it also learns of
    a cancel); `total` (one count query) lets the job's page show how far it is. Without a
    progress (a download in the request), the rows as they are."""
    if progress is None:
        yield from rows
        return
    if total is not None:
        progress.total(total)
    done = 0
    for done, row in enumerate(rows, 1):
        yield row
        if done % CHUNK == 0:
            progress.step(checked=done, written=done)
    progress.step(checked=done, written=done)


@from_replica  # the rows are read on the replica when one is configured and fresh (core/replica.py)
def _ledger_export(*, kind: str, node: GridNode, principal, progress=None):
    if kind not in COLUMNS:
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    # Callers load the node with get_for(IMPORT_EXPORT); the export checks once more at its entry,
    # like a service (404 outside the principal's area, else 403).
    authorize(principal, Capability.IMPORT_EXPORT, node.path)
    reveal = allows(principal, Capability.UNMASK_PII, node.path)
    columns = COLUMNS[kind]
    rows = _export_rows(kind, node, reveal)
    if progress is not None:
        rows = counted_rows(rows, progress, _export_count(kind, node))
    out, count = write_ledger(
        sheet_name=SHEET_NAMES[kind],
        headers=[column.header for column in columns],
        rows=rows,
        wide={col for col, column in enumerate(columns) if column.key in {"id_number", "address", "name"}},
    )
    name = export_recorded(
        principal=principal, node=node, kind=kind, sheet=SHEET_NAMES[kind], rows=count, reveal=reveal
    )
    return out, name, count


def export_recorded(*, principal, node: GridNode, kind: str, sheet: str, rows: int, reveal: bool) -> str:
    """Audit a ledger's export (how many rows, unmasked or not) and name its file: every ledger
    of the city is exported the same way (residents, places, the "3"'s units, volunteers, hours)."""
    audit.record(
        principal=principal,
        action="ledger.export",
        object_type="grids.gridnode",
        object_id=str(node.pk),
        grid_path=node.path,
        changes={"kind": [None, kind], "rows": [None, rows], "unmasked": [None, reveal]},
    )
    return f"{sheet}-{node.code}-{timezone.localtime():%Y%m%d-%H%M}.xlsx"


def _export_count(kind: str, node: GridNode) -> int:
    if kind == ImportKind.RESIDENTS:
        return Person.objects.current().filter(subtree_q("grid__path", node.path)).count()
    return Place.objects.filter(archived_at__isnull=True).filter(subtree_q("grid__path", node.path)).count()


# ---------------------------------------------------------------- as a background job


def ledger_import_start(*, data: bytes, file_name: str, kind: str, principal):
    """Queue the import of a ledger as a background job (core.jobs): what refuses the file before
    any row is read is answered now (4xx); the rows are read by the job, whose page follows it."""
    ledger_import_check(data=data, file_name=file_name, kind=kind, principal=principal)
    return job_start_for(
        kind=IMPORT_JOB,
        principal=principal,
        capability=Capability.IMPORT_EXPORT,
        params={"kind": kind, "file_name": file_name[:200]},
        data=data,
        file_name=file_name,
    )


def _run_import_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    with job.upload.open("rb") as fh:
        data = fh.read()
    batch = ledger_import(
        data=data, file_name=job.params["file_name"], kind=job.params["kind"], principal=principal, progress=progress
    )
    return {"batch": batch.pk, "kind": batch.kind, "row_count": batch.row_count, **batch.report}


# Contributed to "job_kinds" (people.apps).
IMPORT_JOB_KIND = jobs.JobKind(IMPORT_JOB, _("Ledger import"), _run_import_job, "people/import_report.html")


@dataclass(frozen=True)
class LedgerExport:
    """An .xlsx ledger (台账) of a subtree that the export job writes, contributed (in a list) to
    "ledger_exports" by the app that owns it: `write(kind=, node=, principal=, progress=)` returns
    (file, file name, rows), checks the caller's `import_export` at its entry, audits the export
    (`export_recorded`) and reports its rows through `counted_rows`."""

    name: str
    label: object
    write: Callable


def ledger_exports() -> dict[str, LedgerExport]:
    return {export.name: export for contributed in extensions.get("ledger_exports") for export in contributed}


def _write_people_ledger(*, kind: str, node: GridNode, principal, progress=None):
    return _ledger_export(kind=kind, node=node, principal=principal, progress=progress)


# Contributed to "ledger_exports" (people.apps).
LEDGER_EXPORTS = [
    LedgerExport(ImportKind.RESIDENTS, _("Residents"), _write_people_ledger),
    LedgerExport(ImportKind.PLACES, _("Places"), _write_people_ledger),
]


def ledger_export_start(*, kind: str, node: GridNode, principal):
    """Queue the export of a subtree's ledger — any of "ledger_exports": the residents', places',
    health and mobilization ledgers — as a background job (a city's ledger is 100,000s of rows):
    refused now (404/403) where the caller may not export; the job writes the .xlsx, which its
    starter downloads from the job's page until it expires (core.jobs.job_result_open)."""
    if kind not in ledger_exports():
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    authorize(principal, Capability.IMPORT_EXPORT, node.path)
    return job_start_for(
        kind=EXPORT_JOB,
        principal=principal,
        capability=Capability.IMPORT_EXPORT,
        params={"kind": kind, "grid": node.code, "grid_id": node.pk},
        data=None,
        file_name="",
        grid_path=node.path,
    )


def _run_export_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    node = GridNode.objects.filter(pk=job.params["grid_id"]).first()
    export = ledger_exports().get(job.params["kind"])
    if node is None:
        raise DomainError("grid_not_found", _("Unknown grid code (or outside your area)."))
    if export is None:
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    # The export checks the starter's right again, as it is now (roles may have ended meanwhile);
    # every ledger's rows are read on the replica when one is configured and fresh.
    write = from_replica(export.write)
    out, name, count = write(kind=export.name, node=node, principal=principal, progress=progress)
    jobs.result_keep(job, out, name)
    return {"kind": export.name, "grid": node.code, "file_name": name, "rows": count}


# Contributed to "job_kinds" (people.apps).
EXPORT_JOB_KIND = jobs.JobKind(EXPORT_JOB, _("Ledger export"), _run_export_job, makes_file=True)
