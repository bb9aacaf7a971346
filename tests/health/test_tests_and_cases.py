import datetime as dt
import threading
import uuid

import pytest
from django.db import connection

from epigrid.alerts.choices import AlertKind
from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.control.choices import OrderKind, OrderReason
from epigrid.core.errors import Conflict, DomainError, Forbidden, RowErrors
from epigrid.core.models import AuditEvent
from epigrid.health import services
from epigrid.health.choices import CaseStatus, CodeColour
from epigrid.health.models import Case, Sample, TemperatureReport
from epigrid.health.selectors import health_code
from epigrid.people.models import Person

T = dt.datetime(2020, 2, 4, 2, 0, tzinfo=dt.UTC)


def test_test_list_from_a_selection(world):
    control.control_order_start(
        person=world.persons["p1"], kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, principal=world.admin
    )
    under_control = Person.objects.filter(control_orders__status="active")
    test_list = services.test_list_create(
        name="建新街道核酸测试名单",
        test_date=dt.date(2020, 2, 1),
        grid=world.nodes["S-C"],
        persons=under_control,
        principal=world.users["staff"],
    )
    assert list(test_list.persons.all()) == [world.persons["p1"]]
    whole = services.test_list_create(
        name="全员",
        test_date=dt.date(2020, 2, 1),
        grid=world.nodes["S-C"],
        persons=Person.objects.all(),
        principal=world.users["staff"],
    )
    assert whole.persons.count() == 3
    with pytest.raises(Forbidden):
        services.test_list_create(
            name="x",
            test_date=dt.date(2020, 2, 1),
            grid=world.nodes["S-C-G1"],
            persons=Person.objects.all(),
            principal=world.users["member1"],
        )


def test_sampling_and_results_are_idempotent_by_specimen(world):
    person = world.persons["p1"]
    first = services.sample_record(
        person=person, specimen_number="jn-0204-001", sampled_at=T, principal=world.users["member1"]
    )
    assert (
        services.sample_record(
            person=person, specimen_number="JN-0204-001", sampled_at=T, principal=world.users["member1"]
        )
        == first
    )
    with pytest.raises(Conflict):
        services.sample_record(
            person=world.persons["p1b"], specimen_number="JN-0204-001", sampled_at=T, principal=world.users["member1"]
        )
    result = services.ResultIn("JN-0204-001", "negative", T + dt.timedelta(days=2), "济南市疾控中心")
    assert services.results_record(results=[result], principal=world.users["staff"])["stored"] == 1
    assert services.results_record(results=[result], principal=world.users["staff"])["unchanged"] == 1
    with pytest.raises(RowErrors) as excinfo:
        services.results_record(
            results=[
                services.ResultIn("JN-0204-001", "positive", T),
                services.ResultIn("NOPE", "negative", T),
                services.ResultIn("JN-0204-001", "maybe", T),
            ],
            principal=world.users["staff"],
        )
    assert [r["code"] for r in excinfo.value.rows] == ["result_conflict", "specimen_unknown", "result_invalid"]


def test_positive_makes_a_suspected_case_and_an_urgent_alert(world):
    person = world.persons["p1"]
    services.sample_record(person=person, specimen_number="S-9", sampled_at=T, principal=world.admin)
    counts = services.results_record(
        results=[services.ResultIn("S-9", "positive", T + dt.timedelta(days=2), "济南市疾控中心")],
        principal=world.users["staff"],
    )
    assert counts["positive"] == 1
    case = Case.objects.get(person=person)
    assert case.status == CaseStatus.SUSPECTED
    alert = Alert.objects.get(kind=AlertKind.POSITIVE_TEST)
    assert alert.severity == "urgent" and alert.owner == world.users["commander"]
    assert health_code(person).colour == CodeColour.RED


def test_confirmation_needs_a_consultation_and_starts_the_plan_in_its_transaction(world):
    from epigrid.response.models import Activation, EpidemicPoint

    person = world.persons["p1"]
    services.sample_record(person=person, specimen_number="S-10", sampled_at=T, principal=world.admin)
    services.results_record(results=[services.ResultIn("S-10", "positive", T)], principal=world.admin)
    case = Case.objects.get(person=person)
    with pytest.raises(Forbidden):
        services.consultation_record(
            case=case, held_at=T, experts="专家组", conclusion="confirmed", principal=world.users["member1"]
        )
    with pytest.raises(DomainError):
        services.consultation_record(case=case, held_at=T, experts="", conclusion="confirmed", principal=world.admin)
    assert not Activation.objects.exists()
    services.consultation_record(
        case=case, held_at=T, experts="市级专家组", conclusion="confirmed", principal=world.admin
    )
    case.refresh_from_db()
    # No commit hook, no worker: the activation and its epidemic point exist when the call returns.
    assert case.status == CaseStatus.CONFIRMED
    activation = Activation.objects.get(cases=case)
    assert EpidemicPoint.objects.get(activation=activation).status == "closed"
    event = AuditEvent.objects.get(action="plan.activate")
    assert event.actor_label == "system:activation" and event.actor == world.admin


def test_health_code_explains_itself(world):
    person = world.persons["p2"]
    code = health_code(person)
    assert code.colour == CodeColour.GREEN and code.reasons
    control.tip_record(
        persons=[person],
        reported_at=T,
        reporter="社区",
        origin_code="420602",
        travel_mode="train",
        principal=world.admin,
    )
    assert health_code(person).colour == CodeColour.YELLOW
    control.control_order_start(
        person=person, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, principal=world.admin
    )
    code = health_code(person)
    assert code.colour == CodeColour.RED and any("quarantine" in r or "隔离" in r for r in code.reasons)


def test_health_code_rules_are_configurable(world, settings):
    person = world.persons["p2"]
    control.control_order_start(
        person=person, kind=OrderKind.HEALTH_MONITORING, reason=OrderReason.OTHER, principal=world.admin
    )
    assert health_code(person).colour == CodeColour.YELLOW
    settings.HEALTH_CODE_RULES = {OrderKind.HEALTH_MONITORING: CodeColour.RED}
    assert health_code(person).colour == CodeColour.RED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_resends_store_each_reading_once(settings):
    """Five devices resend the same batch at the same moment: each reading is stored once."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them anyway)")
    # The test settings' second reading of a compiled read is a new statement, so a new snapshot:
    # here it would see what another thread committed meanwhile (the policy row the first one makes).
    settings.EPIGRID_CHECK_COMPILED_READS = False
    from tests.factories import build_world

    world = build_world()
    control.control_order_start(
        person=world.persons["p1"], kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, principal=world.admin
    )
    now = dt.datetime.now(dt.UTC)
    batch = [
        services.Reading(world.persons["p1"].pk, "36.5", now - dt.timedelta(minutes=i), uuid.uuid4()) for i in range(20)
    ]
    errors, barrier = [], threading.Barrier(5)

    def send():
        try:
            barrier.wait()
            services.temperature_reports_record(readings=batch, source="device", principal=world.users["member1"])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert TemperatureReport.objects.count() == 20
    assert Sample.objects.count() == 0
