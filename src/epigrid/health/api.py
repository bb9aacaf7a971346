import datetime as dt
import uuid
from typing import Literal

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from epigrid.core import access
from epigrid.core.api import (
    ERRORS,
    ErrorOut,
    EventTime,
    FilterDate,
    FilterTime,
    In,
    IsoTime,
    PlanDate,
    Temperature,
    page,
)
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.job_api import GridJobIn, JobOut, job_accepted
from epigrid.core.tabular import read_upload
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors

from . import ledgers, selectors, services
from .choices import CaseStatus, CodeColour, Conclusion, ReportSource, SampleResult, StaffContactKind
from .models import Case, Sample, TemperatureReport, TestList

router = Router(tags=["health"])
public_router = Router(tags=["resident"])


class BatchRowErrorOut(Schema):
    index: int | None = None
    row: int | None = None
    code: str
    message: str
    field: str | None = None


class BatchErrorOut(Schema):
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None
    rows: list[BatchRowErrorOut] = []


class ReadingIn(In):
    person_id: int
    value: Temperature
    # Without an offset: Asia/Shanghai time. Bounded per row by the service (the batch's rows).
    measured_at: IsoTime
    client_id: uuid.UUID


class BatchIn(In):
    readings: list[ReadingIn]
    # Who took the readings: a device (a thermometer's upload, the default) or the liaison (a grid
    # member's temperature form, queued offline and sent when the signal returns).
    source: Literal["device", "liaison"] = "device"


class BatchOut(Schema):
    stored: int
    duplicates: int
    fevers: int


@router.post(
    "/temperatures/batch",
    response={200: BatchOut, **ERRORS, 422: BatchErrorOut},
    summary="Record readings (offline devices resend safely: each client_id is stored once)",
    description=(
        "Who may call: a user with `record_health` over each reading's person (a person out of sight is a row "
        "error `person_not_found`, one in sight without the right `forbidden`). All rows are checked first: "
        "any bad row refuses the batch (422, every bad row listed) and nothing is stored; a resent `client_id` "
        "is stored once. At most 5000 readings. `source` says who took them: `device` (default) or `liaison` (a "
        "grid member's form, queued offline). No system cascade: each reading at or above the fever "
        "threshold raises a `fever` alert in the same transaction, as the caller."
    ),
)
def temperatures_batch(request, payload: BatchIn):
    if len(payload.readings) > 5000:
        raise DomainError("batch_too_large", _("At most 5000 readings per batch."), field="readings")
    result = services.temperature_reports_record(
        readings=[services.Reading(r.person_id, r.value, r.measured_at, r.client_id) for r in payload.readings],
        source=ReportSource(payload.source),
        principal=request.user,
    )
    return result.__dict__


class TemperatureOut(Schema):
    id: int
    person_id: int
    value: float
    is_fever: bool
    measured_at: dt.datetime
    received_at: dt.datetime
    local_date: dt.date
    slot: int | None
    source: str


class TemperaturePage(Schema):
    items: list[TemperatureOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/temperatures",
    response={200: TemperaturePage, **ERRORS},
    summary="Readings (体温台账)",
    description=(
        "Who may call: any user with a role; answers only the readings of persons in the grids the caller "
        "sees. Filters: `person` (404 if not visible), `grid` (a subtree), `date` (the local day), `fever`. "
        "Ordered by measuring time, then id, descending; `next_offset` pages. Reads only: no cascade."
    ),
)
def temperature_list(
    request,
    person: int | None = None,
    date: FilterDate | None = None,
    grid: str | None = None,
    fever: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    with_total: bool = False,
):
    rows = TemperatureReport.objects.restrict(request.user)
    if person is not None:
        rows = rows.filter(person=people_selectors.person_get(user=request.user, pk=person))
    if grid:
        rows = rows.in_subtree(grid_node_get(user=request.user, code=grid).path)
    if date:
        rows = rows.filter(local_date=date)
    if fever is not None:
        rows = rows.filter(is_fever=fever)
    items, next_offset, total = page(
        rows.order_by("-measured_at", "-id"), limit=limit, offset=offset, with_total=with_total
    )
    return {
        "items": [
            {
                **{
                    f: getattr(r, f)
                    for f in (
                        "id",
                        "person_id",
                        "is_fever",
                        "measured_at",
                        "received_at",
                        "local_date",
                        "slot",
                        "source",
                    )
                },
                "value": float(r.value),
            }
            for r in items
        ],
        "next_offset": next_offset,
        "total": total,
    }


class LinkOut(Schema):
    token: str
    url: str


@router.post(
    "/persons/{pk}/report-link",
    response={200: LinkOut, **ERRORS},
    summary="Issue the resident's personal report link (the old one stops working)",
    description=(
        "Who may call: a user with `record_health` over the person's grid (403 in sight without it, 404 out of "
        "sight, `person_not_found`). Answers the resident's personal link; the link issued before stops "
        "working. Audited. No cascade."
    ),
)
def report_link_issue(request, pk: int):
    person = people_selectors.person_get(user=request.user, pk=pk, capability=Capability.RECORD_HEALTH)
    token = services.resident_link_issue(person=person, principal=request.user)
    return {"token": token, "url": request.build_absolute_uri(reverse("resident", args=[token]))}


class HealthCodeOut(Schema):
    colour: str
    label: str
    reasons: list[str]


@router.get(
    "/persons/{pk}/health-code",
    response={200: HealthCodeOut, **ERRORS},
    summary="健康码, with reasons",
    description=(
        "Who may call: a user who sees the person's grid (else 404 `person_not_found`, whether or not it "
        "exists). The code's colour and the reasons (see GET /health-code-rules); the read goes to the access "
        "log (`person.health_code`). Reads only: no cascade."
    ),
)
def person_health_code(request, pk: int):
    person = people_selectors.person_get(user=request.user, pk=pk)
    access.log_read(request, "person.health_code", person, person.grid.path)
    code = selectors.health_code(person)
    return {"colour": code.colour, "label": str(code.label), "reasons": code.reasons}


class StaffContactIn(In):
    kind: StaffContactKind
    at: EventTime | None = None  # when the contact was; empty: now
    note: str = ""


class StaffContactOut(Schema):
    id: int
    person_id: int
    staff: str
    kind: StaffContactKind
    at: dt.datetime
    local_date: dt.date
    note: str


def _contact_out(c) -> dict:
    return {
        "id": c.pk,
        "person_id": c.person_id,
        "staff": str(c.staff),
        "kind": c.kind,
        "at": c.at,
        "local_date": c.local_date,
        "note": c.note,
    }


class StaffContactPage(Schema):
    items: list[StaffContactOut]
    next_offset: int | None


@router.get(
    "/persons/{pk}/contacts",
    response={200: StaffContactPage, **ERRORS},
    summary="The person's contacts with staff (走访: visits, phone and video calls)",
    description=(
        "Who may call: a user who sees the person's grid (else 404 `person_not_found`). Latest first, "
        "then by id; filter `date` (the local day); `next_offset` pages. Reads only: no cascade."
    ),
)
def staff_contact_list(request, pk: int, date: FilterDate | None = None, limit: int = 100, offset: int = 0):
    person = people_selectors.person_get(user=request.user, pk=pk)
    items, next_offset, _total = page(
        selectors.staff_contact_list(user=request.user, person=person, day=date), limit=limit, offset=offset
    )
    return {"items": [_contact_out(c) for c in items], "next_offset": next_offset}


@router.post(
    "/persons/{pk}/contacts",
    response={201: StaffContactOut, **ERRORS},
    summary="Record the caller's contact with the person (a home visit, a phone or video call)",
    description=(
        "Who may call: a user with `record_health` over the person's grid (403 in sight without it, 404 out "
        "of sight, `person_not_found`). `at` is when the contact was (naive = Asia/Shanghai; not in the "
        "future; empty = now); `note` up to 300 characters (400 `note_too_long`). The contact is the "
        "caller's. Audited (`staff_contact.record`, without the note). No cascade."
    ),
)
def staff_contact_create(request, pk: int, payload: StaffContactIn):
    person = people_selectors.person_get(user=request.user, pk=pk, capability=Capability.RECORD_HEALTH)
    contact = services.staff_contact_record(
        person=person, kind=payload.kind.value, at=payload.at, note=payload.note, principal=request.user
    )
    return Status(201, _contact_out(contact))


class HealthCodeRuleOut(Schema):
    fact: str
    colour: CodeColour
    reason: str


@router.get(
    "/health-code-rules",
    response={200: list[HealthCodeRuleOut], **ERRORS},
    summary="The health-code rules: each fact, the colour it gives and the reason shown",
    description=(
        "Who may call: any signed-in user (configuration, not grid data). A person's code is the strongest "
        "colour (red > yellow > green) among the facts that hold for them: a case not excluded, an open "
        "control order of a kind, a reported key person awaiting a decision; each fact that colours the code "
        "is listed as a reason on GET /persons/{id}/health-code. `none` is the green code of a person with no "
        "such fact. `reason` is in the caller's language. Set in the deployment's settings "
        "(HEALTH_CODE_RULES). Reads only: no cascade."
    ),
)
def health_code_rules(request):
    return selectors.health_code_rules()


class ResidentReportIn(In):
    value: Temperature
    client_id: uuid.UUID | None = None
    # A jump from the reading just before is answered 409 `temperature_confirm`: resend with true.
    confirm: bool = False


class ResidentReportOut(Schema):
    stored: bool
    fever: bool
    days_left: int | None


@public_router.post(
    "/resident/{token}/temperature",
    auth=None,
    throttle=services.RESIDENT_LINK_THROTTLE,
    response={200: ResidentReportOut, **ERRORS, 429: ErrorOut},
    summary="A resident reports from their personal link (no account)",
    description=(
        "Who may call: anyone holding a resident's personal link, without an account: the token in the path "
        "names the one person (404 `link_not_found` when it is not valid any more); throttled per link (429). "
        "One reading now, recorded as `system:resident-link`; a resent `client_id` is stored once. Cascade, "
        "run as `system:resident-link`: a reading at or above the fever threshold raises a `fever` alert in "
        "the same transaction."
    ),
)
def resident_report(request, token: str, payload: ResidentReportIn):
    person = services.resident_link_person(token)
    if person is None:
        raise NotFound("link_not_found", _("This link is not valid any more."))
    return services.resident_report(
        person=person, value=payload.value, client_id=payload.client_id, confirmed=payload.confirm
    )


class TestListIn(In):
    name: str
    test_date: PlanDate
    grid: str
    selection: str = "grid"  # grid | under_control | persons
    person_ids: list[int] = []


class TestListOut(Schema):
    id: int
    name: str
    test_date: dt.date
    grid: str
    persons: int
    sampled: int


def _test_list_out(t: TestList) -> dict:
    return {
        "id": t.pk,
        "name": t.name,
        "test_date": t.test_date,
        "grid": t.grid.code,
        "persons": t.entries.count(),
        "sampled": t.samples.values("person").distinct().count(),
    }


@router.get(
    "/test-lists",
    response={200: list[TestListOut], **ERRORS},
    summary="核酸检测名单",
    description=(
        "Who may call: any user with a role; answers only the test lists of the grids the caller sees. Ordered "
        "by test date, newest first; at most 200, not paged. Reads only: no cascade."
    ),
)
def test_list_list(request):
    return [
        _test_list_out(t)
        for t in TestList.objects.restrict(request.user).select_related("grid").order_by("-test_date", "-id")[:200]
    ]


@router.post(
    "/test-lists",
    response={201: TestListOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_tests` over `grid` (403 in sight without it, 404 out of sight, "
        "`grid_not_found`). Lists the current persons of that subtree: all of them (`grid`), those under an "
        "order in force (`under_control`), or those of `person_ids` who live there (`persons`). Audited. No "
        "cascade."
    ),
)
def test_list_create(request, payload: TestListIn):
    grid = grid_node_get(user=request.user, code=payload.grid, capability=Capability.MANAGE_TESTS)
    persons = selectors.selection(grid=grid, selection=payload.selection, person_ids=payload.person_ids)
    test_list = services.test_list_create(
        name=payload.name, test_date=payload.test_date, grid=grid, persons=persons, principal=request.user
    )
    return Status(201, _test_list_out(test_list))


@router.get(
    "/test-lists/{pk}",
    response={200: TestListOut, **ERRORS},
    description=(
        "Who may call: a user who sees the test list's grid (else 404 `test_list_not_found`, whether or not it "
        "exists). Reads only: no cascade."
    ),
)
def test_list_detail(request, pk: int):
    return _test_list_out(selectors.test_list_get(user=request.user, pk=pk))


class SampleIn(In):
    person_id: int
    specimen_number: str
    sampled_at: EventTime
    test_list_id: int | None = None


class SampleOut(Schema):
    id: int
    specimen_number: str
    person_id: int
    sampled_at: dt.datetime
    result: SampleResult
    result_at: dt.datetime | None
    lab: str


@router.post(
    "/samples",
    response={201: SampleOut, **ERRORS},
    summary="Record sampling (idempotent by specimen)",
    description=(
        "Who may call: a user with `record_health` over the person's grid (403 in sight without it, 404 out of "
        "sight, `person_not_found`); a `test_list_id` must be in sight (404 `test_list_not_found`). The same "
        "specimen number for the same person again answers the sample already stored; for another person it is "
        "409 `specimen_taken` inside the caller's area, and outside it a refusal that names no one (audited, "
        "counted against the duplicate-probe limit). No cascade."
    ),
)
def sample_create(request, payload: SampleIn):
    person = people_selectors.person_get(user=request.user, pk=payload.person_id, capability=Capability.RECORD_HEALTH)
    test_list = selectors.test_list_get(user=request.user, pk=payload.test_list_id) if payload.test_list_id else None
    sample = services.sample_record(
        person=person,
        specimen_number=payload.specimen_number,
        sampled_at=payload.sampled_at,
        test_list=test_list,
        principal=request.user,
    )
    return Status(201, sample)


class SamplePage(Schema):
    items: list[SampleOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/samples",
    response={200: SamplePage, **ERRORS},
    summary="Samples and results (核酸台账)",
    description=(
        "Who may call: any user with a role; answers only samples of the grids the caller sees. "
        "Filters: `person` (404 if not visible), `result`, `grid` (a subtree), "
        "`sampled_from` ≤ sampled_at < `sampled_to` (naive = Asia/Shanghai). Ordered by "
        "sampled_at, then id, descending; `next_offset` pages. Reads only: no cascade."
    ),
)
def sample_list(
    request,
    person: int | None = None,
    result: SampleResult | None = None,
    grid: str | None = None,
    sampled_from: FilterTime | None = None,
    sampled_to: FilterTime | None = None,
    limit: int = 100,
    offset: int = 0,
    with_total: bool = False,
):
    rows = Sample.objects.restrict(request.user)
    if person is not None:
        rows = rows.filter(person=people_selectors.person_get(user=request.user, pk=person))
    if result:
        rows = rows.filter(result=result.value)
    if grid:
        rows = rows.in_subtree(grid_node_get(user=request.user, code=grid).path)
    if sampled_from:
        rows = rows.filter(sampled_at__gte=sampled_from)
    if sampled_to:
        rows = rows.filter(sampled_at__lt=sampled_to)
    items, next_offset, total = page(
        rows.order_by("-sampled_at", "-id"), limit=limit, offset=offset, with_total=with_total
    )
    return {"items": items, "next_offset": next_offset, "total": total}


class ResultItemIn(In):
    specimen_number: str
    result: SampleResult
    result_at: EventTime
    lab: str = ""


class ResultsIn(In):
    results: list[ResultItemIn]


class ResultsOut(Schema):
    stored: int
    unchanged: int
    positive: int


@router.post(
    "/results/batch",
    response={200: ResultsOut, **ERRORS, 422: BatchErrorOut},
    summary="Results from the CDC or a lab (idempotent by specimen number)",
    description=(
        "Who may call: a user with `manage_tests` in at least one grid (403 otherwise); each specimen must be "
        "a sample the caller sees (else a row error `specimen_unknown`). All rows are checked first: any bad "
        "row refuses the batch (422, every bad row listed); the same result again is `unchanged`, a different "
        "one is a row error `result_conflict` (a correction is a new sample). No system cascade: a positive "
        "result makes the person a suspected case and raises an urgent `positive_test` alert for the command "
        "center, in the same transaction, as the caller."
    ),
)
def results_batch(request, payload: ResultsIn):
    return services.results_record(
        results=[services.ResultIn(r.specimen_number, r.result.value, r.result_at, r.lab) for r in payload.results],
        principal=request.user,
    )


@router.post(
    "/results/import",
    response={202: JobOut, **ERRORS, 422: BatchErrorOut},
    summary="Import results from .xlsx (样本编号, 检测结果, 报告时间, 检测机构) as a background job",
    description=(
        "Who may call: a user with `manage_tests` in at least one grid (403 otherwise). The file is read at "
        "once: no right 403; not .xlsx/.csv, too large, unreadable or no such columns 400; a badly written row "
        "(result, time) 422 with every bad row and nothing queued. Else 202 with the job (`/api/v1/jobs/{id}`), "
        "which checks the rows like POST /results/batch (each specimen must be a sample the caller sees, else "
        "`specimen_unknown`): any bad row fails the job with "
        "every bad row in `error.rows` and nothing stored; else it ends `done` with `result` {stored, "
        "unchanged, positive}. No system cascade: a positive result makes the person a suspected case and "
        "raises an urgent `positive_test` alert for the command center, in the job's transaction, as the caller."
    ),
)
def results_import(request, file: File[UploadedFile]):
    job = ledgers.results_import_start(
        data=read_upload(file), file_name=file.name or "results.xlsx", principal=request.user
    )
    return job_accepted(job)


class ConsultationIn(In):
    held_at: EventTime
    experts: str
    conclusion: Conclusion
    note: str = ""


class CaseOut(Schema):
    id: int
    person_id: int
    grid: str
    status: CaseStatus
    suspected_at: dt.datetime
    confirmed_at: dt.datetime | None
    excluded_at: dt.datetime | None

    @staticmethod
    def from_model(c: Case) -> dict:
        return {
            "id": c.pk,
            "person_id": c.person_id,
            "grid": c.grid.code,
            "status": c.status,
            "suspected_at": c.suspected_at,
            "confirmed_at": c.confirmed_at,
            "excluded_at": c.excluded_at,
        }


class CasePage(Schema):
    items: list[CaseOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


@router.get(
    "/cases",
    response={200: CasePage, **ERRORS},
    summary="Cases (病例) in the caller's grids",
    description=(
        "Who may call: any user with a role; answers only cases in the grids the caller sees. "
        "Filters: `person` (404 if not visible), `status`, `grid` (a subtree), "
        "`suspected_from` ≤ suspected_at < `suspected_to` (naive = Asia/Shanghai). Ordered by "
        "suspected_at, then id, descending; `next_offset` pages. Reads only: no cascade."
    ),
)
def case_list(
    request,
    person: int | None = None,
    status: CaseStatus | None = None,
    grid: str | None = None,
    suspected_from: FilterTime | None = None,
    suspected_to: FilterTime | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = selectors.case_list(
        user=request.user,
        person_id=people_selectors.person_get(user=request.user, pk=person).pk if person is not None else None,
        status=status.value if status else "",
        grid_path=grid_node_get(user=request.user, code=grid).path if grid else "",
    )
    if suspected_from:
        rows = rows.filter(suspected_at__gte=suspected_from)
    if suspected_to:
        rows = rows.filter(suspected_at__lt=suspected_to)
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [CaseOut.from_model(c) for c in items], "next_offset": next_offset, "total": total}


@router.get(
    "/cases/{pk}",
    response={200: CaseOut, **ERRORS},
    summary="One case",
    description=(
        "Who may call: a user who sees the case's grid (else 404 `case_not_found`, whether or not "
        "it exists). Reads only: no cascade."
    ),
)
def case_detail(request, pk: int):
    return CaseOut.from_model(selectors.case_get(user=request.user, pk=pk))


class ConsultationOut(Schema):
    id: int
    case_id: int
    held_at: dt.datetime
    experts: str
    conclusion: Conclusion
    note: str
    recorded_by: str
    recorded_at: dt.datetime


@router.get(
    "/cases/{pk}/consultations",
    response={200: list[ConsultationOut], **ERRORS},
    summary="A case's expert consultations (专家会诊), earliest first",
    description=(
        "Who may call: a user who sees the case's grid (else 404 `case_not_found`). Every "
        "consultation recorded, in the order held. Reads only: no cascade."
    ),
)
def consultation_list(request, pk: int):
    case = selectors.case_get(user=request.user, pk=pk)
    return [
        {
            "id": c.pk,
            "case_id": c.case_id,
            "held_at": c.held_at,
            "experts": c.experts,
            "conclusion": c.conclusion,
            "note": c.note,
            "recorded_by": c.recorded_by.username,
            "recorded_at": c.recorded_at,
        }
        for c in case.consultations.select_related("recorded_by").order_by("held_at", "id")
    ]


@router.post(
    "/cases/{pk}/consultations",
    response={200: CaseOut, **ERRORS},
    summary="Record an expert consultation (专家会诊); confirmation needs one",
    description=(
        "Who may call: a user with `confirm_cases` over the case's grid (403 in sight without it, "
        "404 out of sight). Answers the case as it now stands. Cascade when the conclusion confirms "
        "a suspected case, in the same transaction and as the system: the emergency plan starts "
        "(an emergency response with its tasks), the case's compound becomes an epidemic point "
        "under closed management, and the recorded contacts get their orders; all of it happens or "
        "none does. A conclusion `excluded` only closes the case."
    ),
)
def consultation_create(request, pk: int, payload: ConsultationIn):
    case = selectors.case_get(user=request.user, pk=pk, capability=Capability.CONFIRM_CASES)
    services.consultation_record(
        case=case,
        held_at=payload.held_at,
        experts=payload.experts,
        conclusion=payload.conclusion.value,
        note=payload.note,
        principal=request.user,
    )
    return CaseOut.from_model(selectors.case_get(user=request.user, pk=pk))


class PolicyOut(Schema):
    slot_times: list[str]
    window_minutes: int
    fever_threshold: float


class PolicyIn(In):
    slot_times: list[str]
    window_minutes: int
    fever_threshold: float


@router.get(
    "/monitoring-policy",
    response={200: PolicyOut, **ERRORS},
    summary="The monitoring policy: daily report slots, their window and the fever threshold",
    description=(
        "Who may call: any signed-in user (configuration, not grid data). `slot_times` are the local "
        "(Asia/Shanghai) times a temperature is due each day; a reading within `window_minutes` of a slot "
        "fills it, a slot left empty raises a missed-report alert; a reading at or above `fever_threshold` "
        "raises a fever alert. Changed with PUT. Reads only: no cascade."
    ),
)
def policy_detail(request):
    pol = services.policy()
    return {
        "slot_times": pol.slot_times,
        "window_minutes": pol.window_minutes,
        "fever_threshold": float(pol.fever_threshold),
    }


@router.put(
    "/monitoring-policy",
    response={200: PolicyOut, **ERRORS},
    description=(
        "Who may call: a user with `approve_release` in at least one grid (command center, subdistrict staff, "
        "community secretary; 403 otherwise); the policy is the deployment's one, not a grid's. Slots as "
        "HH:MM, a window of 10 to 240 minutes. Audited. No cascade: readings already stored keep their slots; "
        "the missed-slot sweep (`system:missed-slots`) uses the new slots from then on."
    ),
)
def policy_update(request, payload: PolicyIn):
    pol = services.policy_update(
        slot_times=payload.slot_times,
        window_minutes=payload.window_minutes,
        fever_threshold=str(payload.fever_threshold),
        principal=request.user,
    )
    return {
        "slot_times": pol.slot_times,
        "window_minutes": pol.window_minutes,
        "fever_threshold": float(pol.fever_threshold),
    }


@router.get(
    "/ledgers/{name}",
    response={200: None, **ERRORS},
    summary="Export 重点人员台账 (key_persons), 隔离台账 (orders), 体温台账 (temperatures), 核酸台账 (samples)",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor) over `grid` (403 "
        "in sight without it, 404 out of sight, `grid_not_found`). The ledger of that subtree as .xlsx; ID "
        "numbers and phones are unmasked only where the caller also holds `unmask_pii`. Each export is audited "
        "(kind, row count, unmasked or not). No cascade."
    ),
)
def ledger_export(request, name: str, grid: str):
    node = grid_node_get(user=request.user, code=grid, capability=Capability.IMPORT_EXPORT)
    out, filename = ledgers.ledger_export(name=name, node=node, principal=request.user)
    return xlsx_response(out, filename)


@router.post(
    "/ledgers/{name}/jobs",
    response={202: JobOut, **ERRORS},
    summary="Export 重点人员台账, 隔离台账, 体温台账 or 核酸台账 as .xlsx in a background job (large areas)",
    description=(
        "Who may call: a user with `import_export` (held only with a verified second factor) over `grid` (403 "
        "in sight without it, 404 out of sight, `grid_not_found`; an unknown `name` 400 `ledger_unknown`). 202 "
        "with the job (`/api/v1/jobs/{id}`: follow it, cancel it); when it is `done`, its `download_url` serves "
        "the .xlsx to the caller alone until `result_expires_at` (then 410, and the sweep deletes the file). The "
        "same ledger as `GET /ledgers/{name}`: ID numbers unmasked only where the caller also holds `unmask_pii`. "
        "The export is audited when the job writes it (kind, row count, unmasked or not), and each download. "
        "No cascade."
    ),
)
def ledger_export_job(request, name: str, payload: GridJobIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.IMPORT_EXPORT)
    job = ledgers.ledger_export_start(name=name, node=node, principal=request.user)
    return job_accepted(job)
