"""Monthly partitions of readings and passages (issue 15 §4; core/partitions.py): partitioned on
PostgreSQL, plain tables on SQLite, the same behaviour through the models on both; the retention
purge drops whole old months on PostgreSQL and deletes the same rows elsewhere."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.db.utils import ProgrammingError
from django.utils import timezone

from epigrid.core import audit, partitions
from epigrid.core.models import AuditEvent
from epigrid.core.scoping import SystemPrincipal
from epigrid.gates import services as gate_services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.health import services as health_services
from epigrid.health.models import TemperatureReport
from epigrid.oversight import retention
from epigrid.people.models import Person

OPERATOR = SystemPrincipal("system:cli", ["edit_people"])
READINGS, PASSAGES = TemperatureReport._meta.db_table, Passage._meta.db_table
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")


def _local(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _reading(person, at: dt.datetime) -> TemperatureReport:
    return TemperatureReport.objects.create(
        person=person,
        grid=person.grid,
        value="36.5",
        measured_at=at,
        received_at=at,
        local_date=timezone.localdate(at),
        source="liaison",
        client_id=uuid.uuid4(),
    )


def _where(table: str, pk: int) -> str:
    """The partition (PostgreSQL) holding the row."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@postgresql_only
def test_readings_and_passages_are_partitioned_by_month(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        )
        assert dict(cursor.fetchall()) == {READINGS: "r", PASSAGES: "r"}
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", [READINGS])
        assert cursor.fetchone()[0] >= 4  # the default, this month and the next two (the migration's)
    this_month = partitions.month_start(timezone.localdate())
    for table in (READINGS, PASSAGES):
        have = partitions.partitions(table)
        assert {partitions.add_months(this_month, n) for n in range(3)} <= set(have)
    assert partitions.partitioned_tables() == {READINGS: ("local_date", "date"), PASSAGES: ("at", "timestamptz")}


@postgresql_only
def test_ensure_creates_ahead_is_idempotent_and_moves_rows_out_of_the_default(world):
    person = world.persons["p1"]
    far = partitions.add_months(partitions.month_start(timezone.localdate()), 7)
    # A reading of a month without a partition lands in the default one.
    early = _reading(person, _local(far.replace(day=10)))
    assert _where(READINGS, early.pk) == f"{READINGS}_default"

    created = partitions.partitions_ensure(months_ahead=2, today=far)
    assert f"{READINGS}_p{far:%Y%m}" in created and f"{PASSAGES}_p{far:%Y%m}" in created
    assert len(created) == 6  # months far, far+1, far+2 of both tables
    assert partitions.partitions_ensure(months_ahead=2, today=far) == []  # again: nothing to do
    # The reading moved into its month, and a new one lands there directly.
    assert _where(READINGS, early.pk) == f"{READINGS}_p{far:%Y%m}"
    later = _reading(person, _local(partitions.add_months(far, 1).replace(day=28), 23))
    assert _where(READINGS, later.pk) == f"{READINGS}_p{partitions.add_months(far, 1):%Y%m}"
    assert TemperatureReport.objects.filter(pk__in=[early.pk, later.pk]).count() == 2


def test_on_sqlite_nothing_is_partitioned_and_the_functions_do_nothing(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's behaviour")
    assert partitions.partitioned_tables() == {} and partitions.partitions_ensure() == []
    assert partitions.partitions_drop_before(READINGS, dt.date(2100, 1, 1)) == {"partitions": 0, "rows": 0}


def test_a_resent_client_id_is_answered_as_resent(world):
    """On both backends: the same client id again (even with another day's time) stores nothing."""
    person, now = world.persons["p1"], timezone.now()
    client_id = uuid.uuid4()

    def send(measured_at):
        return health_services.temperature_reports_record(
            readings=[health_services.Reading(person.pk, "36.6", measured_at, client_id)],
            source="liaison",
            principal=world.users["member1"],
            now=now,
        )

    first = send(now - dt.timedelta(hours=1))
    assert (first.stored, first.duplicates) == (1, 0)
    again = send(now - dt.timedelta(hours=1))
    assert (again.stored, again.duplicates) == (0, 1)
    other_day = send(now - dt.timedelta(days=3))
    assert (other_day.stored, other_day.duplicates) == (0, 1)
    assert TemperatureReport.objects.filter(client_id=client_id).count() == 1


def _old_world(world):
    """Partitions from four months back, readings and passages of 张三 (p1, household h1) in an
    old month, in the month of the cutoff (before and after it); purge `now` is the 20th of this
    month, so the cutoff (30 days) falls on the 20th of the month before."""
    this_month = partitions.month_start(timezone.localdate())
    old, boundary = partitions.add_months(this_month, -2), partitions.add_months(this_month, -1)
    partitions.partitions_ensure(months_ahead=3, today=partitions.add_months(this_month, -4))
    now = _local(this_month.replace(day=20))
    person = world.persons["p1"]
    # 张三 and 李四 were registered just now (their retention runs from then): as if a year ago.
    Person.objects.filter(household=world.households["h1"]).update(created_at=now - dt.timedelta(days=365))
    gate = gate_services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.admin)
    gate_services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    household_pass = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)

    def passage(at):
        return Passage.objects.create(
            checkpoint=gate,
            grid=gate.grid,
            household_pass=household_pass,
            direction="out",
            verdict="refused",
            reason="wrong_checkpoint",
            guard=world.users["guard1"],
            at=at,
        )

    days = {"old": old.replace(day=10), "old_end": old.replace(day=28), "before": boundary.replace(day=5)}
    days["after"] = boundary.replace(day=25)
    readings = {key: _reading(person, _local(day)) for key, day in days.items()}
    passages = {key: passage(_local(day, 23)) for key, day in days.items()}
    # As if written before the purge's transaction: PostgreSQL drops no table with checks of its
    # rows' (deferred) foreign keys still pending in the transaction.
    connection.check_constraints()
    return now, old, boundary, readings, passages


def test_the_purge_drops_old_months_and_deletes_the_rest_up_to_the_cutoff(world):
    now, old, boundary, readings, passages = _old_world(world)
    assert retention.purge(principal=OPERATOR, dry_run=True, now=now)["temperature_reports"] == 3
    counts = retention.purge(principal=OPERATOR, now=now)

    assert counts["temperature_reports"] == 3 and counts["gate_passages"] == 3 and counts["persons"] == 0
    left = {key for key, r in readings.items() if TemperatureReport.objects.filter(pk=r.pk).exists()}
    assert left == {"after"}
    assert {key for key, p in passages.items() if Passage.objects.filter(pk=p.pk).exists()} == {"after"}
    event = AuditEvent.objects.filter(action="retention.purge").latest("id")
    assert event.changes["temperature_reports"] == [None, 3] and event.changes["gate_passages"] == [None, 3]
    if connection.vendor == "postgresql":
        # The old month is gone as a whole, the cutoff's month stays (its rows after the cutoff).
        for table in (READINGS, PASSAGES):
            have = partitions.partitions(table)
            assert old not in have and partitions.add_months(old, -1) not in have and boundary in have
        assert event.changes["partitions_dropped"] == [None, 6]  # months -4, -3 and -2 of both
        assert _where(READINGS, readings["after"].pk) == f"{READINGS}_p{boundary:%Y%m}"
    assert audit.verify().ok


@postgresql_only
def test_a_month_with_a_held_row_is_not_dropped_its_other_rows_are_deleted(world):
    now, old, _boundary, readings, _passages = _old_world(world)
    # 王五 (p2) registered just now: held; his old reading keeps the old month's partition.
    held = _reading(world.persons["p2"], _local(old.replace(day=15)))
    connection.check_constraints()
    counts = retention.purge(principal=OPERATOR, now=now)
    assert counts["temperature_reports"] == 3  # 张三's three before the cutoff
    assert old in partitions.partitions(READINGS) and old not in partitions.partitions(PASSAGES)
    assert TemperatureReport.objects.filter(pk=held.pk).exists()
    assert not TemperatureReport.objects.filter(pk=readings["old"].pk).exists()


@postgresql_only
def test_a_role_without_the_functions_grant_drops_and_creates_nothing(db):
    """A role that owns no table and was not granted the owner's functions (`epigrid dbroles`
    not applied) may not run DDL: ensure and the drop leave the tables alone (the purge's DELETE
    then removes the rows), no error."""
    this_month = partitions.month_start(timezone.localdate())
    before = partitions.partitions(READINGS)
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE epigrid_partitions_probe NOLOGIN")  # rolled back with the test
        cursor.execute("SET LOCAL ROLE epigrid_partitions_probe")
        assert partitions.partitions_ensure(months_ahead=2, today=partitions.add_months(this_month, 12)) == []
        assert partitions.partitions_drop_before(READINGS, partitions.add_months(this_month, 24)) == {
            "partitions": 0,
            "rows": 0,
        }
        cursor.execute("RESET ROLE")
    assert partitions.partitions(READINGS) == before


@postgresql_only
def test_the_application_role_creates_and_drops_months_through_the_owners_functions(world):
    """Granted EXECUTE on the two functions (as `epigrid dbroles` grants it) and owning no table,
    the role makes the months ahead, moving a month's rows out of the default partition, and drops
    old months, but may not run the DDL itself."""
    person = world.persons["p1"]
    far = partitions.add_months(partitions.month_start(timezone.localdate()), 9)
    early = _reading(person, _local(far.replace(day=3)))
    functions = f"{partitions.MONTH_FUNCTION}, {partitions.DROP_FUNCTION}"
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE epigrid_partitions_app NOLOGIN")  # rolled back with the test
        cursor.execute(f"GRANT EXECUTE ON FUNCTION {functions} TO epigrid_partitions_app")
        cursor.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO epigrid_partitions_app")
        cursor.execute("SET LOCAL ROLE epigrid_partitions_app")
        assert partitions.may_manage()
        created = partitions.partitions_ensure(months_ahead=1, today=far)
        assert sorted(created) == sorted(
            f"{t}_p{m:%Y%m}" for t in (READINGS, PASSAGES) for m in (far, far + dt.timedelta(days=40))
        )
        assert _where(READINGS, early.pk) == f"{READINGS}_p{far:%Y%m}"
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the moved row's checks, as at a commit
        dropped = partitions.partitions_drop_before(READINGS, partitions.add_months(far, 1))
        assert dropped["rows"] >= 1 and far not in partitions.partitions(READINGS)
        cursor.execute("SAVEPOINT refused")
        with pytest.raises(ProgrammingError, match="must be owner"):
            cursor.execute(f"DROP TABLE {READINGS}_p{partitions.add_months(far, 1):%Y%m}")
        cursor.execute("ROLLBACK TO SAVEPOINT refused")
        cursor.execute("RESET ROLE")
    assert not TemperatureReport.objects.filter(pk=early.pk).exists()


@postgresql_only
@pytest.mark.parametrize(
    "call",
    [
        "SELECT epigrid_partition_drop('people_person'::regclass)",  # not a partition
        f"SELECT epigrid_partition_drop('{READINGS}_default'::regclass)",  # not a month
        f"SELECT epigrid_partition_drop('{READINGS}'::regclass)",  # the whole table
        "SELECT epigrid_partition_month('people_person'::regclass, '2031-01-01', 'Asia/Shanghai')",
        "SELECT epigrid_partition_month('core_auditevent'::regclass, '2031-01-01', 'Asia/Shanghai')",
    ],
)
def test_the_functions_touch_nothing_but_monthly_partitions(db, call):
    with connection.cursor() as cursor, pytest.raises(ProgrammingError, match="of ours"):
        cursor.execute(call)


def test_beat_runs_ensure_daily(db, settings):
    from epigrid.core.tasks import partitions_ensure

    entry = settings.CELERY_BEAT_SCHEDULE["partitions"]
    assert entry["task"] == partitions_ensure.name == "epigrid.partitions_ensure"
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {50}
    created = partitions_ensure()
    ahead = partitions.add_months(partitions.month_start(timezone.localdate()), settings.PARTITIONS_MONTHS_AHEAD)
    if connection.vendor == "postgresql":
        for table in (READINGS, PASSAGES):
            assert ahead in partitions.partitions(table)
        assert partitions_ensure() == []  # the next day: nothing more
    else:
        assert created == []
