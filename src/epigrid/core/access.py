"""查阅记录: who opened whose file, when and from where (docs/architecture.md "Audit").

The audit log keeps every change in its hash chain; reads are many more and need less: each read
of a person's or a household's file is one plain INSERT into `AccessEvent`, with the object's id
and nothing of its content (no name, number, phone or query string). Lists are not file reads
and are not logged; exports and downloads are changes of custody and go to the audit chain
(`ledger.export`).

Rows are append-only (triggers, core migration 0006); they are kept settings.ACCESS_LOG_DAYS (at
least six months) and then deleted, set-based, by `access_log_purge` in the sweep, which the
audit chain records.
"""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit
from .capabilities import Capability
from .context import current_origin
from .models import AccessEvent
from .scoping import SystemPrincipal, user_of

ACTION_LABELS = {
    "person.read": _("Opened the person file"),
    "person.timeline": _("Read the person's timeline"),
    "person.health_code": _("Read the health code"),
    "household.read": _("Opened the household file"),
    "household.passages": _("Read the household's passages at the gates"),
    "photo.read": _("Viewed a photo"),
    "access_log.purge": _("File reads older than the retention deleted"),
}
RETENTION = SystemPrincipal("system:access-log-retention", ())


def log_read(request_or_user, action: str, obj, grid_path: str) -> AccessEvent:
    """Record that the user of `request_or_user` (a request, a user or a principal) read `obj`
    (a person, a household…) at `grid_path`. The request's address and id come from the request
    context (core.middleware)."""
    principal = request_or_user.user if hasattr(request_or_user, "META") else request_or_user
    if action not in ACTION_LABELS:
        raise ValueError(f"unknown access action {action!r}")
    origin = current_origin()
    user = user_of(principal)
    return AccessEvent.objects.create(
        at=timezone.now(),
        actor=user,
        actor_label=(principal.name if isinstance(principal, SystemPrincipal) else principal.get_username())[:150],
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        grid_path=grid_path,
        remote_addr=origin.remote_addr,
        request_id=origin.request_id,
        channel=origin.channel,
    )


def access_list(*, user, object_type: str = "", object_id="", actor: str = ""):
    """The reads `user` may see (where they hold VIEW_AUDIT), newest first; by object or reader."""
    rows = AccessEvent.objects.restrict(user, Capability.VIEW_AUDIT)
    if object_type:
        rows = rows.filter(object_type=object_type, object_id=str(object_id))
    if actor:
        rows = rows.filter(actor_label=actor)
    return rows.order_by("-at", "-id")


def access_log_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the reads older than the retention, in one statement; the audit chain records how
    many and up to when. Measured against the real clock: a sweep run for a simulated time ahead
    (`epigrid sweep --at`) never shortens the retention."""
    reference = min(now or timezone.now(), timezone.now())
    before = reference - dt.timedelta(days=settings.ACCESS_LOG_DAYS)
    with transaction.atomic():
        deleted, _per_model = AccessEvent.objects.filter(at__lt=before).delete()
        if deleted:
            audit.record(
                principal=RETENTION,
                action="access_log.purge",
                object_type="core.accessevent",
                changes={"deleted": [None, deleted], "before": [None, before.isoformat()]},
            )
    return deleted


PURGE_SWEEP = ("access_log_purge", access_log_purge)
