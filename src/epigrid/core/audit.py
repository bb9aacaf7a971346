"""The audit log: every service write and every unmasking appends here.

Rows are hashed with the previous row's hash, so editing, deleting or reordering any row breaks
the chain, and `epigrid audit verify` names the row. The hash is an HMAC-SHA256 with the audit key
(settings.AUDIT_KEYS, never in the database), so whoever can write the table still cannot rewrite
a row and recompute the later hashes; each row names its key version, so keys can be rotated.
Rows from before the chain was keyed (key version 0, up to head.unkeyed_through) keep their plain
sha256. `epigrid audit anchor` (Celery beat) appends a signed checkpoint of the head to a file
outside the database, so a deleted tail with a rewound head is caught too.
Never put personal values (ID numbers, phones) into `changes`: use `redact`. The values of
personal and free-text fields (names, notes, masks) of a row about a person are sealed with the
person's own key (core/shred.py), so erasing the person makes them unreadable (crypto-shredding)
while the chain, which hashes the stored sealed bytes, still verifies.
"""

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from . import shred
from .bulk import copy_insert
from .context import current_origin
from .models import AuditChainHead, AuditEvent
from .scoping import SystemPrincipal, user_of

REDACTED = "[redacted]"


@dataclass(slots=True)  # an import keeps one per row until its end
class AuditEntry:
    action: str
    object_type: str
    object_id: str = ""
    grid_path: str = ""
    changes: dict = field(default_factory=dict)
    # The person the row is about (their values are sealed with their key): the object itself
    # when it is a person, else given (an order's person).
    person_id: int | None = None


PERSON_TYPE = "people.person"


def _person_of(entry: AuditEntry) -> int | None:
    if entry.person_id:
        return entry.person_id
    if entry.object_type == PERSON_TYPE and str(entry.object_id).isdigit():
        return int(entry.object_id)
    return None


def person_of_object(obj) -> int | None:
    """The person an audited object is about: a person, or an object with a `person` field."""
    if obj is None:
        return None
    if obj._meta.label_lower == PERSON_TYPE:
        return obj.pk
    try:
        obj._meta.get_field("person")
    except FieldDoesNotExist:  # not about one person
        return None
    return getattr(obj, "person_id", None)


GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    return _chained(_unchained(event), event.id, event.prev_hash, event.key_version)


# The canonical form's middle: every field but the row's place in the chain (id, previous hash,
# key version), so that a batch can be serialised before the head's lock is taken.
_MIDDLE_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "grid_path",
    "changes",
    "remote_addr",
    "request_id",
    "channel",
)


def _unchained(event: AuditEvent) -> bytes:
    return _middle([getattr(event, name) for name in _MIDDLE_FIELDS])


def _middle(values: list) -> bytes:
    """The middle of the values of _MIDDLE_FIELDS, in that order."""
    payload = [values[0].astimezone(dt.UTC).isoformat(timespec="microseconds"), *values[1:]]
    return _json(payload)[1:-1]  # a JSON list's items, joined by "," as in the whole list


def _chained(middle: bytes, event_id: int, prev_hash: str, key_version: int) -> bytes:
    """[id, …middle…, prev_hash(, key_version)]: byte for byte json.dumps of the whole list."""
    tail = b"," + str(key_version).encode() if key_version else b""  # version 0: the unkeyed rows' form
    return b"[" + str(event_id).encode() + b"," + middle + b"," + _json(prev_hash) + tail + b"]"


def _json(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


class UnknownKeyVersion(LookupError):
    pass


def _key(version: int) -> bytes:
    try:
        return settings.AUDIT_KEYS[version].encode()
    except KeyError:
        raise UnknownKeyVersion(f"no audit key of version {version} is configured") from None


def compute_hash(event: AuditEvent) -> str:
    """The row's hash under its own key version (0: plain sha256, as before the chain was keyed)."""
    return _hash(_canonical(event), event.key_version)


def _hash(canonical: bytes, key_version: int) -> str:
    if not key_version:
        return hashlib.sha256(canonical).hexdigest()
    return hmac.new(_key(key_version), canonical, hashlib.sha256).hexdigest()


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
    using: str | None = None,
    person_id: int | None = None,
) -> AuditEvent:
    if obj is not None:
        object_type, object_id = object_ref(obj)
        person_id = person_id or person_of_object(obj)
    entry = AuditEntry(action, object_type, str(object_id), grid_path, changes or {}, person_id)
    row = _append(principal=principal, entries=[entry], using=using)[0]
    return AuditEvent.from_db(using or DEFAULT_DB_ALIAS, _EVENT_FIELDS, row)


_EVENT_FIELDS = [field.attname for field in AuditEvent._meta.concrete_fields]
_ID, _PREV_HASH, _HASH = (_EVENT_FIELDS.index(name) for name in ("id", "prev_hash", "hash"))
_MIDDLE_AT = [_EVENT_FIELDS.index(name) for name in _MIDDLE_FIELDS]


def _event_values(**values) -> list:
    """An event's values in its fields' order; the chain's own (id, hashes) are set under the lock."""
    return [values.get(name) for name in _EVENT_FIELDS]


_HEAD_TABLE = AuditChainHead._meta.db_table  # columns id, last_id, last_hash (attnames = columns)


def record_many(*, principal, entries: list[AuditEntry], using: str | None = None) -> list[int]:
    """Append entries to the chain in one locked step (used by bulk services too); their ids.
    `using` names another database than the default (a restore writes its row into the database
    it restored)."""
    return [row[_ID] for row in _append(principal=principal, entries=entries, using=using)]


def _append(*, principal, entries: list[AuditEntry], using: str | None) -> list[list]:
    """The chain's new rows (values in the fields' order), written: built without a model
    instance a row (an import's 5,000 rows: the instances cost a third of the append)."""
    origin = current_origin()
    now = timezone.now()
    # A user acts as itself; the system acts under its own name (system:activation) for the
    # user whose action set it off, and the row keeps both.
    if principal is None:
        raise ValueError("every audited change has a principal (a user or a SystemPrincipal)")
    if not entries:
        return []  # nothing to chain (the head's trigger refuses an "advance" to the same row)
    user = user_of(principal)
    actor_id = user.pk if user is not None else None
    label = principal.name if isinstance(principal, SystemPrincipal) else principal.get_username()
    key_version = settings.AUDIT_KEY_VERSION
    db = using or DEFAULT_DB_ALIAS
    # No savepoint of its own: an audit record that fails fails its caller's whole change anyway,
    # and every audited write saves two round trips.
    with transaction.atomic(using=db, savepoint=False):
        # Before the head's lock, which every writer waits for: a person's key may need making.
        shred.seal_changes(entries, _person_of, using=db)
        # Everything but the chain's links is built and serialised before the head's lock too:
        # under it, a batch's rows only get their ids and hashes (an import's thousands of rows
        # hold every other writer in the city for that long).
        rows = [
            _event_values(
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
                key_version=key_version,
            )
            for entry in entries
        ]
        middles = [_middle([row[i] for i in _MIDDLE_AT]) for row in rows]
        connection = connections[db]
        # The head in plain SQL: every audited write in the city passes here, and building the
        # ORM's two statements cost about as much as sending them.
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT last_id, last_hash FROM {_HEAD_TABLE} WHERE id = 1{lock}")
            head = cursor.fetchone()
        if head is None:
            raise AuditChainHead.DoesNotExist("the audit chain's head row is missing (migration core 0002 makes it)")
        next_id, prev_hash = head
        for index, row in enumerate(rows):
            middle, middles[index] = middles[index], None  # each freed as its hash is made (imports: memory)
            next_id += 1
            row[_ID], row[_PREV_HASH] = next_id, prev_hash
            row[_HASH] = prev_hash = _hash(_chained(middle, next_id, prev_hash, key_version), key_version)
        copy_insert(AuditEvent, rows, columns=_EVENT_FIELDS, using=db)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {_HEAD_TABLE} SET last_id = %s, last_hash = %s WHERE id = 1", [next_id, prev_hash])
    return rows


# Anchors: signed checkpoints of the head, one JSON object a line, in a file outside the database.


def _anchor_payload(line: dict) -> bytes:
    return _json([line["id"], line["hash"], line["at"], line["unkeyed_through"], line["key_version"]])


def _anchor_signature(line: dict) -> str:
    return hmac.new(_key(line["key_version"]), _anchor_payload(line), hashlib.sha256).hexdigest()


def anchor() -> dict:
    """Append a signed checkpoint of the chain's head to settings.AUDIT_ANCHOR_FILE."""
    head = AuditChainHead.objects.get(pk=1)
    line = {
        "id": head.last_id,
        "hash": head.last_hash,
        "at": timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds"),
        "unkeyed_through": head.unkeyed_through,
        "key_version": settings.AUDIT_KEY_VERSION,
    }
    line["sig"] = _anchor_signature(line)
    path = Path(settings.AUDIT_ANCHOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One short write in append mode: lines from concurrent runs do not interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, json.dumps(line, sort_keys=True).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return line


class AnchorError(ValueError):
    pass


def read_anchors(path=None) -> list[dict]:
    """Every anchor in the file, each signature checked; a missing file is no anchors."""
    path = Path(path or settings.AUDIT_ANCHOR_FILE)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    anchors = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            signature = _anchor_signature(line)
        except (ValueError, KeyError, TypeError, UnknownKeyVersion) as exc:
            raise AnchorError(f"anchor line {number} is unreadable ({exc})") from None
        if not hmac.compare_digest(signature, str(line.get("sig", ""))):
            raise AnchorError(f"anchor line {number} has a bad signature")
        anchors.append(line)
    return anchors


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""


def verify(*, chunk_size: int = 5000, anchor_file=None, anchors=None, using: str | None = None) -> VerifyResult:
    """Walk the chain in id order and check it against the anchors; name the first row that was
    edited, deleted, reordered or forged. `anchors` (already read) replaces the file; `using`
    names another database than the default."""
    db = using or DEFAULT_DB_ALIAS
    try:
        anchors = read_anchors(anchor_file) if anchors is None else anchors
    except AnchorError as exc:
        return VerifyResult(False, 0, None, str(exc))
    # The anchors are read before the head and the head before the rows, so a concurrent writer or
    # anchor run never looks like tampering; rows committed after the head was read wait for the next run.
    head = AuditChainHead.objects.using(db).get(pk=1)
    anchored: dict[int, dict] = {}
    for line in anchors:
        if line["unkeyed_through"] != head.unkeyed_through:
            reason = f"the head's unkeyed range ({head.unkeyed_through}) differs from the anchor of {line['at']}"
            return VerifyResult(False, 0, None, reason)
        anchored[line["id"]] = line
    if anchored.get(0, {"hash": GENESIS})["hash"] != GENESIS:
        return VerifyResult(False, 0, None, "an anchor of the empty chain has a hash")
    last_anchor = max(anchors, key=lambda line: line["id"], default=None)
    if last_anchor and head.last_id < last_anchor["id"]:
        return VerifyResult(
            False,
            0,
            head.last_id + 1,
            f"rows after {head.last_id} were removed: the anchor of {last_anchor['at']} has row {last_anchor['id']}",
        )
    prev_hash, expected_id, checked = GENESIS, 1, 0
    events = AuditEvent.objects.using(db).filter(id__lte=head.last_id).order_by("id")
    for event in events.iterator(chunk_size=chunk_size):
        if event.id != expected_id:
            return VerifyResult(False, checked, expected_id, f"row {expected_id} is missing (next is {event.id})")
        if event.prev_hash != prev_hash:
            return VerifyResult(False, checked, event.id, "link to the previous row is broken")
        if event.key_version == 0 and event.id > head.unkeyed_through:
            return VerifyResult(False, checked, event.id, "unkeyed row after the chain was keyed")
        # Re-read through the ORM types as stored (JSON round-trip), then hash.
        try:
            expected_hash = compute_hash(event)
        except UnknownKeyVersion as exc:
            return VerifyResult(False, checked, event.id, str(exc))
        if not hmac.compare_digest(expected_hash, event.hash):
            return VerifyResult(False, checked, event.id, "content does not match its hash")
        line = anchored.get(event.id)
        if line is not None and line["hash"] != event.hash:
            return VerifyResult(False, checked, event.id, f"hash differs from the anchor of {line['at']}")
        prev_hash, expected_id, checked = event.hash, expected_id + 1, checked + 1
    if head.last_id != expected_id - 1:
        return VerifyResult(
            False, checked, expected_id, f"rows after {expected_id - 1} were removed (head says {head.last_id})"
        )
    if head.last_hash != prev_hash:
        return VerifyResult(False, checked, head.last_id or None, "the head's hash does not match the last row")
    return VerifyResult(True, checked, reason=f"{len(anchors)} anchors")
