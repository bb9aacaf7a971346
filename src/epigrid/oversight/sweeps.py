"""The periodic sweeps, in one place: every app's "sweeps" contributions (missed temperature
slots, release proposals, service tasks…), then the outbox, then alert escalation. Run by
Celery beat in production, by `epigrid sweep` on demand, and by a thread in the demo server."""

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from epigrid.alerts.services import alerts_escalate_due
from epigrid.core import extensions, outbox

log = logging.getLogger(__name__)


def sweep_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Each sweep runs in its own transaction: one that fails is logged and counted as -1, and
    the others still run (a broken rule must not stop alert escalation)."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    steps = [*extensions.get("sweeps"), ("outbox", lambda now: outbox.drain())]
    # Escalation last, so alerts raised in this run get their full deadline.
    steps.append(("escalated_alerts", alerts_escalate_due))
    for name, step in steps:
        try:
            with transaction.atomic():
                counts[name] = step(now=now)
        except Exception:
            log.exception("sweep %s failed", name)
            counts[name] = -1
    return counts
