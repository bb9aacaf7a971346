"""`epigrid reconcile` (oversight/reconcile.py): hand-offs left half-done on purpose — the state
that data from before a rule, or a worker that was down, would leave — are listed by `--dry-run`
without a change, shown by the coverage audit as gaps, and completed by `reconcile`; the exit
code is 1 while something is left."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from epigrid.care.models import ServiceKind, ServiceSchedule, ServiceTask
from epigrid.control import services as control
from epigrid.control.choices import OrderKind, OrderReason, OrderStatus
from epigrid.control.models import ControlOrder
from epigrid.core.models import AuditEvent, OutboxMessage
from epigrid.core.transitions import move
from epigrid.gates.choices import RefusalReason
from epigrid.health.choices import CaseStatus
from epigrid.oversight.selectors import coverage_audit
from epigrid.response import services as response
from epigrid.response.choices import ActivationStatus, PointStatus
from epigrid.response.models import Activation, EpidemicPoint, PointOrder
from tests.test_cascades import api_client, broken, build_scene, open_order, snapshot  # noqa: F401 (broken: a fixture)


@pytest.fixture
def scene(world):
    return build_scene(world)


def reconcile(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("reconcile", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def gaps(user, kind: str) -> int:
    return coverage_audit(user=user).gap_counts.get(kind, 0)


# ---------------------------------------------------------------- half-done hand-offs


def _confirmed_without_its_response(scene):
    """张三's case confirmed by the bare mover, as data from before the rule would be: 赵六 was
    recorded as his close contact, but no activation, no point, no order followed."""
    case = scene.suspected(scene.persons["p1"])
    response.exposure_record(
        source=case.person,
        contact=scene.persons["p1c"],
        last_exposure_at=timezone.now() - dt.timedelta(days=1),
        principal=scene.admin,
    )
    move(case, CaseStatus.CONFIRMED, principal=scene.admin)
    assert not Activation.objects.exists() and open_order(scene.persons["p1c"]) is None
    return case


def _released_by_the_bare_mover(scene, *, households=()):
    """p1's compound confirmed, its point released by the bare mover (none of the release's
    follow-ups): `households` quarantined because of the point stay under their orders."""
    now = timezone.now()
    scene.confirmed(scene.persons["p1"], at=now - dt.timedelta(days=20))
    point = EpidemicPoint.objects.get()
    if households:
        response.point_quarantine_households(point=point, households=list(households), principal=scene.admin)
    response.point_update(
        point=point,
        last_case_left_at=now - dt.timedelta(days=19),
        disinfected_at=now - dt.timedelta(days=19),
        principal=scene.admin,
    )
    response.points_propose_release(now=now)
    move(point, PointStatus.RELEASED, principal=scene.admin, fields={"released_by": scene.admin})
    return point


def _released_point_with_its_orders_in_force(scene):
    """钱七's household, quarantined because of the point, is still under its orders and the
    activation is still open."""
    point = _released_by_the_bare_mover(scene, households=[scene.households["h1d"]])
    assert open_order(scene.persons["p1d"]) is not None
    return point


def _quarantined_household_without_services(scene):
    """赵六's household under home quarantine, its default services lost (ended by hand)."""
    control.control_orders_start_household(
        household=scene.households["h1c"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        principal=scene.admin,
    )
    ServiceSchedule.objects.filter(household=scene.households["h1c"]).update(ended_at=timezone.now())
    return scene.households["h1c"]


def _late_outbox_message(scene) -> OutboxMessage:
    """The household's services were set up, but the worker never wrote their occurrences: the
    hand-off has waited an hour."""
    control.control_orders_start_household(
        household=scene.households["h1c"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        principal=scene.admin,
    )
    message = OutboxMessage.objects.get(topic="care.materialize", done_at__isnull=True)
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    assert not ServiceTask.objects.exists()
    return message


# ---------------------------------------------------------------- confirmed case without its response


def test_a_confirmed_case_without_its_activation_is_completed(scene):
    case = _confirmed_without_its_response(scene)
    commander = scene.users["commander"]
    assert gaps(commander, "handoff_activation_missing") == 1
    assert gaps(scene.users["member1"], "handoff_activation_missing") == 1  # in 第1网格
    assert gaps(scene.users["member2"], "handoff_activation_missing") == 0  # not 第2网格's to see

    before = snapshot()
    code, out, _err = reconcile("--dry-run")
    assert code == 1
    assert "activation_missing: 1 unfinished" in out and str(case.pk) in out
    assert snapshot() == before

    code, out, err = reconcile("--user", "commander")
    assert (code, err) == (0, "")
    assert "activation_missing: 1 of 1 completed" in out
    # The emergency response now exists as the confirmation would have made it.
    activation = Activation.objects.get(cases=case)
    assert activation.grid == scene.nodes["S-C-G1"] and activation.status == ActivationStatus.ACTIVE
    assert activation.tasks.count() == 9 and not activation.tasks.filter(owner__isnull=True).exists()
    assert EpidemicPoint.objects.get(activation=activation).status == PointStatus.CLOSED
    assert open_order(scene.persons["p1c"]).kind == OrderKind.CENTRALIZED_QUARANTINE
    assert response.household_closed_by_point(scene.households["h1d"]) == RefusalReason.EPIDEMIC_POINT
    # Done as the system, for the operator who asked.
    done = AuditEvent.objects.get(action="reconcile.complete")
    assert (done.actor_label, done.actor) == ("system:reconcile", commander)
    assert done.changes == {"handoff": [None, "activation_missing"]}
    assert AuditEvent.objects.get(action="plan.activate").actor_label == "system:activation"

    assert gaps(commander, "handoff_activation_missing") == 0
    assert reconcile() == (0, "nothing unfinished\n", "")


def test_a_completed_confirmation_also_gets_the_compounds_services(scene):
    _confirmed_without_its_response(scene)
    assert reconcile()[0] == 0
    compound = scene.nodes["S-C-G1"]
    kinds = set(
        ServiceSchedule.objects.filter(grid=compound, household__isnull=True, ended_at__isnull=True).values_list(
            "kind", flat=True
        )
    )
    assert kinds == {ServiceKind.DISINFECTION, ServiceKind.GARBAGE}


def test_the_gap_of_a_confirmed_case_links_to_its_persons_file(scene):
    scene.suspected(scene.persons["p2"])  # an earlier case elsewhere: case and person ids differ
    case = scene.suspected(scene.persons["p1d"])
    move(case, CaseStatus.CONFIRMED, principal=scene.admin)
    assert case.pk != case.person_id
    report = coverage_audit(user=scene.users["commander"])
    (finding,) = [f for f in report.gaps if f.kind == "handoff_activation_missing"]
    assert finding.fix_url == reverse("people:person", args=[case.person_id])


# ---------------------------------------------------------------- released point with orders in force


def test_a_released_point_whose_orders_are_in_force_is_completed(scene):
    point = _released_point_with_its_orders_in_force(scene)
    commander = scene.users["commander"]
    # (the coverage audit cannot show this gap: see the xfail test below)

    before = snapshot()
    code, out, _err = reconcile("--dry-run")
    assert code == 1 and "point_release_unfinished: 1 unfinished" in out and str(point.pk) in out
    assert snapshot() == before

    code, out, err = reconcile("--user", "commander")
    assert (code, err) == (0, "")
    assert "point_release_unfinished: 1 of 1 completed" in out
    tied = ControlOrder.objects.filter(pk__in=PointOrder.objects.filter(point=point).values("order_id"))
    assert {o.status for o in tied} == {OrderStatus.RELEASED}
    released = AuditEvent.objects.filter(action="control_order.released")
    assert {(e.actor_label, e.actor_id) for e in released} == {("system:point-release", commander.pk)}
    # With the orders, the household's default services end (the "order_ended" cascade).
    assert not ServiceSchedule.objects.filter(household=scene.households["h1d"], ended_at__isnull=True).exists()
    assert reconcile()[0] == 0


def test_a_released_point_without_orders_but_with_its_response_in_force_is_completed(scene):
    """No order was tied to the point: what is left unfinished is the activation, which must
    close so that a new case starts a new response."""
    point = _released_by_the_bare_mover(scene)
    assert point.activation.status == "active"
    code, out, _err = reconcile("--dry-run")
    assert code == 1 and "point_release_unfinished: 1 unfinished" in out
    assert reconcile()[0] == 0
    point.activation.refresh_from_db()
    assert point.activation.status == "closed" and point.activation.closed_at is not None
    assert reconcile("--dry-run")[0] == 0


def test_the_coverage_audit_shows_a_released_point_with_orders_in_force(scene):
    _released_point_with_its_orders_in_force(scene)
    commander = scene.users["commander"]
    answer = api_client(commander).get("/api/v1/coverage")
    assert answer.status_code == 200, answer.status_code
    assert gaps(commander, "handoff_point_release_unfinished") == 1
    assert reconcile()[0] == 0
    assert gaps(commander, "handoff_point_release_unfinished") == 0


def test_a_completed_release_closes_the_activation_so_a_new_case_gets_a_new_point(scene):
    point = _released_point_with_its_orders_in_force(scene)
    assert reconcile()[0] == 0
    assert response.household_closed_by_point(scene.households["h1d"]) is None
    # A new case in the compound: closed management again, under a new activation.
    case = scene.confirmed(scene.persons["p1c"])
    assert EpidemicPoint.objects.exclude(status=PointStatus.RELEASED).filter(grid=point.grid).exists()
    assert response.household_closed_by_point(scene.households["h1d"]) == RefusalReason.EPIDEMIC_POINT
    assert Activation.objects.get(cases=case) != point.activation
    point.activation.refresh_from_db()
    assert point.activation.status == ActivationStatus.CLOSED


# ---------------------------------------------------------------- household without its services


def test_a_quarantined_household_without_its_services_is_completed(scene):
    household = _quarantined_household_without_services(scene)
    commander = scene.users["commander"]
    assert gaps(commander, "handoff_household_support_missing") == 1
    assert gaps(scene.users["head2"], "handoff_household_support_missing") == 0

    before = snapshot()
    code, out, _err = reconcile("--dry-run")
    assert code == 1 and "household_support_missing: 1 unfinished" in out
    assert snapshot() == before

    code, out, err = reconcile()
    assert (code, err) == (0, "")
    assert "household_support_missing: 1 of 1 completed" in out
    kinds = set(
        ServiceSchedule.objects.filter(household=household, ended_at__isnull=True).values_list("kind", flat=True)
    )
    assert kinds == {ServiceKind.SHOPPING, ServiceKind.CHECKIN, ServiceKind.SUPPLIES}
    done = AuditEvent.objects.get(action="reconcile.complete")
    assert (done.actor_label, done.actor, done.object_type) == ("system:reconcile", None, "people.household")
    assert gaps(commander, "handoff_household_support_missing") == 0


# ---------------------------------------------------------------- the outbox


def test_a_late_outbox_message_is_carried_out(scene):
    message = _late_outbox_message(scene)
    commander = scene.users["commander"]
    assert gaps(commander, "handoff_outbox") == 1
    assert gaps(scene.users["member2"], "handoff_outbox") == 0  # the hand-off is 第1网格's

    before = snapshot()
    code, out, _err = reconcile("--dry-run")
    assert code == 1 and "outbox: 1 unfinished" in out and str(message.pk) in out
    assert snapshot() == before

    code, out, err = reconcile()
    assert (code, err) == (0, "")
    assert "outbox: 1 of 1 completed" in out
    message.refresh_from_db()
    assert message.done_at is not None and message.attempts == 1 and message.last_error == ""
    schedules = ServiceSchedule.objects.filter(household=scene.households["h1c"])
    assert ServiceTask.objects.filter(schedule__in=schedules).exists()
    assert gaps(commander, "handoff_outbox") == 0
    assert reconcile() == (0, "nothing unfinished\n", "")


def test_a_message_that_is_not_late_yet_is_left_to_the_worker(scene):
    control.control_orders_start_household(
        household=scene.households["h1c"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        principal=scene.admin,
    )
    assert OutboxMessage.objects.filter(done_at__isnull=True).count() == 1
    assert gaps(scene.users["commander"], "handoff_outbox") == 0
    assert reconcile("--dry-run") == (0, "nothing unfinished\n", "")


# ---------------------------------------------------------------- what cannot be completed


def test_a_hand_off_that_cannot_be_completed_exits_1_and_the_others_are_done(scene, broken):  # noqa: F811
    case = _confirmed_without_its_response(scene)
    household = _quarantined_household_without_services(scene)
    broken("epigrid.response.services.activation_on_case_confirmed", RuntimeError("no plan"))
    code, out, err = reconcile()
    assert code == 1
    assert "activation_missing: 0 of 1 completed" in out and f"{case.pk}: RuntimeError: no plan" in err
    assert "household_support_missing: 1 of 1 completed" in out
    assert ServiceSchedule.objects.filter(household=household, ended_at__isnull=True).count() == 3
    # The failed one left nothing half-done, and is still a gap.
    assert not Activation.objects.exists() and not EpidemicPoint.objects.exists()
    assert gaps(scene.users["commander"], "handoff_activation_missing") == 1
    assert gaps(scene.users["commander"], "handoff_household_support_missing") == 0


def test_an_outbox_message_that_keeps_failing_exits_1(scene):
    message = _late_outbox_message(scene)
    OutboxMessage.objects.filter(pk=message.pk).update(payload={"schedule": "lost"})  # the handler fails on it
    code, _out, err = reconcile()
    message.refresh_from_db()
    assert message.done_at is None and "KeyError" in message.last_error  # it did fail
    assert gaps(scene.users["commander"], "handoff_outbox") == 1
    assert code == 1 and str(message.pk) in err


def test_an_outbox_message_that_keeps_failing_stays_a_gap(scene):
    """What holds today around the bug above: the failure is kept on the message, retried by every
    reconcile (past the worker's attempts), and the coverage audit keeps showing it."""
    message = _late_outbox_message(scene)
    OutboxMessage.objects.filter(pk=message.pk).update(payload={"schedule": "lost"}, attempts=5)
    _code, out, _err = reconcile()
    assert "outbox: 0 of 1 completed" in out
    message.refresh_from_db()
    assert message.done_at is None and message.attempts == 6 and "KeyError" in message.last_error
    assert gaps(scene.users["commander"], "handoff_outbox") == 1
    assert reconcile("--dry-run")[0] == 1
