"""The periodic sweeps, in one place: missed temperature slots, alert escalation, release
proposals. Run by Celery beat in production, by `epigrid sweep` on demand, and by a thread in
the demo server."""

import datetime as dt

from django.utils import timezone

from epigrid.alerts.services import alerts_escalate_due
from epigrid.control.services import control_orders_propose_release

from .services import missed_slots_sweep

# Apps that depend on this one add their own sweeps (name, fn(now=...) -> count).
SWEEPS = [
    ("missed_slot_alerts", missed_slots_sweep),
    ("releases_proposed", control_orders_propose_release),
]


def register_sweep(name: str, fn) -> None:
    SWEEPS.append((name, fn))


def sweep_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {name: fn(now=now) for name, fn in SWEEPS}
    # Escalation last, so alerts raised in this run get their full deadline.
    counts["escalated_alerts"] = alerts_escalate_due(now=now)
    return counts
