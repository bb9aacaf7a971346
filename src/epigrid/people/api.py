import datetime as dt

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from epigrid.core import access
from epigrid.core.api import ERRORS, ErrorOut, In, page
from epigrid.core.capabilities import Capability
from epigrid.core.job_api import GridJobIn, JobOut, job_accepted
from epigrid.core.models import ImportKind
from epigrid.core.tabular import read_upload
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.selectors import grid_node_get

from . import ledgers, selectors, services
from .choices import Relationship, Sex
from .models import Household, Person

router = Router(tags=["people"])
# Writes load what they change with the right they need: outside the user's area 404, inside it
# without the right 403 (core.scoping).
EDIT = Capability.EDIT_PEOPLE


class PersonOut(Schema):
    id: int
    name: str
    sex: Sex
    birth_year: int
    age: int
    id_number_masked: str
    phone_masked: str
    grid: str
    household_id: int | None
    relationship: str
    note: str
    archived: bool

    @staticmethod
    def from_model(p: Person) -> dict:
        return {
            "id": p.pk,
            "name": p.name,
            "sex": p.sex,
            # Year and age only: the full birth date is the masked ID number's hidden digits,
            # shown through /reveal (field "birth_date") to users who may unmask.
            "birth_year": p.birth_year,
            "age": p.age,
            "id_number_masked": p.id_number_masked,
            "phone_masked": p.phone_masked,
            "grid": p.grid.code,
            "household_id": p.household_id,
            "relationship": p.relationship,
            "note": p.note,
            "archived": p.archived_at is not None,
        }


class PersonPage(Schema):
    items: list[PersonOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


class PersonIn(In):
    name: str
    id_number: str
    phone: str | None = None
    grid: str | None = None
    household_id: int | None = None
    relationship: Relationship | None = None
    note: str = ""


class PersonPatch(In):
    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    grid: str | None = None
    household_id: int | None = None
    relationship: Relationship | None = None
    note: str | None = None


class RevealIn(In):
    field: str  # "id_number", "birth_date" (YYYY-MM-DD) or "phone"


class RevealOut(Schema):
    field: str
    value: str


class ArchiveIn(In):
    reason: str


class TimelineEntryOut(Schema):
    at: dt.datetime
    kind: str
    actor: str
    changes: dict
    source: str
    text: str = ""  # the entry in a sentence, in the caller's language (masks only)


class PersonSearchIn(In):
    """Exactly one of `id_number` and `phone`, in full."""

    id_number: str | None = None
    phone: str | None = None
    grid: str | None = None
    include_archived: bool = False


class PersonSearchOut(Schema):
    items: list[PersonOut]


class DuplicateOut(ErrorOut):
    """A 409 for an ID number already registered. `id_number_duplicate`: the person is in your
    area, `person_id` is their file; `id_number_unavailable`: registered where you may not see
    (nothing more is said)."""

    person_id: int | None = None


DUPLICATE_ERRORS = {**ERRORS, 409: DuplicateOut}


@router.get(
    "/persons",
    response={200: PersonPage, **ERRORS},
    summary="Persons in scope (search by name, pinyin, last 4 digits of the ID number or phone)",
    description=(
        "Who may call: any user with a role; answers only the persons of the grids the caller sees, ID number "
        "and phone masked. `q` finds by name, pinyin or initials (zs), the last 4 digits of the ID number or "
        "phone, or a masked value as shown. A full ID number or phone in `q` is refused with 400 "
        "`exact_search_needs_post`: search it with `POST /api/v1/persons/search`, so it never sits in a URL. "
        "Filters: `grid` (a subtree, 404 outside sight), `household`; archived files only with "
        "`include_archived`. Ordered by grid, then id; `next_offset` pages. Reads only: no cascade."
    ),
)
def person_list(
    request,
    grid: str | None = None,
    q: str = "",
    household: int | None = None,
    include_archived: bool = False,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    grid_path = grid_node_get(user=request.user, code=grid).path if grid else ""
    read = persons = None
    if not q.strip() and not household:  # the plain list: its SQL compiled once (core.compiled)

        def read(start, stop):
            return selectors.person_page(
                user=request.user, grid_path=grid_path, include_archived=include_archived, start=start, stop=stop
            )

    if read is None or with_total:  # the queryset: to slice, or to count
        persons = selectors.person_list(
            user=request.user, q=q, grid_path=grid_path, household_id=household, include_archived=include_archived
        )
    items, next_offset, total = page(
        persons, limit=limit, offset=offset, with_total=with_total, rows=selectors.person_rows, read=read
    )
    return {"items": [PersonOut.from_model(p) for p in items], "next_offset": next_offset, "total": total}


@router.post(
    "/persons/search",
    response={200: PersonSearchOut, **ERRORS},
    summary="Find persons by a full ID number or phone (needs the unmask right; logged; throttled)",
    description=(
        "Who may call: a user with `unmask_pii` (held only with a verified second factor). "
        "Body: exactly one of `id_number` or `phone`, in full; `grid` narrows the search to a subtree. "
        "Searches only persons you may unmask (403 `unmask_required` where you may not), at most "
        f"{services.EXACT_SEARCH_MAX} of them. Each search is logged as `person.search_reveal` (the kind of "
        "key and the count, never the value) and limited per user (429 `exact_search_throttled`). "
        "Reads only: no cascade."
    ),
)
def person_search(request, payload: PersonSearchIn):
    grid_path = grid_node_get(user=request.user, code=payload.grid).path if payload.grid else ""
    found = services.person_search_exact(
        principal=request.user,
        id_number=payload.id_number,
        phone=payload.phone,
        grid_path=grid_path,
        include_archived=payload.include_archived,
    )
    return {"items": [PersonOut.from_model(p) for p in found]}


@router.get(
    "/persons/{pk}",
    response={200: PersonOut, **ERRORS},
    description=(
        "Who may call: a user who sees the person's grid (else 404 `person_not_found`, whether or not it "
        "exists). ID number and phone are answered masked (POST /persons/{id}/reveal unmasks); the read goes "
        "to the access log (`person.read`). Reads only: no cascade."
    ),
)
def person_detail(request, pk: int):
    person = selectors.person_get(user=request.user, pk=pk)
    access.log_read(request, "person.read", person, person.grid.path)
    return PersonOut.from_model(person)


@router.post(
    "/persons",
    response={201: PersonOut, **DUPLICATE_ERRORS},
    description=(
        "Who may call: a user with `edit_people` over the household's grid, or over `grid` for a person "
        "without a household (403 in sight without it, 404 out of sight). An ID number already registered is "
        "409 `id_number_duplicate` with the file's `person_id` when it is in the caller's sight, else 409 "
        "`id_number_unavailable` and nothing more (the attempt is logged and counted: over the duplicate-probe "
        "limit, registering is 429). Audited. No cascade."
    ),
)
def person_create(request, payload: PersonIn):
    household = (
        selectors.household_get(user=request.user, pk=payload.household_id, capability=EDIT)
        if payload.household_id
        else None
    )
    grid = grid_node_get(user=request.user, code=payload.grid, capability=EDIT) if payload.grid else None
    person = services.person_create(
        name=payload.name,
        id_number=payload.id_number,
        phone=payload.phone,
        household=household,
        grid=grid,
        relationship=payload.relationship.value if payload.relationship else "",
        note=payload.note,
        principal=request.user,
    )
    return Status(201, PersonOut.from_model(person))


@router.patch(
    "/persons/{pk}",
    response={200: PersonOut, **DUPLICATE_ERRORS},
    description=(
        "Who may call: a user with `edit_people` over the person's grid (403 in sight without it, 404 out of "
        "sight, `person_not_found`), and over the new household's or grid's when moving them. Fields left out "
        "stay. An ID number registered to another file is 409 as on create. Audited. No cascade."
    ),
)
def person_update(request, pk: int, payload: PersonPatch):
    person = selectors.person_get(user=request.user, pk=pk, capability=EDIT)
    changes = payload.dict(exclude_unset=True)
    if "household_id" in changes:
        hid = changes.pop("household_id")
        changes["household"] = selectors.household_get(user=request.user, pk=hid, capability=EDIT) if hid else None
    if "grid" in changes:
        code = changes.pop("grid")
        changes["grid"] = grid_node_get(user=request.user, code=code, capability=EDIT) if code else None
    if changes.get("relationship") is not None:
        changes["relationship"] = changes["relationship"].value
    return PersonOut.from_model(services.person_update(person=person, principal=request.user, **changes))


@router.post(
    "/persons/{pk}/reveal",
    response={200: RevealOut, **ERRORS},
    summary="Unmask an ID number, birth date or phone (logged)",
    description=(
        "Who may call: a user with `unmask_pii` (held only with a verified second factor) over the person's "
        "grid (403 in sight without it, 404 out of sight, `person_not_found`). Answers the full `id_number`, "
        "`birth_date` or `phone`; each reveal is audited (the field's name, never its value). A person erased "
        "when their retention ended has nothing left to reveal: 409 `person_erased`. No cascade."
    ),
)
def person_reveal(request, pk: int, payload: RevealIn):
    person = selectors.person_get(user=request.user, pk=pk, capability=Capability.UNMASK_PII)
    return {
        "field": payload.field,
        "value": services.person_reveal(person=person, field=payload.field, principal=request.user),
    }


@router.post(
    "/persons/{pk}/archive",
    response={200: PersonOut, **ERRORS},
    description=(
        "Who may call: a user with `edit_people` over the person's grid (403 in sight without it, 404 out of "
        "sight, `person_not_found`); a reason is required (400 `reason_required`). The file stays and leaves "
        "the lists; archiving an archived file changes nothing. Audited. No cascade: open orders, cases and "
        "alerts are left as they are."
    ),
)
def person_archive(request, pk: int, payload: ArchiveIn):
    person = selectors.person_get(user=request.user, pk=pk, capability=EDIT)
    return PersonOut.from_model(services.person_archive(person=person, reason=payload.reason, principal=request.user))


@router.get(
    "/persons/{pk}/timeline",
    response={200: list[TimelineEntryOut], **ERRORS},
    description=(
        "Who may call: a user who sees the person's grid (else 404 `person_not_found`, whether or not it "
        "exists). Everything that happened to the person (一人一档), newest first; the read goes to the access log "
        "(`person.timeline`). Reads only: no cascade."
    ),
)
def person_timeline(request, pk: int):
    person = selectors.person_get(user=request.user, pk=pk)
    access.log_read(request, "person.timeline", person, person.grid.path)
    return selectors.person_timeline(person=person)


class HouseholdOut(Schema):
    id: int
    number: str
    address: str
    grid: str

    @staticmethod
    def from_model(h: Household) -> dict:
        return {"id": h.pk, "number": h.number, "address": h.address, "grid": h.grid.code}


class HouseholdPage(Schema):
    items: list[HouseholdOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


class HouseholdIn(In):
    grid: str
    number: str
    address: str


class HouseholdPatch(In):
    grid: str | None = None
    number: str | None = None
    address: str | None = None


@router.get(
    "/households",
    response={200: HouseholdPage, **ERRORS},
    description=(
        "Who may call: any user with a role; answers only the households (not archived) of the grids the "
        "caller sees. Filters: `grid` (a subtree, 404 outside sight), `q` (part of the address, or the "
        "household number). Ordered by grid, then number; `next_offset` pages. Reads only: no cascade."
    ),
)
def household_list(
    request, grid: str | None = None, q: str = "", limit: int = 50, offset: int = 0, with_total: bool = False
):
    grid_path = grid_node_get(user=request.user, code=grid).path if grid else ""
    items, next_offset, total = page(
        selectors.household_list(user=request.user, grid_path=grid_path, q=q),
        limit=limit,
        offset=offset,
        with_total=with_total,
    )
    return {"items": [HouseholdOut.from_model(h) for h in items], "next_offset": next_offset, "total": total}


@router.get(
    "/households/{pk}",
    response={200: HouseholdOut, **ERRORS},
    description=(
        "Who may call: a user who sees the household's grid (else 404 `household_not_found`, whether or not it "
        "exists). The read goes to the access log (`household.read`). Reads only: no cascade."
    ),
)
def household_detail(request, pk: int):
    household = selectors.household_get(user=request.user, pk=pk)
    access.log_read(request, "household.read", household, household.grid.path)
    return HouseholdOut.from_model(household)


@router.post(
    "/households",
    response={201: HouseholdOut, **ERRORS},
    description=(
        "Who may call: a user with `edit_people` over `grid` (403 in sight without it, 404 out of sight, "
        "`grid_not_found`). A number already used in that grid is 409 `household_number_taken`. Audited. No "
        "cascade."
    ),
)
def household_create(request, payload: HouseholdIn):
    grid = grid_node_get(user=request.user, code=payload.grid, capability=EDIT)
    household = services.household_create(
        grid=grid, number=payload.number, address=payload.address, principal=request.user
    )
    return Status(201, HouseholdOut.from_model(household))


@router.patch(
    "/households/{pk}",
    response={200: HouseholdOut, **ERRORS},
    description=(
        "Who may call: a user with `edit_people` over the household's grid (403 in sight without it, 404 out "
        "of sight, `household_not_found`), and over the new `grid` when moving it. Fields left out stay. "
        "Audited. No cascade."
    ),
)
def household_update(request, pk: int, payload: HouseholdPatch):
    household = selectors.household_get(user=request.user, pk=pk, capability=EDIT)
    changes = payload.dict(exclude_unset=True)
    if "grid" in changes:
        changes["grid"] = grid_node_get(user=request.user, code=changes["grid"] or "", capability=EDIT)
    return HouseholdOut.from_model(services.household_update(household=household, principal=request.user, **changes))


class RowErrorOut(Schema):
    row: int
    column: str
    code: str
    message: str
    messages: dict[str, str]
    person_id: int | None = None  # an ID number already registered in your area: their file


class ImportErrorOut(Schema):
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None
    rows: list[RowErrorOut] = []
    refused: int | None = None  # rows refused (a row may have several problems)


@router.post(
    "/imports",
    response={202: JobOut, **ERRORS},
    summary="Import a ledger (.xlsx or .csv) as a background job; all rows or none",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor); each row's grid "
        "must be one where the caller holds it (a grid outside the caller's sight reads as unknown, one in "
        "sight without the right is refused: row errors). What refuses the file before a row is read (no right "
        "403, not .xlsx/.csv or too large 400, over the duplicate-probe limit 429) is answered now; else 202 "
        "with the job (`/api/v1/jobs/{id}`: follow it, cancel it). All rows or none: the job ends `done` with "
        "the report in `result` (created/updated/unchanged/refused, rows by number), or `failed` with every "
        "bad row in `error.rows` and nothing written, or `cancelled` with nothing written. Audited. No cascade."
    ),
)
def ledger_import(request, kind: Form[ImportKind], file: File[UploadedFile]):
    job = ledgers.ledger_import_start(
        data=read_upload(file), file_name=file.name or "upload.xlsx", kind=kind.value, principal=request.user
    )
    return job_accepted(job)


@router.get(
    "/exports/{kind}",
    response={200: None, **ERRORS},
    summary="Export a ledger as .xlsx",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor) over `grid` (403 "
        "in sight without it, 404 out of sight, `grid_not_found`). The ledger of that subtree as .xlsx; ID "
        "numbers and phones are unmasked only where the caller also holds `unmask_pii`. Each export is audited "
        "(kind, row count, unmasked or not). No cascade."
    ),
)
def ledger_export(request, kind: ImportKind, grid: str):
    node = grid_node_get(user=request.user, code=grid, capability=Capability.IMPORT_EXPORT)
    out, name = ledgers.ledger_export(kind=kind.value, node=node, principal=request.user)
    return xlsx_response(out, name)


@router.post(
    "/exports/{kind}/jobs",
    response={202: JobOut, **ERRORS},
    summary="Export a ledger as .xlsx in a background job (large areas)",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor) over `grid` (403 "
        "in sight without it, 404 out of sight, `grid_not_found`). 202 with the job (`/api/v1/jobs/{id}`: "
        "follow it, cancel it); when it is `done`, its `download_url` (`/api/v1/jobs/{id}/download`) serves the "
        ".xlsx to the caller alone until `result_expires_at` (then 410, and the sweep deletes the file). The "
        "same ledger as `GET /exports/{kind}`: ID numbers and phones unmasked only where the caller also holds "
        "`unmask_pii`. The export is audited when the job writes it (kind, row count, unmasked or not), and "
        "each download. No cascade."
    ),
)
def ledger_export_job(request, kind: ImportKind, payload: GridJobIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.IMPORT_EXPORT)
    job = ledgers.ledger_export_start(kind=kind.value, node=node, principal=request.user)
    return job_accepted(job)
