"""Celery tasks of core."""

from celery import shared_task

from . import health


@shared_task(name="epigrid.heartbeat", ignore_result=True)
def heartbeat() -> float:
    """Run on beat's schedule (settings.CELERY_BEAT_SCHEDULE["heartbeat"]): the stamp /readyz reads."""
    return health.stamp_heartbeat()
