"""The periodic sweeps, in one place: missed temperature slots, alert escalation, release
proposals. Run by Celery beat in production, by `epigrid sweep` on demand, and by a thread in
the demo server."""

import datetime as dt

from django.utils import timezone

from epigrid.alerts.services import alerts_escalate_due
from epigrid.control.services import control_orders_propose_release

from .services import missed_slots_sweep


def sweep_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "missed_slot_alerts": missed_slots_sweep(now=now),
        "escalated_alerts": alerts_escalate_due(now=now),
        "releases_proposed": control_orders_propose_release(now=now),
    }
