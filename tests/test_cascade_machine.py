"""Cascades under random use: a hypothesis state machine drives tips, orders, exposures, positive
results, consultations, transfers, releases, epidemic points and rule changes — by any user,
allowed or not — and checks after every step what the code promises (ARCHITECTURE "Cascades"):

- a confirmed case is never without its activation;
- an epidemic point not released has its activation in force, and its tied orders were ended by
  nobody but a person's own decision (or moved on to a stronger measure);
- a released point has no tied order still in force, and suspends no household's exit;
- a household's exit is suspended by a point exactly while a point covers it;
- a close activation has no point left under closed management;
- at most one order is in force per person;
- a close contact of a confirmed case is under centralized quarantine (or stronger) unless a
  person ended or changed their order by hand;
- a refused call (403, 404, an illegal move) writes nothing at all.

Every example runs in a savepoint of one test's transaction, rolled back at its end."""

import datetime as dt
import itertools

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from epigrid.control import services as control
from epigrid.control.choices import OrderKind, OrderReason, OrderStatus
from epigrid.control.models import ControlOrder, KeyPerson
from epigrid.core.errors import DomainError
from epigrid.gates import services as gates
from epigrid.gates.choices import RefusalReason
from epigrid.health import services as health
from epigrid.health.choices import CaseStatus
from epigrid.health.models import Case
from epigrid.people import services as people_services
from epigrid.people.models import Household, Person
from epigrid.response import services as response
from epigrid.response.choices import ActivationStatus, PointStatus
from epigrid.response.models import Activation, EpidemicPoint, Exposure, PointOrder, Task
from tests.factories import make_id_number
from tests.test_cascades import build_scene, snapshot

KINDS = [k.value for k in OrderKind]
SITE = {OrderKind.CENTRALIZED_QUARANTINE: "集中隔离点", OrderKind.HOSPITAL_ISOLATION: "济南市传染病医院"}
STRENGTH = {
    OrderKind.HEALTH_MONITORING: 0,
    OrderKind.HOME_QUARANTINE: 1,
    OrderKind.CENTRALIZED_QUARANTINE: 2,
    OrderKind.HOSPITAL_ISOLATION: 3,
}
# Who acts: allowed and refused roles alike, on both compounds (filled in by the test).
ACTORS = ["commander", "liaison1", "liaison2", "staff", "secretary", "head1", "head2", "member1", "inspector"]
# Consultations and point decisions: mostly by those who may, sometimes by those who may not.
CONFIRMING = ["commander", "liaison1", "liaison1", "liaison2", "member1", "staff", "head2"]
DECIDING = ["commander", "commander", "commander", "secretary", "head1", "head2", "liaison1"]
PERSONS = ["p1", "p1b", "p1c", "p1c2", "p1d", "p2", "p2b"]
HOUSEHOLDS = ["h1", "h1c", "h1d", "h2", "h2b"]
_specimens = itertools.count(1)


class CascadeMachine(RuleBasedStateMachine):
    scene = None  # set by the test before running

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint_create()
        self.now = timezone.now()
        # Persons whose order someone released or moved by hand: the close-contact rule is
        # not re-applied to them until their next exposure.
        self.by_hand: set[int] = set()
        # Orders a person released by hand (early release of a point's order is allowed).
        self.released_by_hand: set[int] = set()

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # ------------------------------------------------------------ helpers

    def user(self, name):
        return self.scene.users[name] if name in self.scene.users else getattr(self.scene, name)

    def person(self, key) -> Person:
        return Person.objects.select_related("grid").get(pk=self.scene.persons[key].pk)

    def attempt(self, name, call):
        """Run a service call; a refusal must leave everything as it was."""
        before = snapshot()
        try:
            result = call()
        except DomainError as error:
            assert snapshot() == before
            event(f"{name}: refused ({error.status})")
            return None
        event(f"{name}: done")
        return result

    # ------------------------------------------------------------ rules

    @initialize(confirmed=st.sampled_from([[], ["p1"], ["p1", "p2"]]))
    def start(self, confirmed):
        """Half the runs start with 张三 (and maybe 王五 of the other compound) confirmed."""
        for key in confirmed:
            self.positive_result(key)
            case = Case.objects.get(person=self.scene.persons[key])
            health.consultation_record(
                case=case, held_at=self.now, experts="专家组", conclusion="confirmed", principal=self.scene.admin
            )

    @precondition(lambda self: KeyPerson.objects.count() < len(PERSONS))
    @rule(who=st.sampled_from(PERSONS), by=st.sampled_from(ACTORS))
    def tip(self, who, by):
        self.attempt(
            "tip",
            lambda: control.tip_record(
                persons=[self.person(who)],
                reported_at=self.now - dt.timedelta(hours=2),
                reporter="网格员",
                origin_code="420600",
                travel_mode="self_drive",
                principal=self.user(by),
            ),
        )

    @rule(who=st.sampled_from(PERSONS), kind=st.sampled_from(KINDS), by=st.sampled_from(ACTORS))
    def start_order(self, who, kind, by):
        self.attempt(
            "order",
            lambda: control.control_order_start(
                person=self.person(who),
                kind=kind,
                reason=OrderReason.OTHER,
                site=SITE.get(kind, ""),
                principal=self.user(by),
            ),
        )

    @rule(household=st.sampled_from(HOUSEHOLDS), by=st.sampled_from(ACTORS))
    def start_household_order(self, household, by):
        self.attempt(
            "household order",
            lambda: control.control_orders_start_household(
                household=Household.objects.get(pk=self.scene.households[household].pk),
                kind=OrderKind.HOME_QUARANTINE,
                reason=OrderReason.RISK_AREA_ARRIVAL,
                principal=self.user(by),
            ),
        )

    @rule(
        source=st.sampled_from(PERSONS),
        contact=st.sampled_from(PERSONS),
        degree=st.sampled_from(["close", "secondary"]),
        hours_ago=st.integers(1, 96),
        by=st.sampled_from(ACTORS),
    )
    def exposure(self, source, contact, degree, hours_ago, by):
        done = self.attempt(
            "exposure",
            lambda: response.exposure_record(
                source=self.person(source),
                contact=self.person(contact),
                last_exposure_at=self.now - dt.timedelta(hours=hours_ago),
                degree=degree,
                principal=self.user(by),
            ),
        )
        if done is not None:
            self.by_hand.discard(self.scene.persons[contact].pk)

    @rule(who=st.sampled_from(PERSONS))
    def positive_result(self, who):
        person = self.person(who)
        specimen = f"M-{next(_specimens)}"
        admin = self.scene.admin
        health.sample_record(
            person=person, specimen_number=specimen, sampled_at=self.now - dt.timedelta(days=1), principal=admin
        )
        health.results_record(results=[health.ResultIn(specimen, "positive", self.now)], principal=admin)

    def _case(self, index):
        cases = list(Case.objects.select_related("grid").order_by("pk"))
        return cases[index % len(cases)] if cases else None

    @precondition(lambda self: Case.objects.exists())
    @rule(
        index=st.integers(0, 6),
        conclusion=st.sampled_from(["confirmed", "confirmed", "excluded"]),
        by=st.sampled_from(CONFIRMING),
    )
    def consultation(self, index, conclusion, by):
        case = self._case(index)
        self.attempt(
            "consultation",
            lambda: health.consultation_record(
                case=case, held_at=self.now, experts="专家组", conclusion=conclusion, principal=self.user(by)
            ),
        )

    def _order(self, index):
        orders = list(ControlOrder.objects.open().select_related("grid").order_by("pk"))
        return orders[index % len(orders)] if orders else None

    @precondition(lambda self: ControlOrder.objects.open().exists())
    @rule(index=st.integers(0, 6), kind=st.sampled_from(KINDS), by=st.sampled_from(ACTORS))
    def transfer(self, index, kind, by):
        order = self._order(index)
        done = self.attempt(
            "transfer",
            lambda: control.control_order_transfer(
                order=order, kind=kind, reason=OrderReason.OTHER, site=SITE.get(kind, ""), principal=self.user(by)
            ),
        )
        if done is not None:
            self.by_hand.add(order.person_id)

    @precondition(lambda self: ControlOrder.objects.open().exists())
    @rule(index=st.integers(0, 6), early=st.booleans(), by=st.sampled_from(ACTORS))
    def release_order(self, index, early, by):
        order = self._order(index)
        done = self.attempt(
            "order release",
            lambda: control.control_order_release(
                order=order, early_reason="误判" if early else "", principal=self.user(by)
            ),
        )
        if done is not None:
            self.by_hand.add(order.person_id)
            self.released_by_hand.add(order.pk)

    @rule(days_ahead=st.integers(0, 30))
    def orders_sweep(self, days_ahead):
        control.control_orders_propose_release(now=self.now + dt.timedelta(days=days_ahead))

    @rule(
        kind=st.sampled_from(KINDS),
        reason=st.sampled_from(["", OrderReason.CLOSE_CONTACT, OrderReason.EPIDEMIC_POINT]),
        days=st.integers(1, 28),
        by=st.sampled_from(["commander", "secretary", "member1"]),
    )
    def rule_change(self, kind, reason, days, by):
        self.attempt(
            "rule change",
            lambda: control.control_rule_save(
                kind=kind, reason=reason, days=days, requires_negative_test=False, principal=self.user(by)
            ),
        )

    def _point(self, index):
        points = list(EpidemicPoint.objects.select_related("grid").order_by("pk"))
        return points[index % len(points)] if points else None

    @precondition(lambda self: EpidemicPoint.objects.exists())
    @rule(index=st.integers(0, 3), days_ago=st.sampled_from([1, 16, 16]), by=st.sampled_from(DECIDING))
    def point_update(self, index, days_ago, by):
        point = self._point(index)
        moment = self.now - dt.timedelta(days=days_ago)
        self.attempt(
            "point update",
            lambda: response.point_update(
                point=point, last_case_left_at=moment, disinfected_at=moment, principal=self.user(by)
            ),
        )

    @precondition(lambda self: EpidemicPoint.objects.exclude(status=PointStatus.RELEASED).exists())
    @rule(index=st.integers(0, 3), by=st.sampled_from(["commander", "commander", "secretary", "head2"]))
    def point_runs_its_course(self, index, by):
        """The case left and the compound was disinfected 16 days ago: the sweep proposes, and
        someone tries to approve."""
        point = self._point(index)
        if point.status != PointStatus.RELEASED:
            moment = self.now - dt.timedelta(days=16)
            response.point_update(
                point=point, last_case_left_at=moment, disinfected_at=moment, principal=self.scene.admin
            )
        response.points_propose_release(now=self.now)
        self.point_release(index, by)

    @precondition(lambda self: EpidemicPoint.objects.exists())
    @rule()
    def points_sweep(self):
        response.points_propose_release(now=self.now)

    @precondition(lambda self: EpidemicPoint.objects.exists())
    @rule(index=st.integers(0, 3), by=st.sampled_from(DECIDING))
    def point_release(self, index, by):
        point = self._point(index)
        self.attempt("point release", lambda: response.point_release(point=point, principal=self.user(by)))

    # Any point, released ones too: those refuse (a released point takes no more households).
    @precondition(lambda self: EpidemicPoint.objects.exists())
    @rule(index=st.integers(0, 3), household=st.sampled_from(HOUSEHOLDS), by=st.sampled_from(DECIDING))
    def point_households(self, index, household, by):
        point = self._point(index)
        self.attempt(
            "point households",
            lambda: response.point_quarantine_households(
                point=point,
                households=[Household.objects.get(pk=self.scene.households[household].pk)],
                principal=self.user(by),
            ),
        )

    # ------------------------------------------------------------ invariants

    @invariant()
    def no_confirmed_case_without_its_activation(self):
        assert not response.activations_missing().exists()
        for case in Case.objects.filter(status=CaseStatus.CONFIRMED):
            assert case.activations.exists()

    @invariant()
    def every_activation_has_its_plan_tasks(self):
        for activation in Activation.objects.all():
            assert Task.objects.filter(activation=activation).count() == activation.plan.steps.count()
            assert activation.points.exists()

    @invariant()
    def open_points_have_their_activation_and_orders(self):
        for point in EpidemicPoint.objects.exclude(status=PointStatus.RELEASED).select_related("activation"):
            assert point.activation.status == ActivationStatus.ACTIVE and point.activation.closed_at is None
            for link in PointOrder.objects.filter(point=point).select_related("order"):
                order = link.order
                assert (
                    order.status in (OrderStatus.ACTIVE, OrderStatus.RELEASE_PROPOSED, OrderStatus.TRANSFERRED)
                    or order.pk in self.released_by_hand
                ), (order.pk, order.status)

    @invariant()
    def released_points_leave_no_order_in_force(self):
        assert not response.points_released_unfinished().exists()

    @invariant()
    def closed_activations_have_no_point_in_force(self):
        for activation in Activation.objects.filter(status=ActivationStatus.CLOSED):
            assert not activation.points.exclude(status=PointStatus.RELEASED).exists()

    @invariant()
    def exits_are_suspended_exactly_while_a_point_covers_the_household(self):
        for household in Household.objects.select_related("grid"):
            covered = (
                EpidemicPoint.objects.filter(grid__path__in=household.grid.lineage_paths)
                .exclude(status=PointStatus.RELEASED)
                .exists()
            )
            assert response.household_closed_by_point(household) == (RefusalReason.EPIDEMIC_POINT if covered else None)
            home = ControlOrder.objects.open().filter(person__household=household, kind=OrderKind.HOME_QUARANTINE)
            if not home.exists():
                expected = RefusalReason.EPIDEMIC_POINT if covered else None
                assert (gates.exit_suspensions([household.pk])[household.pk] or None) == expected

    @invariant()
    def one_order_in_force_per_person(self):
        for key in PERSONS:
            assert ControlOrder.objects.open().filter(person=self.scene.persons[key]).count() <= 1

    @invariant()
    def close_contacts_of_confirmed_cases_are_quarantined(self):
        confirmed = Case.objects.filter(status=CaseStatus.CONFIRMED).values("person_id")
        contacts = set(
            Exposure.objects.filter(degree="close", source__in=confirmed).values_list("contact_id", flat=True)
        )
        for person_id in contacts - self.by_hand:
            order = ControlOrder.objects.open().filter(person_id=person_id).first()
            assert order is not None, person_id
            assert STRENGTH[order.kind] >= STRENGTH[OrderKind.CENTRALIZED_QUARANTINE], (person_id, order.kind)


@pytest.fixture
def machine_scene(world):
    from epigrid.accounts import services as account_services
    from epigrid.accounts.choices import Role
    from tests.factories import fresh, make_user

    scene = build_scene(world)
    liaison2 = make_user("liaison2")
    account_services.grid_assignment_create(
        node=world.nodes["S-C-G2"], user=liaison2, role=Role.MEDICAL_LIAISON, duties=(), principal=world.admin
    )
    world.users["liaison1"] = scene.liaison
    world.users["liaison2"] = fresh(liaison2)
    scene.households["h2b"] = people_services.household_create(
        grid=world.nodes["S-C-G2-B1"], number="2-202", address="S-C-G2-B1 2-202", principal=world.admin
    )
    scene.persons["p2b"] = people_services.person_create(
        name="孙八", id_number=make_id_number(), household=scene.households["h2b"], principal=world.admin
    )
    return scene


def test_cascades_keep_their_promises_under_random_use(machine_scene):
    CascadeMachine.scene = machine_scene
    run_state_machine_as_test(
        CascadeMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
