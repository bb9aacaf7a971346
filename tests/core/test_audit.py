"""The audit chain: every service write lands in it, and any edit, deletion or reordering of a
row is caught by `epigrid audit verify`, which names the row."""

import itertools

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from epigrid.core import shred
from epigrid.core.models import AuditEvent
from epigrid.people import services as people_services
from tests.factories import make_id_number


def _verify_exit(capsys):
    with pytest.raises(SystemExit) as excinfo:
        call_command("audit", "verify")
    return excinfo.value.code, capsys.readouterr().err


def _without_guard(*statements):
    """What an attacker with database access would do: switch off the append-only trigger, tamper."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # superuser: triggers off
        else:
            cursor.execute("DROP TRIGGER core_auditevent_no_update")
            cursor.execute("DROP TRIGGER core_auditevent_no_delete")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def test_service_writes_are_chained_and_verify(world, capsys):
    assert AuditEvent.objects.filter(action="person.create").count() == 3
    call_command("audit", "verify")
    assert "audit chain OK" in capsys.readouterr().out
    events = list(AuditEvent.objects.order_by("id"))
    assert events[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))


def test_no_pii_in_audit_rows(world):
    person = people_services.person_create(
        name="赵六",
        id_number=(number := make_id_number()),
        phone="13912345678",
        household=world.households["h1"],
        principal=world.admin,
    )
    people_services.person_update(person=person, phone="13987654321", principal=world.admin)
    dump = str(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert number not in dump and "13912345678" not in dump and "13987654321" not in dump
    update = AuditEvent.objects.get(action="person.update", object_id=str(person.pk))
    # Only the masks, which the file shows anyway (the timeline says what changed).
    assert shred.open_changes(update.changes)["phone"] == ["139****5678", "139****4321"]


def test_rows_cannot_be_updated_or_deleted_through_the_database(world):
    event = AuditEvent.objects.order_by("id").first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_edited_row_is_named(world, capsys):
    target = AuditEvent.objects.order_by("id")[4]
    _without_guard(("UPDATE core_auditevent SET action = %s WHERE id = %s", ["person.nothing", target.pk]))
    code, err = _verify_exit(capsys)
    assert code == 1
    assert f"row {target.pk}" in err


def test_deleted_middle_row_is_named(world, capsys):
    target = AuditEvent.objects.order_by("id")[3]
    _without_guard(("DELETE FROM core_auditevent WHERE id = %s", [target.pk]))
    code, err = _verify_exit(capsys)
    assert code == 1 and f"row {target.pk}" in err


def test_deleted_tail_is_detected(world, capsys):
    last = AuditEvent.objects.order_by("-id").first()
    _without_guard(("DELETE FROM core_auditevent WHERE id = %s", [last.pk]))
    code, err = _verify_exit(capsys)
    assert code == 1 and "removed" in err


def test_reordered_rows_are_detected(world, capsys):
    a, b = AuditEvent.objects.order_by("id")[2:4]
    # Swap the contents of two rows (keeping their ids): the chain no longer links.
    swap = "UPDATE core_auditevent SET action = %s, object_id = %s WHERE id = %s"
    _without_guard((swap, [b.action, b.object_id, a.pk]), (swap, [a.action, a.object_id, b.pk]))
    code, err = _verify_exit(capsys)
    assert code == 1 and (f"row {a.pk}" in err or f"row {b.pk}" in err)


@pytest.mark.parametrize("size", [3, 250])
def test_a_batch_is_stored_as_given_and_verifies(world, capsys, size):
    """A batch (an import's rows) is serialised before the head's lock and chained under it: what
    is stored, and what `audit verify` hashes, is what was given, odd characters included."""
    from epigrid.core.audit import AuditEntry, record_many

    odd = 'tab\there, line\nbreak, cr\r, back\\slash \\N, "quote", 中文, \\t literal'
    entries = [
        AuditEntry("test.batch", "people.household", str(i), world.households["h1"].grid.path,
                   {"note": [None, f"{odd} {i}"], "n": [i, i + 1], "empty": ["", None]}, None)
        for i in range(size)
    ]
    with transaction.atomic():
        ids = record_many(principal=world.admin, entries=entries)
    stored = list(AuditEvent.objects.filter(action="test.batch").order_by("id"))
    assert [e.id for e in stored] == ids
    assert [e.object_id for e in stored] == [str(i) for i in range(size)]
    assert [e.changes["note"] for e in stored] == [[None, f"{odd} {i}"] for i in range(size)]
    assert stored[-1].changes["n"] == [size - 1, size] and stored[0].changes["empty"] == ["", None]
    assert stored[0].actor_id == world.admin.pk and stored[0].occurred_at == stored[-1].occurred_at
    call_command("audit", "verify")
    assert "audit chain OK" in capsys.readouterr().out


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    changes=st.dictionaries(st.text(max_size=8), _json_values, max_size=4),
    label=st.text(max_size=20),
    event_id=st.integers(min_value=1, max_value=2**62),
    key_version=st.integers(min_value=0, max_value=3),
)
def test_the_hashed_form_is_the_whole_list_as_before(changes, label, event_id, key_version):
    """The chain hashes json.dumps of the row's fields as one list (the form every stored row was
    hashed in): building it from a batch's pre-serialised middle gives the same bytes."""
    import datetime as dt
    import json

    from epigrid.core.audit import _canonical

    event = AuditEvent(
        id=event_id, occurred_at=dt.datetime(2026, 12, 3, 18, 0, 0, 123456, tzinfo=dt.UTC), actor_id=7,
        actor_label=label, action="person.update", object_type="people.person", object_id="12",
        grid_path="0001", changes=changes, remote_addr=None, request_id="r", channel="api",
        prev_hash="ab" * 32, key_version=key_version,
    )
    whole = [event.id, "2026-12-03T18:00:00.123456+00:00", 7, label, "person.update", "people.person", "12",
             "0001", changes, None, "r", "api", "ab" * 32] + ([key_version] if key_version else [])
    expected = json.dumps(whole, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()
    assert _canonical(event) == expected
