"""The transactional outbox: hand-offs that cannot run inside the caller's transaction.

`enqueue` writes a message in the caller's transaction (so it exists exactly when the change
does) and asks a worker to drain the box after commit. `drain` runs each pending message's
handler as the system principal named in it, in its own transaction, and records the outcome;
a failed handler is retried by later drains (the sweep drains too), up to MAX_ATTEMPTS, after
which `epigrid reconcile` lists it and the coverage audit shows it as a gap.
Handlers are contributed through the "outbox_handlers" extension point: (topic, fn(payload, principal)).
"""

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import extensions
from .models import OutboxMessage
from .scoping import SystemPrincipal, user_of

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
DRAIN_TASK = "epigrid.drain_outbox"
LATE_AFTER = dt.timedelta(minutes=10)


def enqueue(*, topic: str, key: str, payload: dict, principal, grid_path: str = "") -> OutboxMessage:
    """Hand `payload` to the `topic` handler once the caller's transaction commits; the same
    (topic, key) again is the same hand-off and is not queued twice."""
    handlers()[topic]  # an unknown topic fails here, inside the caller's transaction
    name = principal.name if isinstance(principal, SystemPrincipal) else "system:outbox"
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                topic=topic,
                key=key[:128],
                grid_path=grid_path,
                payload=payload,
                principal=name,
                caused_by=user_of(principal),
            )
    except IntegrityError:
        return OutboxMessage.objects.get(topic=topic, key=key[:128])
    transaction.on_commit(_kick)
    return message


def _kick() -> None:
    """Ask a worker to drain now; without a broker the next sweep or `reconcile` drains."""
    from django.conf import settings

    if getattr(settings, "OUTBOX_DRAIN_INLINE", False):
        drain()
        return
    from celery import current_app

    try:
        current_app.send_task(DRAIN_TASK)  # by name: core does not import the app that defines it
    except Exception:  # the broker is down: the periodic sweep drains the box
        log.warning("outbox: could not reach the broker; the next sweep drains the box")


def handlers() -> dict:
    return dict(extensions.get("outbox_handlers"))


def pending(*, late_only: bool = False):
    queryset = OutboxMessage.objects.filter(done_at__isnull=True)
    if late_only:
        queryset = queryset.filter(created_at__lt=timezone.now() - LATE_AFTER)
    return queryset.order_by("id")


def drain(*, limit: int = 500, include_exhausted: bool = False) -> int:
    """Run pending hand-offs; returns how many finished."""
    done = 0
    table = handlers()
    candidates = pending()
    if not include_exhausted:
        candidates = candidates.filter(attempts__lt=MAX_ATTEMPTS)
    for message_id in list(candidates.values_list("id", flat=True)[:limit]):
        with transaction.atomic():
            message = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pk=message_id, done_at__isnull=True)
                .first()
            )
            if message is None:
                continue
            principal = SystemPrincipal(message.principal, _capabilities(message.topic), on_behalf_of=message.caused_by)
            try:
                with transaction.atomic():
                    table[message.topic](message.payload, principal)
            except Exception as exc:  # recorded on the message, retried by the next drain
                log.exception("outbox %s failed", message)
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                message.save(update_fields=["attempts", "last_error"])
                continue
            message.attempts += 1
            message.done_at = timezone.now()
            message.last_error = ""
            message.save(update_fields=["attempts", "done_at", "last_error"])
            done += 1
    return done


def _capabilities(topic: str) -> frozenset:
    handler = handlers()[topic]
    return frozenset(getattr(handler, "capabilities", ()))
