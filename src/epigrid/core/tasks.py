"""Celery tasks of core."""

from celery import shared_task
from django.conf import settings

from . import health, partitions


@shared_task(name="epigrid.heartbeat", ignore_result=True)
def heartbeat() -> float:
    """Run on beat's schedule (settings.CELERY_BEAT_SCHEDULE["heartbeat"]): the stamp /readyz reads."""
    return health.stamp_heartbeat()


@shared_task(name="epigrid.partitions_ensure", ignore_result=True)
def partitions_ensure() -> list[str]:
    """Daily (settings.CELERY_BEAT_SCHEDULE["partitions"]): the coming months' partitions of the
    partitioned tables (PostgreSQL; nothing elsewhere)."""
    return partitions.partitions_ensure(months_ahead=settings.PARTITIONS_MONTHS_AHEAD)
