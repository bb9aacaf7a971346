"""台账 of the "3" (issue 12): 双报到 units with their party members, volunteers, and volunteer
hours, as .xlsx exported for a subtree and imported back.

The same machinery as the chain's and the residents' ledgers: the file is read by core.tabular
within the residents' ledger limits, written by core.xlsx, and an import is all-or-nothing (one
transaction; any refused row rolls back every row and the answer is people.ledgers'
ImportRejected, every problem by row). A row is matched to what is on file by its natural key —

- units: the community and the unit's name; a member row: its unit and the member's name;
- volunteers: the community and the ID number of a resident on file, or the phone;
- hours: the volunteer (as above), the duty and when the shift started —

and is then `created`, `updated` or `unchanged`; a committed import reports each row so, sorted by
row. Every write goes through the services (units.py, volunteers.py), which check the right and
audit it. A masked phone or ID number, as a user without the unmask right exports it, matches the
value on file (so such an export re-imports unchanged); an empty phone keeps the one on file.
A volunteer's status is the community's verification: a new volunteer is pending, and the ledger
never changes a status.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, unseal
from epigrid.core.errors import DomainError
from epigrid.core.replica import from_replica
from epigrid.core.scoping import allows, authorize, subtree_q
from epigrid.core.tabular import check_size, iter_table
from epigrid.core.validators import parse_id_number, parse_phone
from epigrid.core.xlsx import write_ledger
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode, community_path
from epigrid.people.ledgers import OUTCOMES, ImportRejected, counted_rows, export_recorded
from epigrid.people.models import Person

from . import units as unit_services
from . import volunteers as vol
from .choices import ShiftKind, UnitKind, VolunteerStatus
from .ledgers import PROGRESS_EVERY, count_rows, header_positions
from .models import ReportingUnit, UnitMember, Volunteer, VolunteerShift, VolunteerTeam

MAX_REPORTED_ERRORS = 1000
KINDS = ("units", "volunteers", "hours")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = True


UNIT_KIND_LABELS = {
    UnitKind.RESIDENT_UNIT: "驻区单位",
    UnitKind.NEW_ORG: "两新组织",
    UnitKind.BUILDING_ENTERPRISE: "楼宇企业",
}
SHIFT_LABELS = {
    ShiftKind.GATE_DUTY: "值守",
    ShiftKind.SCREENING: "排查",
    ShiftKind.DISINFECTION: "消杀",
    ShiftKind.PUBLICITY: "宣传",
    ShiftKind.SERVICE: "服务",
}
STATUS_LABELS = {
    VolunteerStatus.PENDING: "待审核",
    VolunteerStatus.APPROVED: "已审核",
    VolunteerStatus.REFUSED: "未通过",
}
ROW_UNIT, ROW_MEMBER = "单位", "党员"
_UNIT_KIND_BY_LABEL = {v: k for k, v in UNIT_KIND_LABELS.items()}
_SHIFT_BY_LABEL = {v: k for k, v in SHIFT_LABELS.items()}
_MASKED = re.compile(r"\*")


def _masked(value: str) -> bool:
    return bool(_MASKED.search(value or ""))


def _parse_time(value: str, field: str) -> dt.datetime:
    """A local (Asia/Shanghai) time as the export writes it: YYYY-MM-DD HH:MM[:SS]."""
    text = (value or "").strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return timezone.make_aware(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    raise DomainError("time_invalid", _("Give the time as YYYY-MM-DD HH:MM."), field=field)


def _local(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


class _Rollback(Exception):
    pass


class _Sheet:
    """One kind of ledger: its columns, how a row finds what is on file, and its export."""

    kind: str
    sheet_name: str
    columns: list[Column]
    wide: set[int] = set()

    def __init__(self, principal):
        self.principal = principal
        self.by_key = {c.key: c for c in self.columns}
        self.errors: list[dict] = []
        self.error_count = 0
        self.refused_rows: set[int] = set()
        self.outcomes: list[tuple[int, str]] = []
        self.keys: dict[tuple, int] = {}  # natural key -> the row that named it first
        self.communities: dict[str, GridNode | DomainError] = {}

    # ------------------------------------------------------------ shared checks

    def error(self, row: int, exc: DomainError) -> None:
        self.error_count += 1
        self.refused_rows.add(row)
        if len(self.errors) < MAX_REPORTED_ERRORS:
            data = exc.as_dict()
            column = self.by_key.get(exc.field or "")
            self.errors.append(
                {
                    "row": row,
                    "column": column.header if column else "",
                    "code": data["code"],
                    "message": data["message"],
                    "messages": data["messages"],
                }
            )

    def community(self, code: str) -> GridNode:
        code = (code or "").strip().upper()
        if code not in self.communities:
            # Through restrict: a code outside the importer's area reads as unknown.
            node = GridNode.objects.restrict(self.principal).filter(code=code).first()
            if node is None:
                result = DomainError("grid_unknown", _("Unknown grid code (or outside your area)."), field="grid")
            elif node.level != GridLevel.COMMUNITY:
                result = DomainError("grid_not_community", _("Use the community's grid code."), field="grid")
            elif not allows(self.principal, Capability.IMPORT_EXPORT, node.path):
                result = DomainError("grid_forbidden", _("Your role may not import into this grid."), field="grid")
            else:
                result = node
            self.communities[code] = result
        result = self.communities[code]
        if isinstance(result, DomainError):
            raise result
        return result

    def once(self, key: tuple, row: int) -> None:
        first = self.keys.setdefault(key, row)
        if first != row:
            raise DomainError(
                "ledger_row_twice",
                _("The same entry is already in row %(row)s of the file."),
                params={"row": first},
            )

    def volunteer_of(self, grid: GridNode, values: dict) -> Volunteer | None:
        """The volunteer a row names: by the ID number of a resident on file, else by phone; a
        masked value (an export without the unmask right) by the name and the mask. None: not on
        file yet."""
        live = Volunteer.objects.filter(grid=grid).exclude(status=VolunteerStatus.REFUSED).select_related("grid")
        id_text, phone_text = values.get("id_number", "").strip(), values.get("phone", "").strip()
        name = values.get("name", "").strip()
        if id_text:
            if _masked(id_text):
                found = list(live.filter(person__id_number_masked=id_text, person__name=name)[:2])
                if len(found) != 1:
                    raise DomainError(
                        "volunteer_unknown",
                        _("No single volunteer of this community with this name and masked number."),
                        field="id_number",
                    )
                return found[0]
            number = parse_id_number(id_text, field="id_number").number
            return live.filter(person__id_number_hash=lookup_hash("id", number)).first()
        if phone_text:
            if _masked(phone_text):
                found = list(live.filter(phone_masked=phone_text, name=name)[:2])
                if len(found) != 1:
                    raise DomainError(
                        "volunteer_unknown",
                        _("No single volunteer of this community with this name and masked number."),
                        field="phone",
                    )
                return found[0]
            number = parse_phone(phone_text).number
            return live.filter(phone_hash=lookup_hash("phone", number)).first()
        raise DomainError(
            "volunteer_key", _("Give the volunteer's ID number (a resident on file) or phone."), field="id_number"
        )

    # ------------------------------------------------------------ per kind

    def row(self, number: int, values: dict) -> str:
        raise NotImplementedError

    def export_rows(self, node: GridNode, reveal: bool):
        raise NotImplementedError

    def export_count(self, node: GridNode) -> int:
        """How many rows `export_rows` gives (the export job's progress)."""
        raise NotImplementedError

    # ------------------------------------------------------------ the loop

    def run(self, rows, progress=None) -> int:
        positions = header_positions(rows, self.columns)
        count, number = 0, 1
        for cells in rows:
            number += 1
            if not any(cells):
                continue
            count += 1
            values = {
                c.key: (cells[positions[c.header]] if positions[c.header] < len(cells) else "").strip()
                for c in self.columns
                if c.header in positions
            }
            try:
                with transaction.atomic():  # a savepoint: a refused row leaves nothing behind it
                    self.outcomes.append((number, self.row(number, values)))
            except DomainError as exc:
                self.error(number, exc)
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress.step(checked=count, written=0 if self.error_count else count)
        if count == 0:
            raise DomainError("file_empty", _("The file has no data rows."))
        if progress is not None:
            progress.step(checked=count, written=0 if self.error_count else count)
        return count


# ---------------------------------------------------------------- units (双报到)


class UnitSheet(_Sheet):
    kind = "units"
    sheet_name = "双报到单位台账"
    columns = [
        Column("row_kind", "类型"),
        Column("grid", "社区编码"),
        Column("unit", "单位名称"),
        Column("unit_kind", "单位类别", required=False),
        Column("name", "姓名"),
        Column("phone", "联系电话", required=False),
        Column("skills", "技能特长", required=False),
        Column("hours", "每周服务小时", required=False),
    ]
    wide = {2, 4}

    def row(self, number: int, values: dict) -> str:
        row_kind = values.get("row_kind", "")
        if row_kind not in (ROW_UNIT, ROW_MEMBER):
            raise DomainError(
                "ledger_row_kind",
                _("Unknown row type; use one of: %(kinds)s."),
                field="row_kind",
                params={"kinds": f"{ROW_UNIT}、{ROW_MEMBER}"},
            )
        grid = self.community(values.get("grid", ""))
        unit_name = " ".join(values.get("unit", "").split())
        if not unit_name:
            raise DomainError("unit_required", _("Fill in this field."), field="unit")
        unit = ReportingUnit.objects.select_related("grid").filter(grid=grid, name=unit_name).first()
        phone = values.get("phone", "")
        hours = values.get("hours", "") or 0
        if row_kind == ROW_UNIT:
            self.once(("unit", grid.pk, unit_name), number)
            kind = _UNIT_KIND_BY_LABEL.get(values.get("unit_kind", ""))
            if kind is None:
                raise DomainError(
                    "unit_kind",
                    _("Unknown kind of organisation; use one of: %(kinds)s."),
                    field="unit_kind",
                    params={"kinds": "、".join(UNIT_KIND_LABELS.values())},
                )
            if unit is None:
                unit_services.unit_register(
                    grid=grid,
                    kind=kind,
                    name=unit_name,
                    contact_name=values.get("name", ""),
                    contact_phone=phone,
                    skills=values.get("skills", ""),
                    hours_offered=hours,
                    principal=self.principal,
                )
                return "created"
            keep = not phone or (_masked(phone) and phone == unit.contact_phone_masked)
            changed = unit_services.unit_update(
                unit=unit,
                kind=kind,
                contact_name=values.get("name", ""),
                contact_phone=None if keep else phone,
                skills=values.get("skills", ""),
                hours_offered=hours,
                principal=self.principal,
            )
            return "updated" if changed else "unchanged"
        if unit is None:
            raise DomainError("unit_unknown", _("No such unit registered here: list it in a row above."), field="unit")
        name = " ".join(values.get("name", "").split())
        self.once(("member", unit.pk, name), number)
        found = list(UnitMember.objects.select_related("grid").filter(unit=unit, name=name))
        if len(found) > 1:  # two members of one name: the phone tells them apart
            found = [
                m
                for m in found
                if phone and phone in (m.phone_masked, unseal(m.phone_sealed) if m.phone_sealed else "")
            ]
            if len(found) != 1:
                raise DomainError(
                    "member_ambiguous", _("Two members of this unit have this name: give the phone."), field="phone"
                )
        if not found:
            unit_services.unit_member_add(
                unit=unit,
                name=name,
                phone=phone,
                skills=values.get("skills", ""),
                hours_offered=hours,
                principal=self.principal,
            )
            return "created"
        member = found[0]
        keep = not phone or (_masked(phone) and phone == member.phone_masked)
        changed = unit_services.unit_member_update(
            member=member,
            phone=None if keep else phone,
            skills=values.get("skills", ""),
            hours_offered=hours,
            principal=self.principal,
        )
        return "updated" if changed else "unchanged"

    def export_count(self, node: GridNode) -> int:
        return (
            ReportingUnit.objects.filter(subtree_q("grid__path", node.path)).count()
            + UnitMember.objects.filter(subtree_q("unit__grid__path", node.path)).count()
        )

    def export_rows(self, node: GridNode, reveal: bool):
        units = (
            ReportingUnit.objects.filter(subtree_q("grid__path", node.path))
            .select_related("grid")
            .prefetch_related("members")
            .order_by("grid__path", "name", "id")
        )
        for u in units:
            phone = unseal(u.contact_phone_sealed) if reveal and u.contact_phone_sealed else u.contact_phone_masked
            yield [
                ROW_UNIT,
                u.grid.code,
                u.name,
                UNIT_KIND_LABELS[u.kind],
                u.contact_name,
                phone,
                u.skills,
                u.hours_offered,
            ]
            for m in sorted(u.members.all(), key=lambda m: (m.name, m.pk)):
                phone = unseal(m.phone_sealed) if reveal and m.phone_sealed else m.phone_masked
                yield [ROW_MEMBER, u.grid.code, u.name, "", m.name, phone, m.skills, m.hours_offered]


# ---------------------------------------------------------------- volunteers


class VolunteerSheet(_Sheet):
    kind = "volunteers"
    sheet_name = "志愿者台账"
    columns = [
        Column("grid", "社区编码"),
        Column("name", "姓名"),
        Column("id_number", "身份证号码", required=False),
        Column("phone", "联系电话", required=False),
        Column("team", "队伍", required=False),
        Column("skills", "技能特长", required=False),
        Column("availability", "服务时间", required=False),
        Column("status", "状态", required=False),  # exported for reading; never imported
    ]
    wide = {1, 2}

    def team(self, grid: GridNode, name: str) -> VolunteerTeam | None:
        if not name:
            return None
        team = VolunteerTeam.objects.filter(grid=grid, name=name).first()
        if team is None:
            raise DomainError(
                "team_unknown", _("No team of this name in the community: set it up first."), field="team"
            )
        return team

    def row(self, number: int, values: dict) -> str:
        grid = self.community(values.get("grid", ""))
        team = self.team(grid, values.get("team", ""))
        volunteer = self.volunteer_of(grid, values)
        skills, availability = values.get("skills", ""), values.get("availability", "")
        if volunteer is not None:
            self.once(("volunteer", volunteer.pk), number)
            if volunteer.person_id and values.get("name") and values["name"] != volunteer.name:
                raise DomainError("person_name_mismatch", _("The name does not match the ID number."), field="name")
            changed = vol.volunteer_update(
                volunteer=volunteer, skills=skills, availability=availability, team=team, principal=self.principal
            )
            return "updated" if changed else "unchanged"
        id_text = values.get("id_number", "")
        if id_text:
            number_text = parse_id_number(id_text, field="id_number").number
            self.once(("id", number_text), number)
            person = (
                Person.objects.restrict(self.principal)
                .current()
                .filter(id_number_hash=lookup_hash("id", number_text))
                .select_related("grid")
                .first()
            )
            # The same answer for a number nobody holds and one held out of the importer's sight.
            if person is None or community_path(person.grid.path) != grid.path:
                raise DomainError(
                    "person_unknown",
                    _("No resident of this community with this ID number: import the residents first."),
                    field="id_number",
                )
            if values.get("name") and values["name"] != person.name:
                raise DomainError("person_name_mismatch", _("The name does not match the ID number."), field="name")
            vol.volunteer_add(
                grid=grid, person=person, skills=skills, availability=availability, team=team, principal=self.principal
            )
            return "created"
        phone = parse_phone(values.get("phone", ""))
        self.once(("phone", phone.number), number)
        vol.volunteer_register(
            grid=grid,
            name=values.get("name", ""),
            phone=phone.number,
            skills=skills,
            availability=availability,
            team=team,
            principal=self.principal,
        )
        return "created"

    def export_count(self, node: GridNode) -> int:
        return (
            Volunteer.objects.filter(subtree_q("grid__path", node.path)).exclude(status=VolunteerStatus.REFUSED).count()
        )

    def export_rows(self, node: GridNode, reveal: bool):
        volunteers = (
            Volunteer.objects.filter(subtree_q("grid__path", node.path))
            .exclude(status=VolunteerStatus.REFUSED)
            .select_related("grid", "team", "person")
            .order_by("grid__path", "name", "id")
        )
        for v in volunteers:
            yield [
                v.grid.code,
                v.name,
                *_identity(v, reveal),
                v.team.name if v.team else "",
                v.skills,
                v.availability,
                STATUS_LABELS[v.status],
            ]


def _identity(v: Volunteer, reveal: bool) -> list[str]:
    """A volunteer's ID number (a resident on file) or phone, as the importer matches them."""
    if v.person_id:
        p = v.person
        return [unseal(p.id_number_sealed) if reveal else p.id_number_masked, ""]
    return ["", unseal(v.phone_sealed) if reveal and v.phone_sealed else v.phone_masked]


# ---------------------------------------------------------------- hours (shifts)


class HoursSheet(_Sheet):
    kind = "hours"
    sheet_name = "志愿服务时长台账"
    columns = [
        Column("grid", "社区编码"),
        Column("name", "姓名"),
        Column("id_number", "身份证号码", required=False),
        Column("phone", "联系电话", required=False),
        Column("duty", "服务类型"),
        Column("starts_at", "开始时间"),
        Column("ends_at", "结束时间"),
        Column("hours", "时长(小时)", required=False),  # exported for reading; computed on import
        Column("note", "备注", required=False),
    ]
    wide = {2, 5, 6}

    def row(self, number: int, values: dict) -> str:
        grid = self.community(values.get("grid", ""))
        volunteer = self.volunteer_of(grid, values)
        if volunteer is None:
            raise DomainError(
                "volunteer_unknown",
                _("No such volunteer of this community: import the volunteers first."),
                field="id_number",
            )
        duty = _SHIFT_BY_LABEL.get(values.get("duty", ""))
        if duty is None:
            raise DomainError(
                "shift_kind",
                _("Unknown duty; use one of: %(duties)s."),
                field="duty",
                params={"duties": "、".join(SHIFT_LABELS.values())},
            )
        starts_at = _parse_time(values.get("starts_at", ""), "starts_at")
        ends_at = _parse_time(values.get("ends_at", ""), "ends_at")
        self.once(("shift", volunteer.pk, duty, starts_at), number)
        shift = (
            VolunteerShift.objects.select_related("grid")
            .filter(volunteer=volunteer, kind=duty, starts_at=starts_at)
            .first()
        )
        if shift is None:
            vol.shift_record(
                volunteer=volunteer,
                kind=duty,
                starts_at=starts_at,
                ends_at=ends_at,
                note=values.get("note", ""),
                principal=self.principal,
            )
            return "created"
        changed = vol.shift_update(shift=shift, ends_at=ends_at, note=values.get("note", ""), principal=self.principal)
        return "updated" if changed else "unchanged"

    def export_count(self, node: GridNode) -> int:
        return VolunteerShift.objects.filter(subtree_q("grid__path", node.path)).count()

    def export_rows(self, node: GridNode, reveal: bool):
        shifts = (
            VolunteerShift.objects.filter(subtree_q("grid__path", node.path))
            .select_related("grid", "volunteer__person")
            .order_by("grid__path", "starts_at", "id")
        )
        for s in shifts:
            v = s.volunteer
            yield [
                s.grid.code,
                v.name,
                *_identity(v, reveal),
                SHIFT_LABELS[s.kind],
                _local(s.starts_at),
                _local(s.ends_at),
                f"{s.minutes / 60:.2f}".rstrip("0").rstrip("."),
                s.note,
            ]


SHEETS: dict[str, type[_Sheet]] = {"units": UnitSheet, "volunteers": VolunteerSheet, "hours": HoursSheet}


def _sheet(kind: str) -> type[_Sheet]:
    if kind not in SHEETS:
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    return SHEETS[kind]


def team_ledger_import_check(*, kind: str, data: bytes, file_name: str, principal) -> None:
    """What refuses a ledger before any row is read (the request's 4xx, before a job is queued):
    the kind, the right, the file's type and size, an unreadable file or a wrong header."""
    sheet_class = _sheet(kind)
    authorize(principal, Capability.IMPORT_EXPORT)
    if not (file_name or "").lower().endswith((".xlsx", ".csv")):
        raise DomainError("file_type", _("Upload an .xlsx (or .csv) file."), field="file")
    check_size(len(data))
    header_positions(iter_table(data, file_name), sheet_class.columns)


def team_ledger_import(*, kind: str, data: bytes, file_name: str, principal, progress=None) -> dict:
    """Import a units, volunteers or hours ledger: all rows or none. Answers the report (counts of
    created, updated, unchanged, and each row's outcome sorted by row) or raises ImportRejected
    listing every refused row (nothing written). With `progress` (a core.jobs.Progress) the rows
    are counted first, and it is told the rows checked and written every PROGRESS_EVERY rows."""
    team_ledger_import_check(kind=kind, data=data, file_name=file_name, principal=principal)
    if progress is not None:
        progress.total(count_rows(data, file_name))
    sheet = _sheet(kind)(principal)
    try:
        with transaction.atomic():
            count = sheet.run(iter_table(data, file_name), progress)
            if sheet.error_count:
                raise _Rollback
            report = {key: 0 for key in OUTCOMES}
            for _row, outcome in sheet.outcomes:
                report[outcome] += 1
            report["rows"] = [{"row": row, "outcome": outcome} for row, outcome in sorted(sheet.outcomes)]
            audit.record(
                principal=principal,
                action="team_ledger.import",
                object_type="mobilization.volunteer",
                changes={
                    "kind": [None, kind],
                    "rows": [None, count],
                    **{k: [None, report[k]] for k in OUTCOMES},
                },
            )
            return report
    except _Rollback:
        pass
    raise ImportRejected(
        rows=sorted(sheet.errors, key=lambda row: row["row"]),
        problems=sheet.error_count,
        refused=len(sheet.refused_rows),
    )


@from_replica  # the rows are read on the replica when one is configured and fresh (core/replica.py)
def team_ledger_export(*, kind: str, node: GridNode, principal, progress=None):
    """The ledger of a subtree as the .xlsx the import reads; full ID numbers and phones only for
    users who may unmask them (logged as such). With `progress` (the export job, people.ledgers
    `ledger_export`) its rows are reported."""
    out, name, _count = team_ledger_write(kind=kind, node=node, principal=principal, progress=progress)
    return out, name


def team_ledger_write(*, kind: str, node: GridNode, principal, progress=None):
    sheet_class = _sheet(kind)
    authorize(principal, Capability.IMPORT_EXPORT, node.path)
    reveal = allows(principal, Capability.UNMASK_PII, node.path)
    sheet = sheet_class(principal)
    rows = counted_rows(
        sheet.export_rows(node, reveal), progress, sheet.export_count(node) if progress is not None else None
    )
    out, count = write_ledger(
        sheet_name=sheet.sheet_name, headers=[c.header for c in sheet.columns], rows=rows, wide=sheet.wide
    )
    name = export_recorded(
        principal=principal, node=node, kind=kind, sheet=sheet.sheet_name, rows=count, reveal=reveal
    )
    return out, name, count


def ledger_columns(kind: str) -> list[Column]:
    return _sheet(kind).columns
