import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epigrid.alerts.choices import AlertKind, EscalationLevel
from epigrid.alerts.models import Alert
from epigrid.alerts.services import alerts_escalate_due
from epigrid.control import services as control
from epigrid.control.choices import OrderKind, OrderReason
from epigrid.core.errors import DomainError, RowErrors
from epigrid.health import services
from epigrid.health.models import MonitoringPolicy, TemperatureReport
from epigrid.health.services import Reading

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(y, m, d, hh, mm=0):
    return dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@given(st.decimals(min_value=Decimal("34.0"), max_value=Decimal("43.0"), places=1))
def test_valid_temperatures_parse(value):
    assert services.parse_temperature(str(value)) == value
    assert services.parse_temperature(float(value)) == value


@given(
    st.one_of(
        st.decimals(max_value=Decimal("33.9"), places=1, allow_nan=False, allow_infinity=False),
        st.decimals(min_value=Decimal("43.1"), places=1, allow_nan=False, allow_infinity=False),
    )
)
def test_out_of_range_is_refused(value):
    with pytest.raises(DomainError) as excinfo:
        services.parse_temperature(str(value))
    assert excinfo.value.code == "temperature_range"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("36,5", "temperature_comma"),
        ("36，5", "temperature_comma"),
        ("NaN", "temperature_invalid"),
        (float("nan"), "temperature_invalid"),
        (float("inf"), "temperature_invalid"),
        ("abc", "temperature_invalid"),
        ("", "temperature_invalid"),
        (None, "temperature_required"),
        (True, "temperature_required"),
        ("Infinity", "temperature_invalid"),
    ],
)
def test_bad_temperatures_have_clear_codes(raw, code):
    with pytest.raises(DomainError) as excinfo:
        services.parse_temperature(raw)
    assert excinfo.value.code == code


@pytest.mark.django_db
def test_slots_are_local_days():
    pol = MonitoringPolicy.objects.get_or_create(pk=1)[0]
    assert services.slot_of(at(2020, 2, 1, 8, 0), pol) == (dt.date(2020, 2, 1), 0)
    assert services.slot_of(at(2020, 2, 1, 6, 31), pol) == (dt.date(2020, 2, 1), 0)
    assert services.slot_of(at(2020, 2, 1, 6, 29), pol) == (dt.date(2020, 2, 1), None)
    assert services.slot_of(at(2020, 2, 1, 21, 30), pol) == (dt.date(2020, 2, 1), 3)
    # 23:50 and 00:10 Shanghai time: different days, whatever UTC says (23:50 is 15:50 UTC).
    assert services.slot_of(at(2020, 2, 1, 23, 50), pol) == (dt.date(2020, 2, 1), None)
    assert services.slot_of(at(2020, 2, 2, 0, 10), pol) == (dt.date(2020, 2, 2), None)
    # With a midnight slot the 23:50 reading belongs to the next day's first slot.
    pol.slot_times = ["00:00", "06:00", "12:00", "18:00"]
    assert services.slot_of(at(2020, 2, 1, 23, 50), pol) == (dt.date(2020, 2, 2), 0)
    assert services.slot_of(at(2020, 2, 2, 0, 10), pol) == (dt.date(2020, 2, 2), 0)


@pytest.fixture
def quarantined(world):
    person = world.persons["p1"]
    control.control_order_start(
        person=person,
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.OTHER,
        starts_at=at(2020, 1, 27, 0, 0),
        principal=world.admin,
    )
    return person


def test_batch_is_stored_once_however_often_it_is_sent(world, quarantined):
    now = at(2020, 2, 1, 12, 30)
    batch = [
        Reading(quarantined.pk, "36.6", at(2020, 2, 1, 8, 5), uuid.uuid4()),
        Reading(quarantined.pk, "36.8", at(2020, 2, 1, 12, 1), uuid.uuid4()),
    ]
    results = [
        services.temperature_reports_record(readings=batch, source="device", principal=world.users["member1"], now=now)
        for _ in range(5)
    ]
    assert results[0].stored == 2 and all(r.stored == 0 and r.duplicates == 2 for r in results[1:])
    assert TemperatureReport.objects.count() == 2
    report = TemperatureReport.objects.get(slot=0)
    assert report.local_date == dt.date(2020, 2, 1) and report.received_at == now
    assert report.measured_at == at(2020, 2, 1, 8, 5)  # device time kept beside server time


def test_a_bad_row_refuses_the_batch(world, quarantined):
    now = at(2020, 2, 1, 12, 30)
    batch = [
        Reading(quarantined.pk, "36.6", now, uuid.uuid4()),
        Reading(quarantined.pk, "36,6", now, uuid.uuid4()),
        Reading(world.persons["p2"].pk, "36.6", now, uuid.uuid4()),
        Reading(quarantined.pk, "36.6", now + dt.timedelta(hours=1), uuid.uuid4()),
    ]
    with pytest.raises(RowErrors) as excinfo:
        services.temperature_reports_record(readings=batch, source="device", principal=world.users["member1"], now=now)
    assert [(r["index"], r["code"]) for r in excinfo.value.rows] == [
        (1, "temperature_comma"),
        (2, "person_not_found"),
        (3, "measured_in_future"),
    ]
    assert TemperatureReport.objects.count() == 0


def test_fever_raises_one_urgent_alert_for_the_liaison(world, quarantined):
    control.team_member_add(
        household=quarantined.household, user=world.users["member1"], role="liaison", principal=world.admin
    )
    reading = Reading(quarantined.pk, "37.3", at(2020, 2, 1, 8, 0), uuid.uuid4())
    for _ in range(2):
        services.temperature_reports_record(
            readings=[reading], source="liaison", principal=world.users["member1"], now=at(2020, 2, 1, 8, 1)
        )
    alert = Alert.objects.get(kind=AlertKind.FEVER)
    assert alert.owner == world.users["member1"] and alert.severity == "urgent" and alert.person == quarantined
    services.temperature_reports_record(
        readings=[Reading(quarantined.pk, "37.2", at(2020, 2, 1, 12, 0))],
        source="liaison",
        principal=world.users["member1"],
        now=at(2020, 2, 1, 12, 1),
    )
    assert Alert.objects.filter(kind=AlertKind.FEVER).count() == 1


def test_missed_slot_sweep_at_the_boundary(world, quarantined):
    # Slot 08:00 ± 90 min closes at 09:30 Shanghai time.
    assert services.missed_slot_alerts_raise(day=dt.date(2020, 2, 1), slot=0, now=at(2020, 2, 1, 9, 29)) == 0
    services.temperature_reports_record(
        readings=[Reading(world.persons["p1"].pk, "36.5", at(2020, 2, 1, 9, 0))],
        source="liaison",
        principal=world.users["member1"],
        now=at(2020, 2, 1, 9, 0),
    )
    control.control_order_start(
        person=world.persons["p2"],
        kind=OrderKind.HEALTH_MONITORING,
        reason=OrderReason.OTHER,
        starts_at=at(2020, 1, 30, 0, 0),
        principal=world.admin,
    )
    assert services.missed_slot_alerts_raise(day=dt.date(2020, 2, 1), slot=0, now=at(2020, 2, 1, 9, 31)) == 1
    assert services.missed_slot_alerts_raise(day=dt.date(2020, 2, 1), slot=0, now=at(2020, 2, 1, 9, 40)) == 0
    alert = Alert.objects.get(kind=AlertKind.MISSED_SLOT)
    assert alert.person == world.persons["p2"] and alert.owner == world.users["member2"]
    assert alert.dedup_key == f"missed:2020-02-01:0:{world.persons['p2'].pk}"
    # Not acknowledged in time: it climbs to the grid head, then the community.
    assert alerts_escalate_due(now=alert.due_at + dt.timedelta(seconds=1)) == 1
    alert.refresh_from_db()
    assert alert.level == EscalationLevel.GRID_HEAD and alert.owner == world.users["head2"]
    alerts_escalate_due(now=alert.due_at + dt.timedelta(seconds=1))
    alert.refresh_from_db()
    assert alert.level == EscalationLevel.COMMUNITY and alert.owner == world.users["secretary"]


def test_person_who_started_after_the_slot_is_not_missed(world):
    control.control_order_start(
        person=world.persons["p2"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.OTHER,
        starts_at=at(2020, 2, 1, 10, 0),
        principal=world.admin,
    )
    assert services.missed_slots_sweep(now=at(2020, 2, 1, 13, 31)) == 1  # 12:00 only, not 08:00


def test_the_sweep_locks_the_audit_head_only_after_every_slot_is_written(world, quarantined):
    """The audit chain's head is locked from an append to the commit, and every audited write in
    the city (a gate scan, a report) waits for it: the sweep appends its slots' rows last, so the
    head is not held through the other slots' INSERTs (seconds each for a city)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from epigrid.core.models import AuditChainHead, AuditEvent

    before = AuditEvent.objects.filter(action="sweep.missed_slots").count()
    with CaptureQueriesContext(connection) as queries:
        # 2020-02-01 20:00: yesterday's four slots and today's three closed windows, all missed.
        raised = services.missed_slots_sweep(now=at(2020, 2, 1, 20, 0))
    assert raised == 7 and Alert.objects.filter(kind=AlertKind.MISSED_SLOT, person=quarantined).count() == 7
    events = AuditEvent.objects.filter(action="sweep.missed_slots").order_by("id")
    assert events.count() == before + 7
    assert {(e.changes["day"][1], e.changes["slot"][1]) for e in events} == {
        *(("2020-01-31", slot) for slot in range(4)),
        *(("2020-02-01", slot) for slot in range(3)),
    }
    sql = [q["sql"] for q in queries.captured_queries]
    head = AuditChainHead._meta.db_table
    head_locked = next(i for i, statement in enumerate(sql) if head in statement)
    assert not any("alerts_alert" in statement for statement in sql[head_locked:])
    assert services.missed_slots_sweep(now=at(2020, 2, 1, 20, 5)) == 0  # a rerun adds nothing


def test_resident_link(world, quarantined):
    token = services.resident_link_issue(person=quarantined, principal=world.users["member1"])
    assert services.resident_link_person(token) == quarantined
    new = services.resident_link_issue(person=quarantined, principal=world.users["member1"])
    assert services.resident_link_person(token) is None and services.resident_link_person(new) == quarantined
    assert services.resident_link_token(person=quarantined) == new


def test_a_batch_says_who_took_its_readings(world):
    """The offline queue sends a grid member's readings as the liaison's, not a device's; any other
    source is refused (a batch cannot pass readings off as the resident's own or the gate's)."""
    from tests.factories import api

    call = api(world, "head1")
    person = world.persons["p1"]
    now = dt.datetime.now(dt.UTC)

    def batch(minutes, **more):
        row = {
            "person_id": person.pk,
            "value": "36.4",
            "measured_at": (now - dt.timedelta(minutes=minutes)).isoformat(),
            "client_id": str(uuid.uuid4()),
        }
        return call("post", "/api/v1/temperatures/batch", {"readings": [row], **more})

    assert batch(5, source="liaison").status_code == 200
    assert batch(3).status_code == 200
    assert batch(1, source="self").status_code == 422
    sources = list(
        TemperatureReport.objects.filter(person=person).order_by("measured_at").values_list("source", flat=True)
    )
    assert sources == ["liaison", "device"]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.datetimes(
            min_value=dt.datetime(2020, 1, 25), max_value=dt.datetime(2020, 2, 3), timezones=st.just(SHANGHAI)
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([["08:00", "12:00", "16:00", "20:00"], ["00:00", "06:00", "12:00", "18:00"], ["07:30", "09:00"]]),
    st.sampled_from([10, 45, 90, 240]),
)
def test_batch_slots_are_those_of_one_reading(moments, slot_times, window):
    # The ingest places a batch by bisection: each reading lands where slot_of puts it alone.
    pol = MonitoringPolicy(slot_times=slot_times, window_minutes=window)
    assert services.slots_of(moments, pol) == [services.slot_of(m, pol) for m in moments]


def test_resent_and_new_readings_in_one_batch(world, quarantined):
    # A batch mixing a resent client id with new ones stores only the new, alerts on their fevers.
    now = at(2020, 2, 1, 12, 30)
    old = Reading(quarantined.pk, "37.5", at(2020, 2, 1, 8, 5), uuid.uuid4())
    first = services.temperature_reports_record(readings=[old], source="device", principal=world.admin, now=now)
    assert (first.stored, first.fevers) == (1, 1)
    again = services.temperature_reports_record(
        readings=[old, Reading(quarantined.pk, "37.9", at(2020, 2, 1, 12, 1), uuid.uuid4())],
        source="device",
        principal=world.admin,
        now=now,
    )
    assert (again.stored, again.duplicates, again.fevers) == (1, 1, 1)
    assert Alert.objects.filter(kind=AlertKind.FEVER, person=quarantined).count() == 2
    assert sorted(TemperatureReport.objects.values_list("slot", flat=True)) == [0, 1]
