from celery import shared_task

from .sweeps import sweep_all


@shared_task(name="epigrid.sweep")
def sweep() -> dict[str, int]:
    return sweep_all()
