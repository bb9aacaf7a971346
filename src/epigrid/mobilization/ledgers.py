"""台账: the party chain as one .xlsx sheet, imported all-or-nothing and exported for a subtree.

One row per organisation (its grid and name), per party member (the organisation's grid, name,
ID number, office, since) and per 党员中心户 (the member's ID number, its household, the households
it looks after), in that order: an organisation before its members, a member before their
household. The file is read by core.tabular within the residents' ledger limits; every row is
written through the chain's services inside one transaction, and one bad row rolls back all.
A file imported twice changes nothing the second time.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, unseal
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.replica import from_replica
from epigrid.core.scoping import allows, authorize, subtree_q
from epigrid.core.tabular import check_size, iter_table
from epigrid.core.validators import parse_id_number
from epigrid.core.xlsx import write_ledger
from epigrid.grids.models import GridNode
from epigrid.people.ledgers import counted_rows, export_recorded
from epigrid.people.models import Household, Person

from . import services
from .choices import MemberRole, OrgKind
from .models import CentralHousehold, LookedAfter, PartyMember, PartyOrg

MAX_REPORTED_ERRORS = 1000
PROGRESS_EVERY = 200  # rows between two reports to a job's progress
SHEET_NAME = "党建链条台账"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = True


COLUMNS = [
    Column("kind", "类型"),
    Column("grid", "网格编码"),
    Column("name", "名称", required=False),
    Column("person", "姓名", required=False),
    Column("id_number", "身份证号码", required=False),
    Column("role", "职务", required=False),
    Column("since", "起始日期", required=False),
    Column("household", "户号", required=False),
    Column("looked_after", "联系户", required=False),
    Column("also_covers", "兼管楼栋", required=False),
]
KIND_LABELS = {
    OrgKind.STREET_COMMITTEE: "街道党工委",
    OrgKind.COMMUNITY_COMMITTEE: "社区党委",
    OrgKind.GRID_BRANCH: "网格党支部",
    OrgKind.BUILDING_GROUP: "楼院党小组",
    "member": "党员",
    "central": "党员中心户",
}
ROLE_LABELS = {
    MemberRole.SECRETARY: "书记",
    MemberRole.DEPUTY_SECRETARY: "副书记",
    MemberRole.GROUP_LEADER: "党小组长",
    MemberRole.MEMBER: "党员",
}
_KIND_BY_LABEL = {v: k for k, v in KIND_LABELS.items()}
_ROLE_BY_LABEL = {v: k for k, v in ROLE_LABELS.items()}
_LIST = re.compile(r"[、,，;；\s]+")


class _Rollback(Exception):
    pass


class _ChainImporter:
    def __init__(self, principal):
        self.principal = principal
        self.by_key = {c.key: c for c in COLUMNS}
        self.errors: list[dict] = []
        self.error_count = 0
        self.nodes: dict[str, GridNode | DomainError] = {}
        self.counts = {"orgs": 0, "members": 0, "centrals": 0, "looked_after": 0}

    def error(self, row: int, key: str | None, exc: DomainError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            data = exc.as_dict()
            column = self.by_key.get(key or exc.field or "")
            self.errors.append(
                {
                    "row": row,
                    "column": column.header if column else "",
                    "code": data["code"],
                    "message": data["message"],
                    "messages": data["messages"],
                }
            )

    def grid(self, code: str) -> GridNode:
        code = code.strip().upper()
        if code not in self.nodes:
            # Through restrict: a code outside the importer's area reads as unknown.
            node = GridNode.objects.restrict(self.principal).filter(code=code).first()
            if node is None:
                result = DomainError("grid_unknown", _("Unknown grid code (or outside your area)."), field="grid")
            elif not allows(self.principal, Capability.IMPORT_EXPORT, node.path):
                result = DomainError("grid_forbidden", _("Your role may not import into this grid."), field="grid")
            else:
                result = node
            self.nodes[code] = result
        result = self.nodes[code]
        if isinstance(result, DomainError):
            raise result
        return result

    def org_at(self, node: GridNode) -> PartyOrg:
        org = PartyOrg.objects.active().filter(grid=node).first()
        if org is None:
            raise DomainError(
                "org_missing", _("No party organisation at this grid: list it in a row above."), field="grid"
            )
        return org

    def person(self, values: dict) -> Person:
        number = parse_id_number(values.get("id_number", ""), field="id_number").number
        person = (
            Person.objects.restrict(self.principal)
            .current()
            .filter(id_number_hash=lookup_hash("id", number))
            .select_related("household__grid")
            .first()
        )
        # The same answer for a number nobody holds and one held out of the importer's sight.
        if person is None:
            raise DomainError(
                "person_unknown",
                _("No resident with this ID number in your area: import the residents first."),
                field="id_number",
            )
        if values.get("person") and values["person"].strip() != person.name:
            raise DomainError("person_name_mismatch", _("The name does not match the ID number."), field="person")
        return person

    def household(self, grid: GridNode, number: str) -> Household:
        household = (
            Household.objects.restrict(self.principal)
            .filter(grid=grid, number=number.strip(), archived_at__isnull=True)
            .select_related("grid")
            .first()
        )
        if household is None:
            raise DomainError(
                "household_unknown",
                _("No household %(number)s in grid %(grid)s."),
                field="household",
                params={"number": number, "grid": grid.code},
            )
        return household

    def row(self, values: dict) -> None:
        kind = _KIND_BY_LABEL.get(values.get("kind", "").strip())
        if kind is None:
            raise DomainError(
                "chain_row_kind",
                _("Unknown row type; use one of: %(kinds)s."),
                field="kind",
                params={"kinds": "、".join(KIND_LABELS.values())},
            )
        node = self.grid(values.get("grid", ""))
        if kind in OrgKind.values:
            also = [self.grid(code) for code in _LIST.split(values.get("also_covers", "")) if code]
            services.org_create(
                grid=node, name=values.get("name", ""), kind=kind, also_covers=also, principal=self.principal
            )
            self.counts["orgs"] += 1
        elif kind == "member":
            role = _ROLE_BY_LABEL.get(values.get("role", "").strip() or "党员")
            if role is None:
                raise DomainError(
                    "member_role",
                    _("Unknown office; use one of: %(roles)s."),
                    field="role",
                    params={"roles": "、".join(ROLE_LABELS.values())},
                )
            since = None
            if values.get("since"):
                try:
                    since = dt.date.fromisoformat(values["since"].strip()[:10])
                except ValueError:
                    raise DomainError("date_invalid", _("Give the date as YYYY-MM-DD."), field="since") from None
            services.member_add(
                org=self.org_at(node), person=self.person(values), role=role, since=since, principal=self.principal
            )
            self.counts["members"] += 1
        else:
            person = self.person(values)
            member = PartyMember.objects.active().filter(person=person).select_related("org__grid").first()
            if member is None:
                raise DomainError(
                    "member_unknown",
                    _("This person is not a party member: list them in a row above."),
                    field="id_number",
                )
            own = self.household(node, values["household"]) if values.get("household") else None
            central = services.central_household_create(member=member, household=own, principal=self.principal)
            self.counts["centrals"] += 1
            looked_after = []
            for item in _LIST.split(values.get("looked_after", "")):
                if not item:
                    continue
                code, _sep, number = item.rpartition("/")
                try:
                    looked_after.append(self.household(self.grid(code) if code else central.grid, number))
                except DomainError as exc:
                    exc.field = "looked_after"
                    raise
            if looked_after:
                try:
                    self.counts["looked_after"] += services.households_assign(
                        central=central, households=looked_after, principal=self.principal
                    )
                except DomainError as exc:
                    exc.field = "looked_after"
                    raise

    def run(self, rows, progress=None) -> int:
        positions = header_positions(rows, COLUMNS)
        count, number = 0, 1
        for cells in rows:
            number += 1
            if not any(cells):
                continue
            count += 1
            values = {
                c.key: cells[positions[c.header]]
                for c in COLUMNS
                if c.header in positions and positions[c.header] < len(cells)
            }
            try:
                with transaction.atomic():  # a savepoint: a refused row leaves nothing behind it
                    self.row(values)
            except DomainError as exc:
                self.error(number, exc.field, exc)
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress.step(checked=count, written=0 if self.error_count else count)
        if count == 0:
            raise DomainError("file_empty", _("The file has no data rows."))
        if progress is not None:
            progress.step(checked=count, written=0 if self.error_count else count)
        return count


def header_positions(rows, columns) -> dict[str, int]:
    """Read the header row off `rows`: each column's position; refused when the file is empty or
    a required column is missing (what the request answers, before a job is queued)."""
    try:
        header = next(rows)
    except StopIteration:
        raise DomainError("file_empty", _("The file is empty.")) from None
    positions = {text.strip(): i for i, text in enumerate(header) if text}
    missing = [c.header for c in columns if c.required and c.header not in positions]
    if missing:
        raise DomainError(
            "header_missing",
            _("The first row must hold the column headers; missing: %(columns)s."),
            params={"columns": "、".join(missing)},
        )
    return positions


def count_rows(data: bytes, file_name: str) -> int:
    """The data rows of a file (its progress's total): the non-empty rows after the header."""
    rows = iter_table(data, file_name)
    next(rows, None)
    return sum(1 for cells in rows if any(cells))


def chain_import_check(*, data: bytes, file_name: str, principal) -> None:
    """What refuses a chain ledger before any row is read (the request's 4xx, before a job is
    queued): the right, the file's type and size, an unreadable file or a wrong header."""
    authorize(principal, Capability.IMPORT_EXPORT)
    if not (file_name or "").lower().endswith((".xlsx", ".csv")):
        raise DomainError("file_type", _("Upload an .xlsx (or .csv) file."), field="file")
    check_size(len(data))
    header_positions(iter_table(data, file_name), COLUMNS)


def chain_import(*, data: bytes, file_name: str, principal, progress=None) -> int:
    """Import the chain ledger; answers the number of rows, or raises RowErrors (nothing written)."""
    return chain_import_report(data=data, file_name=file_name, principal=principal, progress=progress)["row_count"]


def chain_import_report(*, data: bytes, file_name: str, principal, progress=None) -> dict:
    """Import the chain ledger; answers the report (rows, and the organisations, members, central
    households and households looked after that the rows named), or raises RowErrors (nothing written).

    With `progress` (a core.jobs.Progress) the rows are counted first (its total), and it is told
    the rows checked and written every PROGRESS_EVERY rows; a cancel raises from there, inside the
    transaction, so nothing of the file stays."""
    chain_import_check(data=data, file_name=file_name, principal=principal)
    if progress is not None:
        progress.total(count_rows(data, file_name))
    importer = _ChainImporter(principal)
    try:
        with transaction.atomic():
            count = importer.run(iter_table(data, file_name), progress)
            if importer.error_count:
                raise _Rollback
            audit.record(
                principal=principal,
                action="chain.import",
                object_type="mobilization.partyorg",
                changes={"rows": [None, count], **{k: [None, v] for k, v in importer.counts.items()}},
            )
            return {"row_count": count, **importer.counts}
    except _Rollback:
        pass
    raise RowErrors(
        "import_rejected",
        _("%(count)s problem(s) found; nothing was imported. Fix the rows listed and upload again."),
        rows=importer.errors,
    )


# ---------------------------------------------------------------- exporting


def _export_rows(node: GridNode, reveal: bool):
    orgs = PartyOrg.objects.active().filter(subtree_q("grid__path", node.path)).select_related("grid")
    orgs = orgs.prefetch_related("also_covers").order_by("grid__path")
    for org in orgs:
        yield [
            KIND_LABELS[org.kind],
            org.grid.code,
            org.name,
            "",
            "",
            "",
            "",
            "",
            "",
            "、".join(n.code for n in org.also_covers.all()),
        ]

    def id_of(person):
        return unseal(person.id_number_sealed) if reveal else person.id_number_masked

    members = (
        PartyMember.objects.active()
        .filter(subtree_q("grid__path", node.path))
        .select_related("grid", "person")
        .order_by("grid__path", "id")
    )
    for m in members:
        yield [
            "党员",
            m.grid.code,
            "",
            m.person.name,
            id_of(m.person),
            ROLE_LABELS[m.role],
            str(m.since or ""),
            "",
            "",
            "",
        ]
    centrals = (
        CentralHousehold.objects.active()
        .filter(subtree_q("grid__path", node.path))
        .select_related("grid", "household", "member__person")
        .prefetch_related(
            Prefetch("links", LookedAfter.objects.active().select_related("household__grid"), to_attr="active")
        )
        .order_by("grid__path", "id")
    )
    for c in centrals:
        looked = "、".join(
            link.household.number
            if link.household.grid_id == c.grid_id
            else f"{link.household.grid.code}/{link.household.number}"
            for link in c.active
        )
        yield [
            "党员中心户",
            c.grid.code,
            "",
            c.member.person.name,
            id_of(c.member.person),
            "",
            "",
            c.household.number,
            looked,
            "",
        ]


@from_replica  # the rows are read on the replica when one is configured and fresh (core/replica.py)
def chain_export(*, node: GridNode, principal, progress=None):
    """The chain of a subtree as the ledger the import reads; full ID numbers only for users who
    may unmask them (an unmasking, logged as such). With `progress` (the export job,
    people.ledgers `ledger_export`) its rows are reported."""
    out, name, _count = chain_write(node=node, principal=principal, progress=progress)
    return out, name


def _chain_count(node: GridNode) -> int:
    return sum(
        model.objects.active().filter(subtree_q("grid__path", node.path)).count()
        for model in (PartyOrg, PartyMember, CentralHousehold)
    )


def chain_write(*, node: GridNode, principal, progress=None):
    authorize(principal, Capability.IMPORT_EXPORT, node.path)
    reveal = allows(principal, Capability.UNMASK_PII, node.path)
    rows = counted_rows(_export_rows(node, reveal), progress, _chain_count(node) if progress is not None else None)
    out, count = write_ledger(sheet_name=SHEET_NAME, headers=[c.header for c in COLUMNS], rows=rows, wide={2, 4, 8})
    name = export_recorded(
        principal=principal, node=node, kind="party_chain", sheet=SHEET_NAME, rows=count, reveal=reveal
    )
    return out, name, count
