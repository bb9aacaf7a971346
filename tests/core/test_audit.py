"""The audit chain: every service write lands in it, and any edit, deletion or reordering of a
row is caught by `epigrid audit verify`, which names the row."""

import itertools

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

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
