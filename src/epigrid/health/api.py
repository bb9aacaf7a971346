import datetime as dt
import uuid

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from epigrid.core import access
from epigrid.core.api import ERRORS, ErrorOut, EventTime, PlanDate, page
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.tabular import read_upload
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors

from . import ledgers, selectors, services
from .choices import CaseStatus, Conclusion, ReportSource, SampleResult
from .models import Case, Sample, TemperatureReport, TestList

router = Router(tags=["health"])
public_router = Router(tags=["resident"])


class RowErrorOut(Schema):
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
    rows: list[RowErrorOut] = []


class ReadingIn(Schema):
    person_id: int
    value: float | str
    # Without an offset: Asia/Shanghai time. Bounded per row by the service (the batch's rows).
    measured_at: dt.datetime
    client_id: uuid.UUID


class BatchIn(Schema):
    readings: list[ReadingIn]


class BatchOut(Schema):
    stored: int
    duplicates: int
    fevers: int


@router.post(
    "/temperatures/batch",
    response={200: BatchOut, **ERRORS, 422: BatchErrorOut},
    summary="Record readings (offline devices resend safely: each client_id is stored once)",
)
def temperatures_batch(request, payload: BatchIn):
    if len(payload.readings) > 5000:
        raise DomainError("batch_too_large", _("At most 5000 readings per batch."), field="readings")
    result = services.temperature_reports_record(
        readings=[services.Reading(r.person_id, r.value, r.measured_at, r.client_id) for r in payload.readings],
        source=ReportSource.DEVICE,
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


@router.get("/temperatures", response={200: TemperaturePage, **ERRORS}, summary="Readings (体温台账)")
def temperature_list(
    request,
    person: int | None = None,
    date: dt.date | None = None,
    grid: str | None = None,
    fever: bool | None = None,
    limit: int = 100,
    offset: int = 0,
):
    rows = TemperatureReport.objects.restrict(request.user)
    if person:
        rows = rows.filter(person=people_selectors.person_get(user=request.user, pk=person))
    if grid:
        rows = rows.in_subtree(grid_node_get(user=request.user, code=grid).path)
    if date:
        rows = rows.filter(local_date=date)
    if fever is not None:
        rows = rows.filter(is_fever=fever)
    items, next_offset = page(rows.order_by("-measured_at", "-id"), limit=limit, offset=offset)
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
    }


class LinkOut(Schema):
    token: str
    url: str


@router.post(
    "/persons/{pk}/report-link",
    response={200: LinkOut, **ERRORS},
    summary="Issue the resident's personal report link (the old one stops working)",
)
def report_link_issue(request, pk: int):
    person = people_selectors.person_get(user=request.user, pk=pk, capability=Capability.RECORD_HEALTH)
    token = services.resident_link_issue(person=person, principal=request.user)
    return {"token": token, "url": request.build_absolute_uri(reverse("resident", args=[token]))}


class HealthCodeOut(Schema):
    colour: str
    label: str
    reasons: list[str]


@router.get("/persons/{pk}/health-code", response={200: HealthCodeOut, **ERRORS}, summary="健康码, with reasons")
def person_health_code(request, pk: int):
    person = people_selectors.person_get(user=request.user, pk=pk)
    access.log_read(request, "person.health_code", person, person.grid.path)
    code = selectors.health_code(person)
    return {"colour": code.colour, "label": str(code.label), "reasons": code.reasons}


class ResidentReportIn(Schema):
    value: float | str
    client_id: uuid.UUID | None = None


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
)
def resident_report(request, token: str, payload: ResidentReportIn):
    person = services.resident_link_person(token)
    if person is None:
        raise NotFound("link_not_found", _("This link is not valid any more."))
    return services.resident_report(person=person, value=payload.value, client_id=payload.client_id)


class TestListIn(Schema):
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


@router.get("/test-lists", response={200: list[TestListOut], **ERRORS}, summary="核酸检测名单")
def test_list_list(request):
    return [
        _test_list_out(t)
        for t in TestList.objects.restrict(request.user).select_related("grid").order_by("-test_date", "-id")[:200]
    ]


@router.post("/test-lists", response={201: TestListOut, **ERRORS})
def test_list_create(request, payload: TestListIn):
    grid = grid_node_get(user=request.user, code=payload.grid, capability=Capability.MANAGE_TESTS)
    persons = selectors.selection(grid=grid, selection=payload.selection, person_ids=payload.person_ids)
    test_list = services.test_list_create(
        name=payload.name, test_date=payload.test_date, grid=grid, persons=persons, principal=request.user
    )
    return Status(201, _test_list_out(test_list))


@router.get("/test-lists/{pk}", response={200: TestListOut, **ERRORS})
def test_list_detail(request, pk: int):
    return _test_list_out(selectors.test_list_get(user=request.user, pk=pk))


class SampleIn(Schema):
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


@router.post("/samples", response={201: SampleOut, **ERRORS}, summary="Record sampling (idempotent by specimen)")
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


@router.get("/samples", response={200: SamplePage, **ERRORS}, summary="Samples and results (核酸台账)")
def sample_list(
    request, person: int | None = None, result: SampleResult | None = None, limit: int = 100, offset: int = 0
):
    rows = Sample.objects.restrict(request.user)
    if person:
        rows = rows.filter(person=people_selectors.person_get(user=request.user, pk=person))
    if result:
        rows = rows.filter(result=result.value)
    items, next_offset = page(rows.order_by("-sampled_at", "-id"), limit=limit, offset=offset)
    return {"items": items, "next_offset": next_offset}


class ResultItemIn(Schema):
    specimen_number: str
    result: SampleResult
    result_at: EventTime
    lab: str = ""


class ResultsIn(Schema):
    results: list[ResultItemIn]


class ResultsOut(Schema):
    stored: int
    unchanged: int
    positive: int


@router.post(
    "/results/batch",
    response={200: ResultsOut, **ERRORS, 422: BatchErrorOut},
    summary="Results from the CDC or a lab (idempotent by specimen number)",
)
def results_batch(request, payload: ResultsIn):
    return services.results_record(
        results=[services.ResultIn(r.specimen_number, r.result.value, r.result_at, r.lab) for r in payload.results],
        principal=request.user,
    )


@router.post(
    "/results/import",
    response={200: ResultsOut, **ERRORS, 422: BatchErrorOut},
    summary="Import results from .xlsx (样本编号, 检测结果, 报告时间, 检测机构)",
)
def results_import(request, file: File[UploadedFile]):
    results = ledgers.read_results(read_upload(file), file.name or "results.xlsx")
    return services.results_record(results=results, principal=request.user)


class ConsultationIn(Schema):
    held_at: EventTime
    experts: str
    conclusion: Conclusion
    note: str = ""


class CaseOut(Schema):
    id: int
    person_id: int
    status: CaseStatus
    suspected_at: dt.datetime
    confirmed_at: dt.datetime | None


@router.get("/cases", response={200: list[CaseOut], **ERRORS})
def case_list(request):
    return list(Case.objects.restrict(request.user).order_by("-suspected_at")[:500])


@router.post(
    "/cases/{pk}/consultations",
    response={200: CaseOut, **ERRORS},
    summary="Record an expert consultation (专家会诊); confirmation needs one",
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
    case.refresh_from_db()
    return case


class PolicyOut(Schema):
    slot_times: list[str]
    window_minutes: int
    fever_threshold: float


@router.get("/monitoring-policy", response={200: PolicyOut, **ERRORS})
def policy_detail(request):
    pol = services.policy()
    return {
        "slot_times": pol.slot_times,
        "window_minutes": pol.window_minutes,
        "fever_threshold": float(pol.fever_threshold),
    }


@router.put("/monitoring-policy", response={200: PolicyOut, **ERRORS})
def policy_update(request, payload: PolicyOut):
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
)
def ledger_export(request, name: str, grid: str):
    node = grid_node_get(user=request.user, code=grid, capability=Capability.IMPORT_EXPORT)
    out, filename = ledgers.ledger_export(name=name, node=node, principal=request.user)
    return xlsx_response(out, filename)
