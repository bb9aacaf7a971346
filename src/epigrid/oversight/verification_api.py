"""API of the verification lists (核查名单): import a pushed list, read it and its rows, record
a row's outcome, place a row that matched nobody."""

import datetime as dt

from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile

from epigrid.core.api import ERRORS, In, page
from epigrid.core.job_api import JobOut, job_accepted
from epigrid.core.tabular import read_upload
from epigrid.grids.selectors import grid_node_get

from . import verification
from .models import VerificationEntry, VerificationList

router = Router(tags=["verification lists"])


class VerificationListOut(Schema):
    id: int
    grid: str
    name: str
    source: str
    rows: int
    matched: int
    due_at: dt.datetime
    created_at: dt.datetime
    outcomes: dict[str, int] | None = None


class VerificationEntryOut(Schema):
    id: int
    list_id: int
    row: int
    name: str
    id_number_masked: str
    phone_masked: str
    detail: str
    person_id: int | None
    grid: str
    owner: str | None
    outcome: str
    note: str
    outcome_at: dt.datetime | None


class VerificationListPage(Schema):
    items: list[VerificationListOut]
    next_offset: int | None


class VerificationEntryPage(Schema):
    items: list[VerificationEntryOut]
    next_offset: int | None


class OutcomeIn(In):
    outcome: str
    note: str = ""


class EntryPlaceIn(In):
    grid: str


def _list_out(v: VerificationList, with_counts: bool = False) -> dict:
    return {
        "id": v.pk,
        "grid": v.grid.code,
        "name": v.name,
        "source": v.source,
        "rows": v.rows,
        "matched": v.matched,
        "due_at": v.due_at,
        "created_at": v.created_at,
        "outcomes": verification.counts(v) if with_counts else None,
    }


def _entry_out(e: VerificationEntry) -> dict:
    return {
        "id": e.pk,
        "list_id": e.verification_list_id,
        "row": e.row,
        "name": e.name,
        "id_number_masked": e.id_number_masked,
        "phone_masked": e.phone_masked,
        "detail": e.detail,
        "person_id": e.person_id,
        "grid": e.grid.code,
        "owner": e.owner.username if e.owner else None,
        "outcome": e.outcome,
        "note": e.note,
        "outcome_at": e.outcome_at,
    }


@router.post(
    "/verification-lists",
    response={202: JobOut, **ERRORS},
    summary="Import a list pushed from above as a background job, and match it against the residents",
    description=(
        "Who may call: a user with `import_export` over `grid` (community staff and above; a second factor); "
        "403 in sight without it, 404 out of sight. Multipart: `file` (.xlsx/.csv, first row names the columns "
        "身份证号 and/or 手机号, optionally 姓名, 备注), `name`, `source`, `grid`, `due_hours` (1–336). What "
        "refuses the file before a row is read (no right 403; no name, a deadline out of range, not .xlsx/.csv, "
        "too large, no such columns 400) is answered now; else 202 with the job (`/api/v1/jobs/{id}`). The job "
        "checks every row first: it ends `failed` with each bad row in `error.rows` and nothing written, or "
        "`done` with `result` {list, name, rows, matched}. Rows are matched by keyed hash to the residents under "
        "`grid` (ID number, else a phone only one resident has). Cascade: each match becomes a verification task "
        "of the grid member of the person's compound; audited once."
    ),
)
def list_import(
    request,
    file: File[UploadedFile],
    name: Form[str],
    grid: Form[str],
    source: Form[str] = "",
    due_hours: Form[int] = 24,
):
    node = grid_node_get(user=request.user, code=grid, capability=verification.IMPORT)
    job = verification.list_import_start(
        node=node,
        name=name,
        source=source,
        data=read_upload(file),
        file_name=file.name or "upload.xlsx",
        due_hours=due_hours,
        principal=request.user,
    )
    return job_accepted(job)


@router.get(
    "/verification-lists",
    response={200: VerificationListPage, **ERRORS},
    description=(
        "Who may call: any user with a role; the lists imported at nodes in the caller's subtrees, newest "
        "first; `next_offset` pages. Reads only: no cascade."
    ),
)
def list_list(request, limit: int = 50, offset: int = 0):
    items, next_offset, _total = page(verification.lists_for(request.user), limit=limit, offset=offset)
    return {"items": [_list_out(v) for v in items], "next_offset": next_offset}


@router.get(
    "/verification-lists/{int:pk}",
    response={200: VerificationListOut, **ERRORS},
    description=(
        "Who may call: a user who sees the list's node, or who holds one of its rows (404 `list_not_found` "
        "otherwise); `outcomes` counts the rows by outcome. Reads only: no cascade."
    ),
)
def list_detail(request, pk: int):
    return _list_out(verification.list_get(user=request.user, pk=pk), with_counts=True)


@router.get(
    "/verification-lists/{int:pk}/entries",
    response={200: VerificationEntryPage, **ERRORS},
    description=(
        "Who may call: as for the list; answers the rows in the caller's subtrees (a grid member: their "
        "grid's), by row number; `outcome` filters (`pending`…), `unmatched=true` keeps the rows that matched "
        "nobody; `next_offset` pages. Identifiers are masked. Reads only: no cascade."
    ),
)
def list_entries(request, pk: int, outcome: str = "", unmatched: bool = False, limit: int = 100, offset: int = 0):
    checked = verification.list_get(user=request.user, pk=pk)
    rows = verification.entries_for(request.user).filter(verification_list=checked).order_by("row")
    if outcome:
        rows = rows.filter(outcome=outcome)
    if unmatched:
        rows = rows.filter(person__isnull=True)
    items, next_offset, _total = page(rows, limit=limit, offset=offset)
    return {"items": [_entry_out(e) for e in items], "next_offset": next_offset}


@router.post(
    "/verification-entries/{int:pk}/outcome",
    response={200: VerificationEntryOut, **ERRORS},
    description=(
        "Who may call: a user with `intake` over the row's grid (its grid member, grid head, community staff); "
        "403 in sight without it, 404 out of sight. `outcome`: at_home, left, not_living_here, new_arrival "
        "(then register the tip: POST /tips). 409 `entry_unplaced` for a row that matched nobody. May be "
        "corrected; each change audited. No cascade."
    ),
)
def entry_outcome(request, pk: int, payload: OutcomeIn):
    entry = verification.entry_get(user=request.user, pk=pk, capability=verification.VERIFY)
    return _entry_out(
        verification.entry_verify(entry=entry, outcome=payload.outcome, note=payload.note, principal=request.user)
    )


@router.post(
    "/verification-entries/{int:pk}/place",
    response={200: VerificationEntryOut, **ERRORS},
    description=(
        "Who may call: a user with `import_export` over the list's node; 404 out of sight. Places a row that "
        "matched nobody in a compound or building `grid` under the list's node (400 `grid_invalid`; 409 "
        "`entry_matched` for a matched row). Cascade: the row becomes a task of that grid's member. Audited."
    ),
)
def entry_place(request, pk: int, payload: EntryPlaceIn):
    entry = verification.entry_get(user=request.user, pk=pk)
    grid = grid_node_get(user=request.user, code=payload.grid)
    placed = verification.entry_place(entry=entry, grid=grid, principal=request.user)
    return _entry_out(verification.entry_get(user=request.user, pk=placed.pk))
