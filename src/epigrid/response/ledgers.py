"""The incident's timeline (every audited step of the response) as an .xlsx ledger."""

from django.utils import timezone

from epigrid.core import audit, shred
from epigrid.core.capabilities import Capability
from epigrid.core.models import AuditEvent
from epigrid.core.scoping import authorize, subtree_q
from epigrid.core.xlsx import write_ledger

from .models import Activation

TIMELINE_SHEET = "应急处置时间线"
TIMELINE_HEADERS = ["时间", "人员", "动作", "对象", "编号", "内容"]


def _opened(events, chunk: int = 2000):
    """(event, its changes with the values sealed per person opened), one key lookup a chunk."""
    batch = []
    for event in events:
        batch.append(event)
        if len(batch) == chunk:
            yield from zip(batch, shred.open_many(e.changes for e in batch), strict=True)
            batch = []
    yield from zip(batch, shred.open_many(e.changes for e in batch), strict=True)


def timeline_export(*, activation: Activation, principal):
    """An export like the other ledgers: it needs IMPORT_EXPORT where the response is (callers
    load the activation with get_for(IMPORT_EXPORT); checked again here at the entry) and is
    itself audited. The compound's events are one range on the path, not a LIKE."""
    path = activation.grid.path
    authorize(principal, Capability.IMPORT_EXPORT, path)
    events = AuditEvent.objects.filter(subtree_q("grid_path", path), occurred_at__gte=activation.activated_at)
    rows = (
        [
            timezone.localtime(e.occurred_at).strftime("%Y-%m-%d %H:%M"),
            e.actor_label,
            e.action,
            e.object_type,
            e.object_id,
            str(changes),
        ]
        for e, changes in _opened(events.order_by("id").iterator(chunk_size=2000))
    )
    out, count = write_ledger(sheet_name=TIMELINE_SHEET, headers=TIMELINE_HEADERS, rows=rows)
    audit.record(
        principal=principal,
        action="ledger.export",
        obj=activation,
        grid_path=path,
        changes={"kind": [None, "response_timeline"], "rows": [None, count]},
    )
    return out, f"应急处置-{activation.grid.code}-{activation.pk}.xlsx"
