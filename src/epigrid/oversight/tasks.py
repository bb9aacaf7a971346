"""Celery tasks: thin wrappers around one service each."""

from celery import shared_task

from epigrid.core import audit, jobs, outbox

from .retention import purge_scheduled
from .sweeps import sweep_all


@shared_task(name="epigrid.sweep")
def sweep() -> dict[str, int]:
    return sweep_all()


@shared_task(name="epigrid.drain_outbox", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def drain_outbox() -> int:
    return outbox.drain()


@shared_task(name="epigrid.audit_anchor")
def audit_anchor() -> int:
    return audit.anchor()["id"]


@shared_task(name="epigrid.run_job")
def run_job(job_id: int) -> str | None:
    job = jobs.run(job_id)
    return job.status if job else None


@shared_task(name="epigrid.purge")
def purge() -> dict[str, int] | None:
    """The daily retention purge; does nothing unless settings.RETENTION_PURGE_ENABLED."""
    return purge_scheduled()
