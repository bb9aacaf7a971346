"""Verification lists from above (核查名单): an .xlsx of persons pushed to a node (ID number or
phone per row) is matched against its residents by keyed hash — never by decrypting — in a few
set-based queries; each match becomes a task of the grid member of the person's compound, with
the list's deadline (found at home / has left / does not live here / new arrival → a tip); a row
that matches nobody waits for the community to place it in a grid. The feedback to the level
above is an .xlsx of every row's outcome and time.
"""

import datetime as dt

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.accounts.permissions import job_start_for, job_user
from epigrid.core import audit, jobs
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound, RowErrors
from epigrid.core.scoping import VIEW, authorize, user_of
from epigrid.core.tabular import check_size, iter_table
from epigrid.core.validators import mask_id_number, mask_phone, parse_id_number, parse_phone
from epigrid.grids.choices import LEAF_LEVELS
from epigrid.grids.models import GridNode, compound_path
from epigrid.people.models import Person

from .choices import VerificationOutcome
from .models import VerificationEntry, VerificationList

IMPORT = Capability.IMPORT_EXPORT
VERIFY = Capability.INTAKE  # the grid member who registers tips verifies the rows of their grid
HEADERS = {
    "name": {"姓名", "name"},
    "id_number": {"身份证号", "身份证号码", "证件号码", "id number", "id_number"},
    "phone": {"手机号", "手机号码", "联系电话", "电话", "phone"},
    "detail": {"备注", "来源", "说明", "detail", "note"},
}
CHUNK = 5000  # hashes per IN (…) query


def _columns(header: list[str]) -> dict[str, int]:
    found = {}
    for index, cell in enumerate(header):
        text = (cell or "").strip().lower()
        for key, names in HEADERS.items():
            if text in names and key not in found:
                found[key] = index
    if "id_number" not in found and "phone" not in found:
        raise DomainError(
            "list_columns",
            _("The first row must name the columns: 身份证号 and/or 手机号 (and 姓名, 备注)."),
        )
    return found


def _parse(data: bytes, file_name: str) -> list[dict]:
    """Every row checked; any bad row refuses the file (nothing is written), each one listed."""
    rows, errors, columns = [], [], None
    for number, cells in enumerate(iter_table(data, file_name), start=1):
        if not any(cells):
            continue
        if columns is None:
            columns = _columns(cells)
            continue

        def cell(key, cells=cells, columns=columns):
            index = columns.get(key)
            return cells[index].strip() if index is not None and index < len(cells) and cells[index] else ""

        row = {"row": number, "name": cell("name")[:50], "detail": cell("detail")[:200], "id": "", "phone": ""}
        try:
            if cell("id_number"):
                row["id"] = parse_id_number(cell("id_number")).number
            if cell("phone"):
                row["phone"] = parse_phone(cell("phone")).number
            if not row["id"] and not row["phone"]:
                raise DomainError("id_or_phone", _("Give an ID number or a phone."), field="id_number")
        except DomainError as exc:
            errors.append({"index": number, "row": number, **exc.as_dict()})
            continue
        rows.append(row)
    if columns is None:
        raise DomainError("list_empty", _("The file has no rows."))
    if errors:
        raise RowErrors("list_rejected", _("Some rows are not valid; nothing was imported."), rows=errors)
    if not rows:
        raise DomainError("list_empty", _("The file has no rows."))
    return rows


def _match(rows: list[dict], node: GridNode) -> None:
    """Sets row["person"] = (person id, grid id, grid path) where one resident of the node's
    subtree has the row's ID number (else its phone, when only one resident has that phone)."""
    residents = Person.objects.filter(archived_at__isnull=True, grid__path__startswith=node.path)
    for row in rows:
        row["id_hash"] = lookup_hash("id", row["id"]) if row["id"] else ""
    by_id: dict[str, tuple] = {}
    hashes = sorted({r["id_hash"] for r in rows if r["id_hash"]})
    for start in range(0, len(hashes), CHUNK):
        for found in residents.filter(id_number_hash__in=hashes[start : start + CHUNK]).values_list(
            "id_number_hash", "pk", "grid_id", "grid__path"
        ):
            by_id[found[0]] = found[1:]
    phone_rows = [r for r in rows if r["phone"] and r["id_hash"] not in by_id]
    phone_hashes = sorted({lookup_hash("phone", r["phone"]) for r in phone_rows})
    by_phone: dict[str, list[tuple]] = {}
    for start in range(0, len(phone_hashes), CHUNK):
        for found in residents.filter(phone_hash__in=phone_hashes[start : start + CHUNK]).values_list(
            "phone_hash", "pk", "grid_id", "grid__path"
        ):
            by_phone.setdefault(found[0], []).append(found[1:])
    for row in rows:
        row["person"] = by_id.get(row["id_hash"])
        if row["person"] is None and row["phone"]:
            candidates = by_phone.get(lookup_hash("phone", row["phone"]), [])
            row["person"] = candidates[0] if len(candidates) == 1 else None


def _members(paths) -> dict[str, int]:
    """The grid member of each compound path (the first assigned), in one query."""
    members: dict[str, int] = {}
    for path, user_id in (
        GridAssignment.objects.active()
        .filter(node__path__in=list(paths), role=Role.GRID_MEMBER)
        .order_by("node__path", "id")
        .values_list("node__path", "user_id")
    ):
        members.setdefault(path, user_id)
    return members


def list_import_check(*, node: GridNode, name: str, due_hours, data: bytes, file_name: str, principal) -> str:
    """What refuses a list before its rows are read (the request's 4xx, before a job is queued):
    the right, the name, the deadline, the file's type, size and header. Returns the clean name."""
    authorize(principal, IMPORT, node.path)
    name = (name or "").strip()[:100]
    if not name:
        raise DomainError("name_required", _("Give the list a name."), field="name")
    try:
        due_hours = int(due_hours)
    except (TypeError, ValueError):
        due_hours = 0
    if not 1 <= due_hours <= 24 * 14:
        raise DomainError("due_hours", _("The deadline is 1 to 336 hours away."), field="due_hours")
    if not (file_name or "").lower().endswith((".xlsx", ".csv")):
        raise DomainError("file_type", _("Upload an .xlsx (or .csv) file."), field="file")
    check_size(len(data))
    header = next((cells for cells in iter_table(data, file_name) if any(cells)), None)
    if header is None:
        raise DomainError("file_empty", _("The file is empty."), field="file")
    _columns(header)
    return name


def list_import(
    *, node: GridNode, name: str, source: str, data: bytes, file_name: str, due_hours: int, principal, progress=None
) -> VerificationList:
    """Import a pushed list at once; `progress` (core.jobs.Progress, from the job) hears the rows
    read, then the rows written."""
    name = list_import_check(
        node=node, name=name, due_hours=due_hours, data=data, file_name=file_name, principal=principal
    )
    rows = _parse(data, file_name)
    if progress is not None:
        progress.total(len(rows))
    _match(rows, node)
    if progress is not None:
        progress.step(checked=len(rows), written=0)
    now = timezone.now()
    due = now + dt.timedelta(hours=int(due_hours))
    members = _members({compound_path(r["person"][2]) for r in rows if r["person"]})
    with transaction.atomic():
        verification = VerificationList.objects.create(
            grid=node,
            name=name,
            source=(source or "").strip()[:100],
            file_name=(file_name or "")[:200],
            due_at=due,
            rows=len(rows),
            matched=sum(1 for r in rows if r["person"]),
            created_by=user_of(principal),
        )
        VerificationEntry.objects.bulk_create(
            [
                VerificationEntry(
                    verification_list=verification,
                    row=r["row"],
                    name=r["name"],
                    id_number_hash=r["id_hash"],
                    id_number_masked=mask_id_number(r["id"]) if r["id"] else "",
                    phone_masked=mask_phone(r["phone"]) if r["phone"] else "",
                    detail=r["detail"],
                    person_id=r["person"][0] if r["person"] else None,
                    grid_id=r["person"][1] if r["person"] else node.pk,
                    owner_id=members.get(compound_path(r["person"][2])) if r["person"] else None,
                )
                for r in rows
            ],
            batch_size=2000,
        )
        audit.record(
            principal=principal,
            action="verification.import",
            obj=verification,
            grid_path=node.path,
            changes={"rows": [None, verification.rows], "matched": [None, verification.matched]},
        )
        if progress is not None:
            progress.step(checked=len(rows), written=len(rows))
    return verification


# ---------------------------------------------------------------- as a background job

IMPORT_JOB = "verification_import"


def list_import_start(*, node: GridNode, name: str, source: str, data: bytes, file_name: str, due_hours, principal):
    """Queue the import of a pushed list as a background job (core.jobs), after what refuses the
    file before a row is read has been answered (4xx); the job's page follows it."""
    name = list_import_check(
        node=node, name=name, due_hours=due_hours, data=data, file_name=file_name, principal=principal
    )
    return job_start_for(
        kind=IMPORT_JOB,
        principal=principal,
        capability=IMPORT,
        params={
            "grid": node.pk,
            "name": name,
            "source": (source or "").strip()[:100],
            "due_hours": int(due_hours),
            "file_name": (file_name or "")[:200],
        },
        grid_path=node.path,
        data=data,
        file_name=file_name,
    )


def _run_import_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    node = GridNode.objects.filter(pk=job.params["grid"]).first()
    if node is None:
        raise NotFound("grid_not_found", _("No such grid."))
    with job.upload.open("rb") as fh:
        data = fh.read()
    created = list_import(
        node=node,
        name=job.params["name"],
        source=job.params["source"],
        data=data,
        file_name=job.params["file_name"],
        due_hours=job.params["due_hours"],
        principal=principal,
        progress=progress,
    )
    return {"list": created.pk, "name": created.name, "rows": created.rows, "matched": created.matched}


# Contributed to "job_kinds" (oversight.apps).
IMPORT_JOB_KIND = jobs.JobKind(
    IMPORT_JOB, _("Verification list import"), _run_import_job, "oversight/verification/import_report.html"
)


def entry_verify(*, entry: VerificationEntry, outcome: str, note: str, principal) -> VerificationEntry:
    """The grid member's finding for one row (it may be corrected; each change is audited)."""
    authorize(principal, VERIFY, entry.grid.path)
    if outcome not in VerificationOutcome.values or outcome == VerificationOutcome.PENDING:
        raise DomainError("outcome_invalid", _("Choose what you found."), field="outcome")
    if entry.person_id is None:
        raise Conflict("entry_unplaced", _("This row matches no resident: the community places it first."))
    note = (note or "").strip()[:200]
    with transaction.atomic():
        entry = VerificationEntry.objects.select_for_update().select_related("grid").get(pk=entry.pk)
        before = {"outcome": entry.outcome, "note": entry.note}
        entry.outcome, entry.note = outcome, note
        entry.outcome_at, entry.outcome_by = timezone.now(), user_of(principal)
        entry.save(update_fields=["outcome", "note", "outcome_at", "outcome_by"])
        audit.record(
            principal=principal,
            action="verification.verified",
            obj=entry,
            grid_path=entry.grid.path,
            changes={k: [before[k], getattr(entry, k)] for k in before if before[k] != getattr(entry, k)},
        )
    return entry


def entry_place(*, entry: VerificationEntry, grid: GridNode, principal) -> VerificationEntry:
    """A row that matched nobody, placed by the community in the compound or building where the
    person is thought to be: it becomes that grid member's task (the outcome then says more)."""
    verification = entry.verification_list
    authorize(principal, IMPORT, verification.grid.path)
    if not grid.path.startswith(verification.grid.path) or grid.level not in LEAF_LEVELS:
        raise DomainError("grid_invalid", _("Choose a compound or building grid under the list's node."), field="grid")
    if entry.person_id is not None:
        raise Conflict("entry_matched", _("This row is matched to a resident already."))
    with transaction.atomic():
        entry = VerificationEntry.objects.select_for_update().get(pk=entry.pk)
        before = entry.grid_id
        entry.grid = grid
        entry.owner_id = _members({compound_path(grid.path)}).get(compound_path(grid.path))
        entry.save(update_fields=["grid", "owner"])
        audit.record(
            principal=principal,
            action="verification.placed",
            obj=entry,
            grid_path=grid.path,
            changes={"grid": [before, grid.pk]},
        )
    return entry


# ---------------------------------------------------------------- reads


def lists_for(user):
    return VerificationList.objects.restrict(user).select_related("grid").order_by("-created_at")


def list_get(*, user, pk, capability: str = VIEW) -> VerificationList:
    """A list, for those who see its node, or who hold one of its rows (a grid member)."""
    try:
        return VerificationList.objects.select_related("grid").get_for(
            user, capability, pk=pk, missing=NotFound("list_not_found", _("No such list."))
        )
    except NotFound:
        if not entries_for(user).filter(verification_list__pk=pk).exists():
            raise
        if capability != VIEW:
            raise Forbidden("forbidden", _("Your role does not allow this here.")) from None
        return VerificationList.objects.select_related("grid").get(pk=pk)


def entries_for(user):
    return VerificationEntry.objects.restrict(user).select_related("grid", "owner", "verification_list")


def entry_get(*, user, pk, capability: str = VIEW) -> VerificationEntry:
    return VerificationEntry.objects.select_related("grid", "verification_list__grid").get_for(
        user, capability, pk=pk, missing=NotFound("entry_not_found", _("No such row."))
    )


def counts(verification: VerificationList) -> dict[str, int]:
    found = dict(verification.entries.values("outcome").annotate(n=Count("*")).values_list("outcome", "n"))
    return {value: found.get(value, 0) for value in VerificationOutcome.values}
