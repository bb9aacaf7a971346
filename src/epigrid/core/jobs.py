"""Background jobs (后台任务): heavy work off the request, followed on its page and through the API.

`job_start` writes a `Job` (queued) in the caller's transaction, with the uploaded file in private
storage, and after the commit hands it to the runner `settings.JOBS_RUNNER` names:

- `celery`: the task `epigrid.run_job` (asked for by name: core does not import the app that
  defines it, as the outbox does); a worker runs it;
- `thread`: a thread of the same process (the demo server), the same code;
- `inline`: at once, in the caller's thread and transaction (tests).

`run(job_id)` moves the job to running, calls its kind's `run(job, progress)` (a `JobKind` on the
"job_kinds" extension point), and moves it to done with the result, failed with the error
(a DomainError's dict: code, bilingual message, and a ledger's rows) or cancelled. The file is
deleted once the job has ended.

**A result file** (an export made in the background): the kind's runner hands it to `result_keep`;
it is kept on the job when the job ends done (deleted else), downloaded by its starter alone
(`job_result_open`: anyone else 404, even a reader of the audit log; each download audited), until
`result_expires_at` (settings.JOB_RESULT_HOURS); then it is refused as expired (410) and the sweep
deletes it (`jobs_results_expire`: personal data). Every move goes through `core.transitions.move`, audited as
`system:jobs` on behalf of the starter (`job.running`, `job.done`, …).

**Progress** (`Progress.step(checked=, written=)`, called by the work between its chunks) is
written to the job row in its own short transaction, on a connection of its own, so a reader sees
it while the work's transaction is still open (PostgreSQL). On SQLite one writer holds the whole
database while the work's transaction is open: the row can only be written at the end, so the
progress is also kept in the cache (in the demo's single process the page reads it from there;
with a Redis cache a worker's progress is seen by every web process).

**Cancel** (`job_cancel`): a queued job is cancelled at once; a running one gets a flag (in the
cache first, then on the row) that `Progress.step` checks between chunks and answers by raising
`Cancelled`: the work's transaction rolls back, nothing of it is written.
"""

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile, File
from django.db import close_old_connections, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit, extensions, replica
from .errors import Conflict, DomainError, Forbidden, Gone, NotFound
from .models import Job, JobStatus
from .scoping import SystemPrincipal, user_of
from .transitions import move

log = logging.getLogger(__name__)
RUN_TASK = "epigrid.run_job"
ACTION_LABELS = {
    "job.running": _("Background job started"),
    "job.done": _("Background job done"),
    "job.failed": _("Background job failed"),
    "job.cancelled": _("Background job cancelled"),
    "job.download": _("Background job's file downloaded"),
    "job.results_expired": _("Expired files of background jobs deleted"),
}
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class JobKind:
    """A kind of job: `run(job, progress) -> result dict` (raises DomainError to fail, with
    nothing written); `template` shows the result on the job page; `makes_file`: the job ends
    with a file to download (`result_keep`)."""

    name: str
    label: object
    run: object
    template: str = ""
    makes_file: bool = False


class Cancelled(Exception):
    """Raised by Progress.step when the job's cancel was asked for: the work rolls back."""


def kinds() -> dict[str, JobKind]:
    return {kind.name: kind for kind in extensions.get("job_kinds")}


def _principal(job: Job) -> SystemPrincipal:
    return SystemPrincipal("system:jobs", (), on_behalf_of=job.created_by)


# ---------------------------------------------------------------- starting


def job_start(
    *, kind: str, principal, params: dict, grid_path: str = "", data: bytes | None = None, file_name: str = "upload"
) -> Job:
    """Queue a job for `principal` (a user: the job is theirs); it runs after the commit."""
    if kind not in kinds():
        raise DomainError("job_kind", _("Unknown kind of job."))
    user = user_of(principal)
    if user is None:
        raise Forbidden("forbidden", _("Your role does not allow this here."))
    job = Job(kind=kind, params=params, created_by=user, grid_path=grid_path)
    if data is not None:
        job.upload.save(file_name.rsplit("/", 1)[-1][-100:] or "upload", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            job.save()
    except BaseException:
        if job.upload:
            job.upload.delete(save=False)  # personal data: no file without its job
        raise
    if getattr(settings, "JOBS_RUNNER", "thread") == "inline":
        # Tests: at once, inside whatever transaction the caller is in (a test's never commits).
        return run(job.pk) or job
    transaction.on_commit(lambda: dispatch(job.pk))
    return job


def dispatch(job_id: int) -> None:
    runner = getattr(settings, "JOBS_RUNNER", "thread")
    if runner == "inline":
        run(job_id)
    elif runner == "thread":
        threading.Thread(target=_run_in_thread, args=(job_id,), name=f"job-{job_id}", daemon=True).start()
    else:
        from celery import current_app

        try:
            current_app.send_task(RUN_TASK, args=[job_id])
        except Exception:  # the broker is down: the job stays queued, its page says so
            log.warning("jobs: could not reach the broker; job %s stays queued", job_id)


def _run_in_thread(job_id: int) -> None:
    close_old_connections()
    try:
        run(job_id)
    finally:
        connections.close_all()  # this thread's connections only


# ---------------------------------------------------------------- running


class Progress:
    """What the work reports between its chunks; also where it learns of a cancel."""

    def __init__(self, job: Job):
        self.job = job
        self.checked = 0
        self.written = 0

    def total(self, rows: int) -> None:
        self.job.rows_total = rows
        self._publish(rows_total=rows)

    def step(self, *, checked: int, written: int) -> None:
        self.checked, self.written = checked, written
        self._publish(rows_checked=checked, rows_written=written)
        if cancel_requested(self.job.pk):
            raise Cancelled

    def _publish(self, **values) -> None:
        key = _progress_key(self.job.pk)
        cache.set(key, {**(cache.get(key) or {}), **values}, CACHE_SECONDS)
        _write_apart(self.job.pk, values)


def _write_apart(job_id: int, values: dict) -> None:
    """Write `values` on the running job in a short transaction of its own: directly when the
    caller has none open; else on another connection (another thread's), except on SQLite, where
    that connection would wait for the caller's transaction to end (the cache has it meanwhile)."""
    update = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING)
    if not connection.in_atomic_block:
        update.update(**values)
        return
    if connection.vendor == "sqlite":
        return

    def write():
        try:
            Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**values)
        except Exception:  # progress is advisory: the work goes on
            log.exception("jobs: progress of job %s not written", job_id)
        finally:
            connections.close_all()

    writer = threading.Thread(target=write, name=f"job-{job_id}-progress")
    writer.start()
    writer.join(timeout=10)


def cancel_requested(job_id: int) -> bool:
    if cache.get(_cancel_key(job_id)):
        return True
    # On PostgreSQL (read committed) a cancel committed meanwhile is seen from inside the work's
    # transaction; on SQLite the cancel could not have committed while the work writes. On the
    # primary even while an export reads the replica (core.replica): a cancel stops it at once.
    with replica.on_primary():
        return Job.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


def run(job_id: int) -> Job | None:
    """Run one queued job to its end (a job already running or ended is left alone)."""
    with transaction.atomic():
        # Locked while it is taken: a job handed out twice (a sweep re-dispatching it, a task
        # delivered again) runs once; the second finds it no longer queued.
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.QUEUED:
            return job
        system = _principal(job)
        if cancel_requested(job.pk):
            return _end(job, JobStatus.CANCELLED, system)
        job = move(job, JobStatus.RUNNING, principal=system)
    kind = kinds().get(job.kind)
    progress = Progress(job)
    try:
        if kind is None:
            raise DomainError("job_kind", _("Unknown kind of job."))
        result = kind.run(job, progress)
    except Cancelled:
        return _end(job, JobStatus.CANCELLED, system, progress=progress)
    except DomainError as exc:
        return _end(job, JobStatus.FAILED, system, progress=progress, error=_error(exc))
    except Exception as exc:
        log.exception("job %s failed", job.pk)
        error = DomainError("job_crashed", _("The job stopped on an unexpected error; nothing was written."))
        return _end(
            job, JobStatus.FAILED, system, progress=progress, error={**error.as_dict(), "detail": type(exc).__name__}
        )
    return _end(job, JobStatus.DONE, system, progress=progress, result=result or {})


QUEUED_LATE = dt.timedelta(minutes=2)


def jobs_redispatch(*, now: dt.datetime | None = None) -> int:
    """Hand out again the jobs still queued after QUEUED_LATE (the broker was down, the demo
    server restarted before its thread took them); `run` takes each once. Sweep step."""
    late = Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=(now or timezone.now()) - QUEUED_LATE)
    ids = list(late.order_by("id").values_list("id", flat=True)[:100])
    for job_id in ids:
        dispatch(job_id)
    return len(ids)


REDISPATCH_SWEEP = ("jobs_redispatched", jobs_redispatch)


# ---------------------------------------------------------------- the result file


def result_keep(job: Job, content, file_name: str) -> None:
    """Called by a kind's runner: keep `content` (a file object) as the job's download under
    `file_name`; it is saved on the job when the job ends done, deleted if it does not."""
    content.seek(0)
    job.result_file.save(file_name.rsplit("/", 1)[-1][-100:] or "result", File(content), save=False)
    job.result_expires_at = timezone.now() + dt.timedelta(hours=getattr(settings, "JOB_RESULT_HOURS", 24))


def job_result_open(*, user, pk):
    """The job's file, opened, and its name, for the user who started the job: anyone else, and a
    job without a file, 404; a file past its time (or already deleted by the sweep) 410. Each
    download is audited (`job.download`, like the export it carries)."""
    try:
        job = Job.objects.filter(pk=pk, created_by_id=getattr(user, "pk", None)).first()
    except (ValueError, TypeError):
        job = None
    if job is None or job.status != JobStatus.DONE or job.result_expires_at is None:
        raise NotFound("not_found", _("Not found."))
    if job.result_expired:
        raise _expired()
    try:
        handle = job.result_file.open("rb")
    except FileNotFoundError:
        raise _expired() from None
    audit.record(
        principal=user,
        action="job.download",
        object_type="core.job",
        object_id=str(job.pk),
        grid_path=job.grid_path,
        changes={"kind": [None, job.kind]},
    )
    return handle, job.result.get("file_name") or job.result_file.name.rsplit("/", 1)[-1]


def _expired() -> Gone:
    return Gone(
        "job_result_expired",
        _("This file has expired and was deleted (it holds personal data): run the export again."),
    )


def jobs_results_expire(*, now: dt.datetime | None = None) -> int:
    """Delete the files of jobs past their time (personal data); the job keeps its expiry, so its
    page and download say the file expired. Sweep step."""
    now = now or timezone.now()
    expired = list(Job.objects.filter(result_expires_at__lte=now).exclude(result_file="").order_by("id")[:500])
    for job in expired:
        job.result_file.delete(save=False)
    if expired:
        Job.objects.filter(pk__in=[job.pk for job in expired]).update(result_file="")
        audit.record(
            principal=SystemPrincipal("system:jobs", ()),
            action="job.results_expired",
            object_type="core.job",
            changes={"files": [None, len(expired)]},
        )
    return len(expired)


RESULTS_SWEEP = ("job_results_expired", jobs_results_expire)


def _error(exc: DomainError) -> dict:
    return exc.as_dict()


def _end(job: Job, status: str, system, *, progress: Progress | None = None, result=None, error=None) -> Job:
    fields = {"result": result or {}, "error": error or {}}
    if progress is not None:
        fields.update(rows_checked=progress.checked, rows_written=progress.written)
        if status != JobStatus.DONE:
            fields["rows_written"] = 0  # rolled back: nothing of it stayed
        if job.rows_total is not None:
            fields["rows_total"] = job.rows_total
    if status == JobStatus.DONE and job.result_file:
        fields.update(result_file=job.result_file.name, result_expires_at=job.result_expires_at)
    elif job.result_file:
        job.result_file.delete(save=False)  # rolled back: no file without its work
        job.result_expires_at = None
    changes = {"kind": [None, job.kind]}
    if error:
        changes["error"] = [None, error.get("code")]
    job = move(job, status, principal=system, fields=fields, changes=changes)
    if job.upload:
        job.upload.delete(save=True)  # personal data: kept only while the job needs it
    cache.delete_many([_progress_key(job.pk), _cancel_key(job.pk)])
    return job


def _progress_key(job_id: int) -> str:
    return f"job:{job_id}:progress"


def _cancel_key(job_id: int) -> str:
    return f"job:{job_id}:cancel"


# ---------------------------------------------------------------- following, cancelling


def job_list(*, user, mine: bool = False):
    jobs = Job.objects.visible_to(user)
    if mine:
        jobs = jobs.filter(created_by_id=user.pk)
    return jobs.select_related("created_by").order_by("-created_at", "-id")


def job_get(*, user, pk) -> Job:
    try:
        job = job_list(user=user).filter(pk=pk).first()
    except (ValueError, TypeError):
        job = None
    if job is None:
        raise NotFound("not_found", _("Not found."))
    return live(job)


def live(job: Job) -> Job:
    """The job with the progress its runner published in the cache, when ahead of the row (a
    running job on SQLite writes its row only at the end)."""
    if job.status == JobStatus.RUNNING:
        published = cache.get(_progress_key(job.pk)) or {}
        for name in ("rows_total", "rows_checked", "rows_written"):
            value = published.get(name)
            if value is not None and (getattr(job, name) or 0) < value:
                setattr(job, name, value)
    return job


def may_cancel(user, job: Job) -> bool:
    return not job.finished and job.created_by_id == getattr(user, "pk", None)


def job_cancel(*, job: Job, principal) -> Job:
    """Cancel one's own job: a queued one at once, a running one at its next chunk (its work rolls
    back). Another's job, seen by a reader of the audit log, is 403; an ended one 409."""
    if job.created_by_id != getattr(user_of(principal), "pk", None):
        raise Forbidden("forbidden", _("Only who started a job may cancel it."))
    if job.finished:
        raise _finished()
    cache.set(_cancel_key(job.pk), True, CACHE_SECONDS)  # seen at once by a runner inside its transaction
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.finished:
            raise _finished()
        if locked.status == JobStatus.QUEUED:
            locked = move(
                locked, JobStatus.CANCELLED, principal=principal, fields={"cancel_requested_at": timezone.now()}
            )
            if locked.upload:
                locked.upload.delete(save=True)
            return locked
        Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
        locked.cancel_requested_at = timezone.now()
    return locked


def _finished() -> Conflict:
    return Conflict("job_finished", _("This job has already ended."))
