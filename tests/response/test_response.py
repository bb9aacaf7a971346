import datetime as dt
import itertools
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epigrid.alerts.models import Alert
from epigrid.care.models import ServiceSchedule
from epigrid.control.choices import OrderKind, OrderStatus
from epigrid.control.models import ControlOrder
from epigrid.core.errors import DomainError
from epigrid.health import services as health
from epigrid.health.models import Case
from epigrid.people import services as people_services
from epigrid.response import selectors, services
from epigrid.response.choices import PointStatus
from epigrid.response.models import Activation, EpidemicPoint, Task
from tests.factories import make_id_number

SHANGHAI = ZoneInfo("Asia/Shanghai")


def confirm(world, person, *, specimen, at):
    health.sample_record(
        person=person, specimen_number=specimen, sampled_at=at - dt.timedelta(days=2), principal=world.admin
    )
    health.results_record(results=[health.ResultIn(specimen, "positive", at)], principal=world.admin)
    case = Case.objects.get(person=person)
    health.consultation_record(case=case, held_at=at, experts="专家组", conclusion="confirmed", principal=world.admin)
    return case


def test_confirmation_activates_the_plan_once_per_compound(world, django_capture_on_commit_callbacks):
    at = timezone.now() - dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(world, world.persons["p1"], specimen="A-1", at=at)
    activation = Activation.objects.get()
    assert activation.grid.code == "S-C-G1"  # the compound of 张三's building
    tasks = {t.title: t for t in Task.objects.filter(activation=activation)}
    assert len(tasks) == 9
    assert tasks["张贴告知书"].owner == world.users["member1"]
    assert tasks["成立工作专班"].owner == world.users["commander"]
    assert tasks["医疗网格心理疏导与健康防护"].owner is None  # nobody holds the role: shown as unowned
    # The incident page's compiled read gives the same owners; an empty one is None, not a blank user.
    shown = {t.title: t for t in selectors.incident(activation=activation)["tasks"]}
    assert {title: t.owner for title, t in shown.items()} == {title: t.owner for title, t in tasks.items()}
    assert shown["医疗网格心理疏导与健康防护"].owner is None and shown["张贴告知书"].done_by is None
    assert EpidemicPoint.objects.get().status == PointStatus.CLOSED
    with django_capture_on_commit_callbacks(execute=True):
        confirm(world, world.persons["p1b"], specimen="A-2", at=at)
    assert Activation.objects.count() == 1 and activation.cases.count() == 2
    assert EpidemicPoint.objects.count() == 1


def test_tasks_need_their_evidence_and_overdue_ones_alert(world):
    case = confirm(world, world.persons["p1"], specimen="A-1", at=timezone.now() - dt.timedelta(days=1))
    assert case.activations.exists()  # confirmation activated the plan in its own transaction
    notice = Task.objects.get(title="张贴告知书")
    with pytest.raises(DomainError):
        services.task_complete(task=notice, note="done", principal=world.users["member1"])  # needs a photo
    trace = Task.objects.get(title="追踪密切接触者并送集中隔离点")
    services.task_complete(task=trace, count=3, principal=world.users["staff"])
    assert services.tasks_overdue_alerts() == 8  # every other task is past its deadline
    assert Alert.objects.filter(kind="task_overdue").count() == 8
    assert services.tasks_overdue_alerts() == 0


def test_close_and_secondary_contacts_get_orders_from_the_last_exposure(world):
    now = timezone.now()
    case = confirm(world, world.persons["p1"], specimen="A-1", at=now)
    assert case.activations.exists()  # confirmation activated the plan in its own transaction
    first = now - dt.timedelta(days=2)
    services.exposure_record(
        source=world.persons["p1"], contact=world.persons["p2"], last_exposure_at=first, principal=world.admin
    )
    order = ControlOrder.objects.open().get(person=world.persons["p2"])
    assert order.kind == OrderKind.CENTRALIZED_QUARANTINE and order.ends_at == first + dt.timedelta(days=14)
    later = now - dt.timedelta(days=1)
    services.exposure_record(
        source=world.persons["p1"], contact=world.persons["p2"], last_exposure_at=later, principal=world.admin
    )
    order.refresh_from_db()
    assert order.ends_at == later + dt.timedelta(days=14)
    services.exposure_record(
        source=world.persons["p2"],
        contact=world.persons["p1b"],
        last_exposure_at=later,
        degree="secondary",
        principal=world.admin,
    )
    assert ControlOrder.objects.open().get(person=world.persons["p1b"]).kind == OrderKind.HEALTH_MONITORING


def test_epidemic_point_release_follows_the_article(world):
    left = dt.datetime(2020, 2, 6, 15, 0, tzinfo=SHANGHAI)
    case = confirm(world, world.persons["p1"], specimen="A-1", at=dt.datetime(2020, 2, 6, 12, 0, tzinfo=SHANGHAI))
    assert case.activations.exists()  # confirmation activated the plan in its own transaction
    point = EpidemicPoint.objects.get()
    point = services.point_update(point=point, last_case_left_at=left, principal=world.users["head1"])
    assert point.proposed_release_at is None  # not before terminal disinfection
    point = services.point_update(
        point=point, disinfected_at=left + dt.timedelta(hours=5), principal=world.users["head1"]
    )
    # 2月6日 + 14 days: 2月20日24时.
    assert point.proposed_release_at == dt.datetime(2020, 2, 21, 0, 0, tzinfo=SHANGHAI)
    with pytest.raises(DomainError) as outside:  # another compound's household is not inside the point
        services.point_quarantine_households(point=point, households=[world.households["h2"]], principal=world.admin)
    assert outside.value.code == "household_outside_point"
    neighbours = people_services.household_create(
        grid=world.nodes["S-C-G1-B1"], number="2-201", address="2单元201", principal=world.admin
    )
    people_services.person_create(name="邻居", id_number=make_id_number(), household=neighbours, principal=world.admin)
    orders = services.point_quarantine_households(point=point, households=[neighbours], principal=world.admin)
    with pytest.raises(DomainError):
        services.point_release(point=point, principal=world.users["commander"])
    assert services.points_propose_release(now=dt.datetime(2020, 2, 20, 23, 59, tzinfo=SHANGHAI)) == 0
    assert services.points_propose_release(now=dt.datetime(2020, 2, 21, 0, 0, tzinfo=SHANGHAI)) == 1
    released = services.point_release(
        point=point, principal=world.users["commander"], at=dt.datetime(2020, 2, 21, 0, 0, tzinfo=SHANGHAI)
    )
    assert released.status == PointStatus.RELEASED
    assert all(ControlOrder.objects.get(pk=o.pk).status == OrderStatus.RELEASED for o in orders)
    assert Activation.objects.get().closed_at is not None
    # The compound's disinfection and garbage services began with the closure and end with the
    # release, in its own transaction (care hears "compound_reopened").
    compound_services = ServiceSchedule.objects.filter(grid=point.grid, household__isnull=True)
    assert compound_services.count() == 2
    assert not compound_services.filter(ended_at__isnull=True).exists()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(["confirm", "e1", "e2", "e3"]))
def test_any_order_of_events_gives_the_same_orders(world, events):
    """Property: exposures recorded before or after the confirmation, in any order, end in the
    same measures and release dates."""
    ControlOrder.objects.all().update()  # orders persist across examples: compare per example below
    now = timezone.now().replace(microsecond=0)
    base = now - dt.timedelta(days=3)
    p1, p2, p1b = world.persons["p1"], world.persons["p2"], world.persons["p1b"]
    exposures = {
        "e1": (p1, p2, base, "close"),
        "e2": (p1, p2, base + dt.timedelta(hours=20), "close"),
        "e3": (p2, p1b, base + dt.timedelta(hours=30), "secondary"),
    }
    results = _replay(world, events, exposures, now)
    assert results == {
        p2.pk: (OrderKind.CENTRALIZED_QUARANTINE, base + dt.timedelta(hours=20, days=14)),
        p1b.pk: (OrderKind.HEALTH_MONITORING, base + dt.timedelta(hours=30, days=14)),
    }


_counter = itertools.count()


def _replay(world, events, exposures, now):
    from django.db import transaction

    sid = transaction.savepoint_create()
    try:
        for event in events:
            if event == "confirm":
                case = confirm(world, world.persons["p1"], specimen=f"P-{next(_counter)}", at=now)
                assert case.activations.exists()
            else:
                source, contact, at, degree = exposures[event]
                services.exposure_record(
                    source=source, contact=contact, last_exposure_at=at, degree=degree, principal=world.admin
                )
        return {o.person_id: (o.kind, o.ends_at) for o in ControlOrder.objects.open()}
    finally:
        transaction.savepoint_rollback(sid)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_confirmations_at_once_make_one_activation():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    from tests.factories import build_world

    world = build_world()
    cases = []
    for person, specimen in ((world.persons["p1"], "C-1"), (world.persons["p1b"], "C-2")):
        health.sample_record(person=person, specimen_number=specimen, sampled_at=timezone.now(), principal=world.admin)
        health.results_record(results=[health.ResultIn(specimen, "positive", timezone.now())], principal=world.admin)
        cases.append(Case.objects.get(person=person))
    barrier, errors = threading.Barrier(2), []

    def confirm_one(case):
        try:
            barrier.wait()
            health.consultation_record(
                case=case, held_at=timezone.now(), experts="专家组", conclusion="confirmed", principal=world.admin
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm_one, args=(c,)) for c in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Activation.objects.count() == 1 and EpidemicPoint.objects.count() == 1
    assert Activation.objects.get().cases.count() == 2


def test_the_chain_tells_cases_close_and_secondary_contacts(world):
    """The chain page's nodes: the incident's case, its close contact, and the close contact's
    own contact as secondary (the case is told by the incident, in the chain's one statement)."""
    from epigrid.response import selectors

    now = timezone.now().replace(microsecond=0)
    p1, p2, p1b = world.persons["p1"], world.persons["p2"], world.persons["p1b"]
    case = confirm(world, p1, specimen="CH-1", at=now)
    services.exposure_record(
        source=p1, contact=p2, last_exposure_at=now - dt.timedelta(hours=5), degree="close", principal=world.admin
    )
    services.exposure_record(
        source=p2, contact=p1b, last_exposure_at=now - dt.timedelta(hours=2), degree="close", principal=world.admin
    )
    data = selectors.chain(activation=case.activations.get())
    assert {node["id"]: node["kind"] for node in data["nodes"]} == {
        p1.pk: "case",
        p2.pk: "close",
        p1b.pk: "secondary",
    }
    assert [(e["source"], e["target"]) for e in data["edges"]] == [(p1.pk, p2.pk), (p2.pk, p1b.pk)]


def test_the_api_list_reads_many_incidents_as_each_incident_reads_one(world, django_assert_max_num_queries):
    """selectors.incidents (the API's list) gives each response what `incident` gives it, with a
    contact shared by two responses counted in both, in the same number of queries for two
    responses as for one."""
    now = timezone.now()
    shared, own, secondary = (
        people_services.person_create(
            name=name, id_number=make_id_number(), household=world.households[household], principal=world.admin
        )
        for name, household in (("赵六", "h1"), ("钱七", "h2"), ("孙八", "h2"))
    )
    # 李四 (p1b) is confirmed after 张三 (p1) but dated earlier: the response names cases by date.
    for specimen, case_person, hours_ago in (
        ("A-1", world.persons["p1"], 2),
        ("B-1", world.persons["p2"], 2),
        ("A-2", world.persons["p1b"], 3),
    ):
        confirm(world, case_person, specimen=specimen, at=now - dt.timedelta(hours=hours_ago))
    record = services.exposure_record
    record(source=world.persons["p1"], contact=shared, last_exposure_at=now, principal=world.admin)
    record(source=world.persons["p1b"], contact=shared, last_exposure_at=now, principal=world.admin)
    record(source=world.persons["p2"], contact=shared, last_exposure_at=now, principal=world.admin)
    record(source=world.persons["p2"], contact=own, last_exposure_at=now, principal=world.admin)
    record(source=shared, contact=secondary, last_exposure_at=now, degree="secondary", principal=world.admin)
    activations = list(Activation.objects.select_related("grid", "plan").order_by("pk"))
    second = activations[1]
    assert {a.grid.code for a in activations} == {"S-C-G1", "S-C-G2"}

    def shown(data):
        return {
            **data,
            "tasks": [(t.pk, t.title, t.owner_id, t.step.position, t.grid.code) for t in data["tasks"]],
            "points": [(p.pk, p.status, p.grid.code) for p in data["points"]],
            "contact_orders": list(data["contact_orders"].items()),
        }

    each = [shown(selectors.incident(activation=a)) for a in activations]
    with django_assert_max_num_queries(7):
        together = [shown(data) for data in selectors.incidents(activations=activations)]
    assert together == each
    assert [[c.name for c in d["cases"]] for d in together] == [["李四", "张三"], ["王五"]]
    # The shared contact counts once in the first response (exposed to both its cases) and in both.
    assert [d["case_count"] for d in together] == [2, 1]
    assert [d["close_contacts"] for d in together] == [1, 2]
    assert [d["secondary_contacts"] for d in together] == [1, 1]
    assert [sum(n for _, n in d["contact_orders"]) for d in together] == [1, 2]
    with django_assert_max_num_queries(7):
        assert [shown(d) for d in selectors.incidents(activations=[second])] == each[1:]
    assert selectors.incidents(activations=[]) == []
