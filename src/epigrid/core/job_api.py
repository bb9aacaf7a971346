"""/api/v1/jobs: follow one's background jobs (a ledger import), and cancel them (core.jobs)."""

import datetime as dt

from django.http import FileResponse
from ninja import Router, Schema, Status

from . import jobs
from .api import ERRORS, ErrorOut, In, page
from .models import Job, JobStatus

router = Router(tags=["jobs"])


class JobOut(Schema):
    id: int
    kind: str
    status: str
    started_by: str
    params: dict
    rows_total: int | None
    rows_checked: int
    rows_written: int
    percent: int
    cancel_requested: bool
    result: dict  # done: the job's report (a ledger import: created/updated/unchanged/refused, rows by number)
    error: dict  # failed: code, message, messages (a refused ledger: rows, refused)
    # A job that made a file (an export): its download for the starter, until it expires.
    download_url: str | None
    result_expires_at: dt.datetime | None
    result_expired: bool
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @staticmethod
    def from_model(job: Job) -> dict:
        job = jobs.live(job)
        return {
            "id": job.pk,
            "kind": job.kind,
            "status": job.status,
            "started_by": job.created_by.username,
            "params": {k: v for k, v in job.params.items() if k != "second_factor"},
            "rows_total": job.rows_total,
            "rows_checked": job.rows_checked,
            "rows_written": job.rows_written,
            "percent": job.percent,
            "cancel_requested": job.cancel_requested_at is not None,
            "result": job.result,
            "error": job.error,
            "download_url": f"/api/v1/jobs/{job.pk}/download" if job.result_ready else None,
            "result_expires_at": job.result_expires_at,
            "result_expired": job.result_expired,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }


class GridJobIn(In):
    grid: str  # the grid's code: its subtree is exported


def job_accepted(job: Job) -> Status:
    """The 202 answer of an endpoint that started a job: the job, to follow at /api/v1/jobs/{id}."""
    return Status(202, JobOut.from_model(Job.objects.select_related("created_by").get(pk=job.pk)))


class JobPage(Schema):
    items: list[JobOut]
    next_offset: int | None
    total: int | None = None


WHO = (
    "Who may call: any signed-in user, for the jobs they started; a user who may read the audit log "
    "(`view_audit`: inspectors, the community secretary) also sees the jobs started over grids of their scope. "
)


@router.get(
    "/jobs",
    response={200: JobPage, **ERRORS},
    summary="Background jobs the caller may follow",
    description=WHO
    + "Newest first; `mine=true` only the caller's own; filter `status`; `next_offset` pages. Reads only: no cascade.",
)
def job_list(
    request,
    mine: bool = False,
    status: JobStatus | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = jobs.job_list(user=request.user, mine=mine)
    if status:
        rows = rows.filter(status=status)
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [JobOut.from_model(j) for j in items], "next_offset": next_offset, "total": total}


@router.get(
    "/jobs/{job_id}",
    response={200: JobOut, **ERRORS},
    summary="One background job: its progress, and its report or error when it ended",
    description=WHO + "Another user's job outside that is 404. Poll it until `status` is done, failed or cancelled: "
    "`rows_checked` and `rows_written` of `rows_total` while it runs (on SQLite the rows written show only at "
    "the end), then `result` (done) or `error` (failed). Reads only: no cascade.",
)
def job_get(request, job_id: int):
    return JobOut.from_model(jobs.job_get(user=request.user, pk=job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    response={200: JobOut, **ERRORS},
    summary="Cancel one's own background job",
    description=(
        "Who may call: the user who started the job (a reader of the audit log who sees another's job gets 403; "
        "anyone else 404). A queued job is cancelled at once; a running one stops at its next chunk of rows and "
        "writes nothing (`cancel_requested` until then). A job that has ended is 409 `job_finished`. Audited "
        "(`job.cancelled`). No cascade."
    ),
)
def job_cancel(request, job_id: int):
    job = jobs.job_cancel(job=jobs.job_get(user=request.user, pk=job_id), principal=request.user)
    return JobOut.from_model(job)


@router.get(
    "/jobs/{job_id}/download",
    response={200: None, 410: ErrorOut, **ERRORS},
    summary="Download the file one's background job made (an export)",
    description=(
        "Who may call: the user who started the job, only (anyone else, a reader of the audit log too, 404). "
        "A job that is not done or made no file is 404; a file past `result_expires_at` (or already deleted by "
        "the sweep) is 410 `job_result_expired`: run the export again. Each download is audited "
        "(`job.download`). No cascade."
    ),
)
def job_download(request, job_id: int):
    handle, file_name = jobs.job_result_open(user=request.user, pk=job_id)
    return FileResponse(handle, as_attachment=True, filename=file_name)
