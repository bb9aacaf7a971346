"""The control and monitoring ledgers (重点人员台账, 隔离台账, 体温台账, 核酸台账) as .xlsx, and the
import of lab results."""

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.permissions import job_start_for, job_user
from epigrid.control.models import ControlOrder, KeyPerson
from epigrid.core import jobs
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.replica import from_replica
from epigrid.core.scoping import allows, authorize
from epigrid.core.tabular import check_size
from epigrid.core.xlsx import write_ledger
from epigrid.people import ledgers as people_ledgers
from epigrid.people.ledgers import LedgerExport, counted_rows, export_recorded, iter_rows

from .choices import SampleResult
from .models import Sample, TemperatureReport
from .services import ResultIn, results_record

RESULT_LABELS = {
    "阴性": SampleResult.NEGATIVE,
    "阳性": SampleResult.POSITIVE,
    "negative": SampleResult.NEGATIVE,
    "positive": SampleResult.POSITIVE,
}
RESULT_HEADERS = ["样本编号", "检测结果", "报告时间", "检测机构"]


def _local(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _identity(person, reveal: bool) -> str:
    return unseal(person.id_number_sealed) if reveal else person.id_number_masked


def _key_persons(node, reveal):
    rows = (
        KeyPerson.objects.in_subtree(node.path)
        .select_related("person", "grid", "tip__risk_area")
        .order_by("tip__reported_at", "id")
    )
    for kp in rows.iterator(chunk_size=2000):
        minutes = (kp.controlled_at - kp.tip.reported_at).total_seconds() / 60 if kp.controlled_at else None
        yield [
            kp.person.name,
            _identity(kp.person, reveal),
            kp.grid.name,
            kp.tip.origin_name,
            "是" if kp.tip.risk_area_id else "否",
            kp.tip.get_travel_mode_display(),
            _local(kp.tip.reported_at),
            kp.tip.reporter,
            _local(kp.tip.expected_arrival_at),
            kp.get_status_display(),
            _local(kp.controlled_at),
            f"{minutes:.0f}" if minutes is not None else "",
        ]


def _orders(node, reveal):
    rows = ControlOrder.objects.in_subtree(node.path).select_related("person", "grid").order_by("starts_at", "id")
    for o in rows.iterator(chunk_size=2000):
        yield [
            o.person.name,
            _identity(o.person, reveal),
            o.grid.name,
            o.get_kind_display(),
            o.get_reason_display(),
            o.site,
            o.transport,
            _local(o.starts_at),
            _local(o.last_exposure_at),
            str(o.days),
            _local(o.ends_at),
            o.get_status_display(),
            _local(o.released_at),
        ]


def _temperatures(node, reveal):
    rows = (
        TemperatureReport.objects.in_subtree(node.path)
        .select_related("person", "grid")
        .order_by("local_date", "slot", "person_id")
    )
    for r in rows.iterator(chunk_size=5000):
        yield [
            r.person.name,
            _identity(r.person, reveal),
            r.grid.name,
            r.local_date.isoformat(),
            "" if r.slot is None else str(r.slot + 1),
            f"{r.value}",
            "是" if r.is_fever else "否",
            r.get_source_display(),
            _local(r.measured_at),
            _local(r.received_at),
        ]


def _samples(node, reveal):
    rows = (
        Sample.objects.in_subtree(node.path).select_related("person", "grid", "test_list").order_by("sampled_at", "id")
    )
    for s in rows.iterator(chunk_size=2000):
        yield [
            s.specimen_number,
            s.person.name,
            _identity(s.person, reveal),
            s.grid.name,
            s.test_list.name if s.test_list_id else "",
            _local(s.sampled_at),
            s.get_result_display(),
            _local(s.result_at),
            s.lab,
        ]


LEDGERS = {
    "key_persons": (
        "重点人员台账",
        [
            "姓名",
            "身份证号码",
            "网格",
            "来源地",
            "风险地区",
            "出行方式",
            "报告时间",
            "报告人",
            "预计到达",
            "状态",
            "管控时间",
            "报告到管控(分钟)",
        ],
        _key_persons,
    ),
    "orders": (
        "隔离台账",
        [
            "姓名",
            "身份证号码",
            "网格",
            "管控措施",
            "原因",
            "地点",
            "转运方式",
            "开始",
            "末次暴露",
            "天数",
            "期满",
            "状态",
            "解除时间",
        ],
        _orders,
    ),
    "temperatures": (
        "体温台账",
        ["姓名", "身份证号码", "网格", "日期", "时段", "体温", "发热", "来源", "测量时间", "上报时间"],
        _temperatures,
    ),
    "samples": (
        "核酸台账",
        ["样本编号", "姓名", "身份证号码", "网格", "名单", "采样时间", "结果", "报告时间", "检测机构"],
        _samples,
    ),
}


# How many rows each ledger has (one count query): the export job's page shows how far it is.
COUNTS = {
    "key_persons": lambda node: KeyPerson.objects.in_subtree(node.path).count(),
    "orders": lambda node: ControlOrder.objects.in_subtree(node.path).count(),
    "temperatures": lambda node: TemperatureReport.objects.in_subtree(node.path).count(),
    "samples": lambda node: Sample.objects.in_subtree(node.path).count(),
}


@from_replica  # the rows are read on the replica when one is configured and fresh (core/replica.py)
def ledger_export(*, name: str, node, principal, progress=None):
    """The ledger of `node`'s subtree; callers load the node with get_for(IMPORT_EXPORT), and the
    export checks the right once more at its entry, like a service (404 outside the area, else 403).
    With `progress` (the export job, people.ledgers `ledger_export`) its rows are reported."""
    out, filename, _count = _ledger_write(kind=name, node=node, principal=principal, progress=progress)
    return out, filename


def _ledger_write(*, kind: str, node, principal, progress=None):
    if kind not in LEDGERS:
        raise DomainError("ledger_unknown", _("Unknown ledger."), field="name")
    authorize(principal, Capability.IMPORT_EXPORT, node.path)
    reveal = allows(principal, Capability.UNMASK_PII, node.path)
    title, headers, rows = LEDGERS[kind]
    rows = counted_rows(rows(node, reveal), progress, COUNTS[kind](node) if progress is not None else None)
    out, count = write_ledger(sheet_name=title, headers=headers, rows=rows, wide={1, 2})
    filename = export_recorded(principal=principal, node=node, kind=kind, sheet=title, rows=count, reveal=reveal)
    return out, filename, count


def ledger_export_start(*, name: str, node, principal):
    """The ledger of `node`'s subtree written by the export job (people.ledgers, the residents'
    ledger's): refused now (404/403) where the caller may not export; its page follows it."""
    if name not in LEDGERS:
        raise DomainError("ledger_unknown", _("Unknown ledger."), field="name")
    return people_ledgers.ledger_export_start(kind=name, node=node, principal=principal)


# Contributed to "ledger_exports" (health.apps): the export job writes them too (large subtrees).
LEDGER_EXPORTS = [
    LedgerExport("key_persons", _("Key persons"), _ledger_write),
    LedgerExport("orders", _("Control orders"), _ledger_write),
    LedgerExport("temperatures", _("Temperatures"), _ledger_write),
    LedgerExport("samples", _("Nucleic-acid tests"), _ledger_write),
]


def _result_positions(header: list[str] | None) -> dict[str, int]:
    if header is None:
        raise DomainError("file_empty", _("The file is empty."))
    positions = {h.strip(): i for i, h in enumerate(header)}
    missing = [h for h in RESULT_HEADERS[:3] if h not in positions]
    if missing:
        raise DomainError(
            "header_missing",
            _("The first row must hold the column headers; missing: %(columns)s."),
            params={"columns": "、".join(missing)},
        )
    return positions


def read_results(data: bytes, file_name: str) -> list[ResultIn]:
    """Lab results from .xlsx/.csv; every bad row is listed and nothing is stored if one is bad."""
    rows = iter_rows(data, file_name)
    positions = _result_positions(next(rows, None))
    results, errors = [], []
    for number, cells in enumerate(rows, start=2):
        if not any(cells):
            continue

        def cell(name, cells=cells):
            i = positions.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        result = RESULT_LABELS.get(cell("检测结果").lower())
        try:
            at = dt.datetime.fromisoformat(cell("报告时间").replace("/", "-"))
            at = timezone.make_aware(at) if timezone.is_naive(at) else at
        except ValueError:
            errors.append(
                {
                    "row": number,
                    "field": "报告时间",
                    "code": "time_invalid",
                    "message": str(_("Write the time as 2020-02-06 10:00.")),
                }
            )
            continue
        if result is None:
            errors.append(
                {
                    "row": number,
                    "field": "检测结果",
                    "code": "result_invalid",
                    "message": str(_("The result is 阴性 or 阳性.")),
                }
            )
            continue
        if not cell("样本编号"):
            errors.append(
                {
                    "row": number,
                    "field": "样本编号",
                    "code": "specimen_required",
                    "message": str(_("Give the specimen number.")),
                }
            )
            continue
        results.append(ResultIn(cell("样本编号"), result, at, cell("检测机构")))
    if errors:
        raise RowErrors("results_rejected", _("Some results are not valid; none were stored."), rows=errors)
    return results


# ---------------------------------------------------------------- results as a background job

RESULTS_JOB = "results_import"


def results_import_check(*, data: bytes, file_name: str, principal) -> None:
    """What refuses a results file at the request (4xx): the right, the file's type and size,
    and the file read through — an unreadable file or a badly written row (a lab's file is a
    few thousand rows: reading it is quick; matching the specimens and storing is the job's)."""
    authorize(principal, Capability.MANAGE_TESTS)
    if not (file_name or "").lower().endswith((".xlsx", ".csv")):
        raise DomainError("file_type", _("Upload an .xlsx (or .csv) file."), field="file")
    check_size(len(data))
    read_results(data, file_name)


def results_import_start(*, data: bytes, file_name: str, principal):
    """Queue a results file as a background job (core.jobs): its page follows it; a positive
    result's cascade (suspected case, urgent alert) runs in the job, as the uploader."""
    results_import_check(data=data, file_name=file_name, principal=principal)
    return job_start_for(
        kind=RESULTS_JOB,
        principal=principal,
        capability=Capability.MANAGE_TESTS,
        params={"file_name": (file_name or "")[:200]},
        data=data,
        file_name=file_name,
    )


def _run_results_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    with job.upload.open("rb") as fh:
        data = fh.read()
    results = read_results(data, job.params["file_name"])
    progress.total(len(results))
    counts = results_record(results=results, principal=principal)
    progress.step(checked=len(results), written=counts["stored"])
    return counts


# Contributed to "job_kinds" (health.apps).
RESULTS_JOB_KIND = jobs.JobKind(RESULTS_JOB, _("Test results import"), _run_results_job, "health/results_report.html")
