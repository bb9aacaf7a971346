"""bulk_insert (COPY on PostgreSQL) writes exactly what bulk_create would; copy_staged_insert stores
exactly the rows given, skipping those whose unique key is taken."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from epigrid.core import audit
from epigrid.core.bulk import STAGED_FROM, bulk_insert, copy_insert, copy_staged_insert
from epigrid.health.models import TemperatureReport
from epigrid.health.services import READING_COLUMNS
from epigrid.people.models import Household


def _row(h):
    return {
        k: v
        for k, v in Household.objects.filter(pk=h.pk).values().get().items()
        if k not in {"id", "created_at", "updated_at", "number"}
    }


def test_bulk_insert_matches_bulk_create(world):
    grid = world.nodes["S-C-G1-B1"]
    copied = bulk_insert(Household, [Household(grid=grid, number="9-901", address="九单元901 'quoted' \\ tab\t")])
    created = Household.objects.bulk_create(
        [Household(grid=grid, number="9-902", address="九单元901 'quoted' \\ tab\t")]
    )
    assert copied[0].pk is not None and copied[0].pk != created[0].pk
    assert _row(copied[0]) == _row(created[0])
    assert Household.objects.get(pk=copied[0].pk).created_at is not None


def test_audit_chain_written_by_copy_verifies(world):
    audit.record_many(
        principal=world.admin,
        entries=[audit.AuditEntry("x.test", "people.person", str(i), "", {"i": [None, i]}) for i in range(50)],
    )
    assert audit.verify().ok


@pytest.mark.parametrize("count", [1, STAGED_FROM - 1, STAGED_FROM, 3 * STAGED_FROM])
def test_copy_staged_insert_stores_the_same_rows_by_values_or_staged(world, count):
    """A few rows go in as one INSERT … VALUES, more through a staged COPY: either way every new
    row is stored exactly as given, a row whose unique key is taken (a resent reading) is
    skipped, and what comes back is the stored rows' own values."""
    person, now = world.persons["p1"], timezone.now()
    resent = uuid.uuid4()
    copy_staged_insert(
        TemperatureReport, [_reading(person, now, resent, "36.6")], columns=READING_COLUMNS, returning=["id"]
    )
    given = [_reading(person, now, uuid.uuid4(), f"36.{i % 10}") for i in range(count - 1)]
    given.append(_reading(person, now, resent, "39.9"))  # sent again: skipped, not overwritten
    stored = copy_staged_insert(
        TemperatureReport, given, columns=READING_COLUMNS, returning=["client_id", "value", "measured_at"]
    )
    assert sorted(stored) == sorted((row[9], row[2], row[4]) for row in given[:-1])
    assert TemperatureReport.objects.get(client_id=resent).value == Decimal("36.6")
    kept = TemperatureReport.objects.filter(client_id__in=[row[9] for row in given[:-1]])
    assert sorted(kept.values_list(*READING_COLUMNS)) == sorted(tuple(row) for row in given[:-1])


@pytest.mark.parametrize("count", [2, 3 * STAGED_FROM])
def test_a_value_stored_on_another_day_is_skipped_when_asked(world, count):
    """The readings' unique key is (client id, day): the same client id sent again with a time of
    another day is a new row to the key, and `skip_stored` skips it all the same."""
    person, now = world.persons["p1"], timezone.now()
    resent = uuid.uuid4()
    copy_staged_insert(
        TemperatureReport, [_reading(person, now, resent, "36.6")], columns=READING_COLUMNS, returning=["id"]
    )
    later = now + dt.timedelta(days=1)
    given = [_reading(person, later, uuid.uuid4(), "36.5") for _ in range(count - 1)]
    given.append(_reading(person, later, resent, "36.6"))
    stored = copy_staged_insert(
        TemperatureReport, given, columns=READING_COLUMNS, returning=["client_id"], skip_stored="client_id"
    )
    assert sorted(stored) == sorted((row[9],) for row in given[:-1])
    assert TemperatureReport.objects.filter(client_id=resent).count() == 1


@pytest.mark.parametrize("count", [1, 1500])
def test_copy_insert_stores_the_rows_as_given_and_answers_their_keys_in_order(world, count):
    """copy_insert writes each row as given (no instance a row), with keys from the table's
    sequence, answered in the rows' order; more rows than go into one part on SQLite too."""
    person, now = world.persons["p1"], timezone.now()
    given = [_reading(person, now, uuid.uuid4(), f"36.{i % 10}") for i in range(count)]
    keys = copy_insert(TemperatureReport, given, columns=READING_COLUMNS)
    assert len(set(keys)) == count
    stored = dict(TemperatureReport.objects.filter(pk__in=keys).values_list("pk", "client_id"))
    assert [stored[key] for key in keys] == [row[9] for row in given]
    assert sorted(TemperatureReport.objects.filter(pk__in=keys).values_list(*READING_COLUMNS)) == sorted(
        tuple(row) for row in given
    )


def test_copy_insert_skips_nothing_a_taken_key_fails_the_batch(world):
    """A row whose unique key is taken is not skipped: the batch fails whole (IntegrityError),
    nothing of it is stored, and the caller decides what that means."""
    person, now = world.persons["p1"], timezone.now()
    taken = uuid.uuid4()
    copy_insert(TemperatureReport, [_reading(person, now, taken, "36.6")], columns=READING_COLUMNS)
    fresh = [_reading(person, now, uuid.uuid4(), "36.5") for _ in range(3)]
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert(TemperatureReport, [*fresh, _reading(person, now, taken, "39.9")], columns=READING_COLUMNS)
    assert not TemperatureReport.objects.filter(client_id__in=[row[9] for row in fresh]).exists()
    assert TemperatureReport.objects.get(client_id=taken).value == Decimal("36.6")


def _reading(person, now, client_id, value):
    return (
        person.pk,
        person.grid_id,
        Decimal(value),
        False,
        now,
        now,
        timezone.localdate(now),
        0,
        "self",
        client_id,
        None,
    )


def test_gc_pauses_overlap_and_the_collector_is_back_after_the_last():
    """Two threads' pauses overlap: the collector stays off while either runs, is on again after
    the last, and one already off before the first pause stays off."""
    import gc
    import threading

    from epigrid.core.bulk import gc_paused

    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with gc_paused():
            second_in.set()
            first_out.wait(5)
            seen["after_first_left"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after_first_left": False}
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
