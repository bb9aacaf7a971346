"""Tampering with the audit chain by someone who can write the database: recomputing the hashes
needs the audit key, a deleted tail with a rewound head is caught by the anchors outside the
database, and the database itself refuses TRUNCATE and edits of the head."""

import hashlib
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from epigrid.core import audit
from epigrid.core.models import AuditChainHead, AuditEvent
from epigrid.core.scoping import SystemPrincipal

SQLITE_TRIGGERS = [
    "core_auditevent_no_update",
    "core_auditevent_no_delete",
    "core_auditchainhead_advance_only",
    "core_auditchainhead_no_delete",
]
CANONICAL_FIELDS = [
    "id",
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
    "prev_hash",
]


def _tamper(*statements):
    """An attacker with database access: switch off every guard trigger, then run the statements."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # superuser: triggers off
        else:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def _unkeyed_hash(event: AuditEvent) -> str:
    """The chain's formula before it was keyed, as anyone reading the old code could recompute it."""
    values = {name: getattr(event, name) for name in CANONICAL_FIELDS}
    values["occurred_at"] = values["occurred_at"].isoformat(timespec="microseconds")
    payload = [values[name] for name in CANONICAL_FIELDS]
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _rewind_head(last_id: int, last_hash: str):
    return ("UPDATE core_auditchainhead SET last_id = %s, last_hash = %s WHERE id = 1", [last_id, last_hash])


def _verify_exit(capsys):
    with pytest.raises(SystemExit) as excinfo:
        call_command("audit", "verify")
    return excinfo.value.code, capsys.readouterr().err


def _record(action="test.touch"):
    return audit.record(principal=SystemPrincipal("system:test", []), action=action, object_type="test")


@pytest.fixture
def anchor_file(settings, tmp_path):
    settings.AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    return settings.AUDIT_ANCHOR_FILE


@pytest.mark.parametrize("relabel", [False, True], ids=["keyed-label-kept", "relabelled-unkeyed"])
def test_rewritten_row_with_every_later_hash_recomputed_is_named(world, capsys, relabel):
    events = list(AuditEvent.objects.order_by("id"))
    target = events[4]
    statements, prev_hash = [], events[3].hash
    for event in events[4:]:
        if event.pk == target.pk:
            event.action = "person.nothing"
        event.prev_hash = prev_hash
        event.hash = prev_hash = _unkeyed_hash(event)
        statements.append(
            (
                "UPDATE core_auditevent SET action = %s, prev_hash = %s, hash = %s, key_version = %s WHERE id = %s",
                [event.action, event.prev_hash, event.hash, 0 if relabel else event.key_version, event.pk],
            )
        )
    _tamper(*statements, _rewind_head(events[-1].pk, prev_hash))
    result = audit.verify()
    assert not result.ok and result.bad_id == target.pk
    assert ("unkeyed row" if relabel else "does not match its hash") in result.reason
    code, err = _verify_exit(capsys)
    assert code == 1 and f"row {target.pk}" in err


def test_deleted_tail_with_rewound_head_is_caught_by_the_anchor(world, anchor_file, tmp_path, capsys):
    audit.anchor()
    events = list(AuditEvent.objects.order_by("id"))
    survivor, removed = events[-3], events[-2]
    _tamper(
        ("DELETE FROM core_auditevent WHERE id > %s", [survivor.pk]),
        _rewind_head(survivor.pk, survivor.hash),
    )
    # Without the anchor the shortened chain is self-consistent: that is what the anchor is for.
    assert audit.verify(anchor_file=tmp_path / "none.jsonl").ok
    result = audit.verify()
    assert not result.ok and result.bad_id == removed.pk and "removed" in result.reason
    code, err = _verify_exit(capsys)
    assert code == 1 and f"row {removed.pk}" in err


def test_tail_replaced_up_to_the_anchor_is_named(world, anchor_file):
    """Delete the tail, rewind, and append new rows through the service up past the anchored id:
    the head is no longer behind the anchor, but the anchored row's hash differs (the anchor pins
    that row; the replaced rows before it are only known to be in the forged stretch)."""
    audit.anchor()
    events = list(AuditEvent.objects.order_by("id"))
    survivor = events[-3]
    _tamper(
        ("DELETE FROM core_auditevent WHERE id > %s", [survivor.pk]),
        _rewind_head(survivor.pk, survivor.hash),
    )
    for _ in range(3):
        _record("test.forged")
    result = audit.verify()
    assert not result.ok and result.bad_id == events[-1].pk and "differs from the anchor" in result.reason


def test_truncate_is_refused_on_postgresql(world):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite has none")
    for table in ("core_auditevent", "core_auditchainhead"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.exists() and AuditChainHead.objects.filter(pk=1).exists()


def test_head_edits_outside_the_chain_are_refused(world):
    head = AuditChainHead.objects.get(pk=1)
    last = AuditEvent.objects.get(pk=head.last_id)
    previous = AuditEvent.objects.get(pk=head.last_id - 1)
    edits = [
        {"last_id": previous.pk, "last_hash": previous.hash},  # rewind
        {"last_id": head.last_id + 1, "last_hash": last.hash},  # advance past the rows
        {"last_hash": "f" * 64},  # same id, other hash
        {"unkeyed_through": head.last_id},  # widen the unkeyed range
        {"id": 2},
    ]
    for edit in edits:
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditChainHead.objects.filter(pk=1).update(**edit)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditChainHead.objects.filter(pk=1).delete()
    # Writing the head back unchanged (as loading a fixture does) is no edit.
    AuditChainHead.objects.filter(pk=1).update(last_id=head.last_id, last_hash=head.last_hash)
    # The chain's own advance still works, and the head is as it was before it.
    assert AuditChainHead.objects.get(pk=1).last_id == head.last_id
    event = _record()
    assert event.pk == head.last_id + 1 and audit.verify().ok


def test_a_valid_chain_with_anchors_verifies(world, anchor_file, capsys):
    call_command("audit", "anchor")
    _record()
    call_command("audit", "anchor")
    call_command("audit", "anchor")  # an idle interval anchors the same head again
    capsys.readouterr()
    call_command("audit", "verify")
    assert "audit chain OK" in (out := capsys.readouterr().out) and "3 anchors" in out
    lines = [json.loads(line) for line in anchor_file.read_text().splitlines()]
    head = AuditChainHead.objects.get(pk=1)
    assert lines[-1]["id"] == head.last_id and lines[-1]["hash"] == head.last_hash


def test_an_edited_or_foreign_anchor_is_refused(world, anchor_file, settings):
    audit.anchor()
    line = json.loads(anchor_file.read_text())
    forged = dict(line, id=line["id"] - 1)
    anchor_file.write_text(json.dumps(forged) + "\n")
    result = audit.verify()
    assert not result.ok and "bad signature" in result.reason
    settings.AUDIT_KEYS = {1: "some-other-key"}
    anchor_file.write_text(json.dumps(line) + "\n")
    assert "bad signature" in audit.verify().reason


def test_rows_under_rotated_keys_verify(world, anchor_file, settings):
    old_key = settings.AUDIT_KEYS[1]
    audit.anchor()
    settings.AUDIT_KEYS = {1: old_key, 2: "the-second-audit-key"}
    settings.AUDIT_KEY_VERSION = 2
    _record()
    audit.anchor()
    assert set(AuditEvent.objects.values_list("key_version", flat=True)) == {1, 2}
    assert audit.verify().ok
    # The key of an old version is still needed to check its rows (and its anchors).
    settings.AUDIT_KEYS = {2: "the-second-audit-key"}
    result = audit.verify()
    assert not result.ok and "version 1" in result.reason


def test_rows_from_before_the_key_verify_and_no_unkeyed_row_after_them(db, settings):
    """Rows written before the chain was keyed carry version 0 (the migration's state); rows
    after them are keyed; an unkeyed row after the boundary is refused."""
    settings.AUDIT_KEY_VERSION = 0
    legacy = [_record("test.legacy") for _ in range(3)]
    assert all(e.key_version == 0 and e.hash == _unkeyed_hash(e) for e in legacy)
    _tamper(("UPDATE core_auditchainhead SET unkeyed_through = %s WHERE id = 1", [legacy[-1].pk]))
    settings.AUDIT_KEY_VERSION = 1
    keyed = [_record() for _ in range(2)]
    assert [e.key_version for e in keyed] == [1, 1]
    result = audit.verify()
    assert result.ok and result.checked == 5
    settings.AUDIT_KEY_VERSION = 0
    late = _record("test.late-unkeyed")
    result = audit.verify()
    assert not result.ok and result.bad_id == late.pk and "unkeyed" in result.reason


def test_celery_beat_anchors_the_chain(world, anchor_file, settings):
    from epigrid.oversight.tasks import audit_anchor

    assert settings.CELERY_BEAT_SCHEDULE["audit-anchor"]["task"] == audit_anchor.name == "epigrid.audit_anchor"
    assert audit_anchor() == AuditChainHead.objects.get(pk=1).last_id
    assert len(audit.read_anchors()) == 1
