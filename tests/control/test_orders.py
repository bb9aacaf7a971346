import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epigrid.control import services
from epigrid.control.choices import ORDER_TRANSITIONS, KeyPersonStatus, OrderKind, OrderReason, OrderStatus
from epigrid.control.models import ControlOrder
from epigrid.core.errors import Conflict, DomainError, Forbidden
from epigrid.core.models import AuditEvent
from epigrid.oversight.selectors import coverage_audit

T0 = dt.datetime(2020, 1, 26, 16, 0, tzinfo=dt.UTC)


def test_risk_area_matching(world):
    services.risk_area_save(code="420000", principal=world.admin)
    services.risk_area_save(code="420600", principal=world.admin)
    assert services.risk_area_match("420602").name == "湖北省襄阳市"
    assert services.risk_area_match("421000").name == "湖北省"
    assert services.risk_area_match("370102") is None
    services.risk_area_save(code="420000", active=False, principal=world.admin)
    assert services.risk_area_match("421000") is None
    with pytest.raises(DomainError):
        services.risk_area_save(code="4206", principal=world.admin)


def test_tip_to_control_for_a_family(world):
    services.risk_area_save(code="420600", principal=world.admin)
    family = [world.persons["p1"], world.persons["p1b"]]
    tip = services.tip_record(
        persons=family,
        reported_at=T0,
        reporter="网格员 member1",
        origin_code="420602",
        travel_mode="self_drive",
        expected_arrival_at=T0 + dt.timedelta(hours=5),
        principal=world.users["member1"],
    )
    assert tip.risk_area.name == "湖北省襄阳市" and tip.origin_name.startswith("湖北省襄阳市")
    assert [kp.status for kp in tip.key_persons.all()] == [KeyPersonStatus.REPORTED] * 2
    orders = services.control_orders_start_household(
        household=world.households["h1"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        starts_at=T0 + dt.timedelta(hours=6),
        principal=world.users["head1"],
    )
    assert len(orders) == 2
    assert all(o.ends_at == T0 + dt.timedelta(hours=6, days=14) for o in orders)
    key_persons = list(tip.key_persons.all())
    assert {kp.status for kp in key_persons} == {KeyPersonStatus.CONTROLLED}
    assert all(kp.controlled_at >= tip.reported_at for kp in key_persons)
    # The grid member may register the tip but not impose the order.
    with pytest.raises(Forbidden):
        services.control_order_start(
            person=world.persons["p1"],
            kind=OrderKind.HOME_QUARANTINE,
            reason=OrderReason.OTHER,
            principal=world.users["member1"],
        )


def test_period_counts_from_last_exposure_and_rules_are_configurable(world):
    services.control_rule_save(
        kind=OrderKind.CENTRALIZED_QUARANTINE,
        reason=OrderReason.CLOSE_CONTACT,
        days=21,
        requires_negative_test=True,
        principal=world.admin,
    )
    exposure = T0 - dt.timedelta(days=3)
    order = services.control_order_start(
        person=world.persons["p2"],
        kind=OrderKind.CENTRALIZED_QUARANTINE,
        reason=OrderReason.CLOSE_CONTACT,
        site="集中隔离点A",
        starts_at=T0,
        last_exposure_at=exposure,
        principal=world.admin,
    )
    assert order.days == 21 and order.ends_at == exposure + dt.timedelta(days=21)
    assert order.requires_negative_test
    with pytest.raises(DomainError):  # a site is required
        services.control_order_transfer(
            order=order, kind=OrderKind.HOSPITAL_ISOLATION, reason=OrderReason.POSITIVE_TEST, principal=world.admin
        )


def test_one_open_order_per_person(world):
    person = world.persons["p2"]
    services.control_order_start(
        person=person, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, principal=world.admin
    )
    with pytest.raises(Conflict):
        services.control_order_start(
            person=person, kind=OrderKind.HEALTH_MONITORING, reason=OrderReason.OTHER, principal=world.admin
        )


def test_release_needs_a_proposal_and_an_approver(world):
    order = services.control_order_start(
        person=world.persons["p2"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.OTHER,
        starts_at=T0,
        principal=world.admin,
    )
    with pytest.raises(DomainError) as excinfo:
        services.control_order_release(order=order, principal=world.users["secretary"])
    assert excinfo.value.code == "release_not_proposed"
    assert services.control_orders_propose_release(now=T0 + dt.timedelta(days=13)) == 0
    assert services.control_orders_propose_release(now=T0 + dt.timedelta(days=14)) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASE_PROPOSED
    with pytest.raises(Forbidden):  # a grid head may not approve
        services.control_order_release(order=order, principal=world.users["head2"])
    released = services.control_order_release(order=order, principal=world.users["secretary"])
    assert released.status == OrderStatus.RELEASED and released.released_by == world.users["secretary"]
    assert services.control_order_release(order=released, principal=world.users["secretary"]).pk == order.pk


def test_negative_test_condition_holds_back_the_proposal(world):
    from epigrid.health import services as health

    services.control_rule_save(
        kind=OrderKind.HOME_QUARANTINE, reason="", days=14, requires_negative_test=True, principal=world.admin
    )
    person = world.persons["p2"]
    order = services.control_order_start(
        person=person, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, starts_at=T0, principal=world.admin
    )
    assert services.control_orders_propose_release(now=T0 + dt.timedelta(days=15)) == 0
    health.sample_record(
        person=person, specimen_number="S-1", sampled_at=T0 + dt.timedelta(days=12), principal=world.admin
    )
    health.results_record(
        results=[health.ResultIn("S-1", "negative", T0 + dt.timedelta(days=13))], principal=world.admin
    )
    assert services.control_orders_propose_release(now=T0 + dt.timedelta(days=15)) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASE_PROPOSED


def test_transfer_carries_the_history(world):
    home = services.control_order_start(
        person=world.persons["p1"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        starts_at=T0,
        principal=world.admin,
    )
    hospital = services.control_order_transfer(
        order=home,
        kind=OrderKind.HOSPITAL_ISOLATION,
        reason=OrderReason.POSITIVE_TEST,
        site="济南市传染病医院",
        transport="120负压救护车",
        at=T0 + dt.timedelta(days=11),
        principal=world.admin,
    )
    home.refresh_from_db()
    assert home.status == OrderStatus.TRANSFERRED and hospital.previous == home
    assert hospital.status == OrderStatus.ACTIVE and hospital.transport == "120负压救护车"
    with pytest.raises(DomainError):
        services.control_order_change_period(order=home, days=20, reason_text="x", principal=world.admin)


def test_extend_takes_back_a_proposal(world):
    order = services.control_order_start(
        person=world.persons["p2"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.OTHER,
        starts_at=timezone.now() - dt.timedelta(days=15),
        principal=world.admin,
    )
    services.control_orders_propose_release()
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASE_PROPOSED
    with pytest.raises(DomainError):
        services.control_order_change_period(order=order, days=21, reason_text="", principal=world.admin)
    order = services.control_order_change_period(
        order=order, days=21, reason_text="同住人出现症状", principal=world.admin
    )
    assert order.status == OrderStatus.ACTIVE and order.days == 21


def test_controlled_household_without_full_team_is_a_gap(world):
    services.control_order_start(
        person=world.persons["p2"], kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, principal=world.admin
    )
    report = coverage_audit(user=world.users["commander"])
    assert report.gap_counts == {"household_team_incomplete": 1}
    household = world.households["h2"]
    services.team_member_add(household=household, user=world.users["member2"], role="liaison", principal=world.admin)
    services.team_member_add(household=household, user=world.users["staff"], role="cadre", principal=world.admin)
    assert not coverage_audit(user=world.users["commander"]).ok
    services.team_member_add(household=household, user=world.users["medhead"], role="medical", principal=world.admin)
    assert coverage_audit(user=world.users["commander"]).ok


MOVES = ["extend", "shorten", "propose", "release", "release_early", "transfer", "start"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(MOVES), min_size=1, max_size=12))
def test_random_move_sequences_never_reach_an_illegal_state(world, moves):
    """Property: whatever the users try, statuses only follow TRANSITIONS, at most one order is
    open per person, and every status change has its audit record."""
    person = world.persons["p2"]
    now = timezone.now()
    principal = world.admin
    order = ControlOrder.objects.open().filter(person=person).first()
    for move in moves:
        order = ControlOrder.objects.open().filter(person=person).first() or order
        before = order.status if order else None
        try:
            if move == "start":
                order = services.control_order_start(
                    person=person,
                    kind=OrderKind.HOME_QUARANTINE,
                    reason=OrderReason.OTHER,
                    starts_at=now - dt.timedelta(days=10),
                    principal=principal,
                )
            elif order is None:
                continue
            elif move == "extend":
                order = services.control_order_change_period(
                    order=order, days=30, reason_text="延长", principal=principal
                )
            elif move == "shorten":
                order = services.control_order_change_period(
                    order=order, days=5, reason_text="缩短", principal=principal
                )
            elif move == "propose":
                services.control_orders_propose_release(now=now)
            elif move == "release":
                order = services.control_order_release(order=order, principal=principal)
            elif move == "release_early":
                order = services.control_order_release(order=order, early_reason="误判", principal=principal)
            elif move == "transfer":
                order = services.control_order_transfer(
                    order=order, kind=OrderKind.HEALTH_MONITORING, reason=OrderReason.OTHER, principal=principal
                )
        except (DomainError, Conflict):
            pass
        if order is not None:
            order.refresh_from_db()
            if before is not None and order.status != before and move != "start" and move != "transfer":
                assert order.status in ORDER_TRANSITIONS[before] or order.status == before
        assert ControlOrder.objects.open().filter(person=person).count() <= 1
    for changed in ControlOrder.objects.filter(person=person).exclude(status=OrderStatus.ACTIVE):
        assert AuditEvent.objects.filter(
            object_type="control.controlorder", object_id=str(changed.pk), action=f"control_order.{changed.status}"
        ).exists()
