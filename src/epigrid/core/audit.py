"""The audit log: every service write and every unmasking appends here.

Rows are hashed with the previous row's hash (sha256 over a canonical JSON form), so editing,
deleting or reordering any row breaks the chain, and `epigrid audit verify` names the row.
Never put personal values (ID numbers, phones) into `changes`: use `redact`.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .bulk import bulk_insert
from .context import current_origin
from .models import AuditChainHead, AuditEvent
from .scoping import SystemPrincipal, user_of

REDACTED = "[redacted]"


@dataclass
class AuditEntry:
    action: str
    object_type: str
    object_id: str = ""
    grid_path: str = ""
    changes: dict = field(default_factory=dict)


def _canonical(event: AuditEvent) -> bytes:
    payload = [
        event.id,
        event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        event.actor_id,
        event.actor_label,
        event.action,
        event.object_type,
        event.object_id,
        event.grid_path,
        event.changes,
        event.remote_addr,
        event.request_id,
        event.channel,
        event.prev_hash,
    ]
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def object_ref(obj) -> tuple[str, str]:
    return obj._meta.label_lower, str(obj.pk)


def diff(before: dict, after: dict, *, sensitive: Iterable[str] = ()) -> dict:
    """{field: [old, new]} for the fields that changed; sensitive ones show only that they changed."""
    hidden = set(sensitive)
    out = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            out[key] = [REDACTED, REDACTED] if key in hidden else [_plain(old), _plain(new)]
    return out


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | dict):
        return value
    return str(value)


def record(
    *,
    principal,
    action: str,
    obj=None,
    object_type: str = "",
    object_id="",
    grid_path: str = "",
    changes: dict | None = None,
) -> AuditEvent:
    if obj is not None:
        object_type, object_id = object_ref(obj)
    return record_many(
        principal=principal,
        entries=[AuditEntry(action, object_type, str(object_id), grid_path, changes or {})],
    )[0]


def record_many(*, principal, entries: list[AuditEntry]) -> list[AuditEvent]:
    """Append entries to the chain in one locked step (used by bulk services too)."""
    origin = current_origin()
    now = timezone.now()
    # A user acts as itself; the system acts under its own name (system:activation) for the
    # user whose action set it off, and the row keeps both.
    if principal is None:
        raise ValueError("every audited change has a principal (a user or a SystemPrincipal)")
    user = user_of(principal)
    actor_id = user.pk if user is not None else None
    label = principal.name if isinstance(principal, SystemPrincipal) else principal.get_username()
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        events = []
        prev_hash, next_id = head.last_hash, head.last_id
        for entry in entries:
            next_id += 1
            event = AuditEvent(
                id=next_id,
                occurred_at=now,
                actor_id=actor_id,
                actor_label=label,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                grid_path=entry.grid_path,
                changes=entry.changes,
                remote_addr=origin.remote_addr,
                request_id=origin.request_id,
                channel=origin.channel,
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = compute_hash(event)
            events.append(event)
        bulk_insert(AuditEvent, events)
        AuditChainHead.objects.filter(pk=1).update(last_id=next_id, last_hash=prev_hash)
    return events


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""


def verify(*, chunk_size: int = 5000) -> VerifyResult:
    """Walk the chain in id order; name the first row that was edited, deleted or reordered."""
    prev_hash, expected_id, checked = "0" * 64, 1, 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if event.id != expected_id:
            return VerifyResult(False, checked, expected_id, f"row {expected_id} is missing (next is {event.id})")
        if event.prev_hash != prev_hash:
            return VerifyResult(False, checked, event.id, "link to the previous row is broken")
        # Re-read through the ORM types as stored (JSON round-trip), then hash.
        if compute_hash(event) != event.hash:
            return VerifyResult(False, checked, event.id, "content does not match its hash")
        prev_hash, expected_id, checked = event.hash, expected_id + 1, checked + 1
    head = AuditChainHead.objects.get(pk=1)
    if head.last_id != expected_id - 1 or head.last_hash != prev_hash:
        return VerifyResult(
            False,
            checked,
            expected_id - 1 if checked else None,
            f"rows after {expected_id - 1} were removed (head says {head.last_id})",
        )
    return VerifyResult(True, checked)
