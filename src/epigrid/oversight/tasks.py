"""Celery tasks: thin wrappers around one service each."""

from celery import shared_task

from epigrid.core import audit, outbox

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
