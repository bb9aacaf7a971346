import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from epigrid.alerts.models import Alert
from epigrid.care import services
from epigrid.care.models import ServiceSchedule, ServiceTask, SupplyRequest
from epigrid.care.rules import occurrences, parse_rule
from epigrid.control import services as control
from epigrid.core.errors import DomainError
from epigrid.health import services as health

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_rules_read_like_the_offices_write_them():
    assert parse_rule("每日 09:00").text() == "每日 09:00"
    assert parse_rule("每日 16:00、8:00").text() == "每日 08:00、16:00"
    assert parse_rule("每周二、四、六 08:00").weekdays == frozenset({2, 4, 6})
    for bad in ("daily", "每周八 08:00", "每日 25:00", ""):
        with pytest.raises(DomainError):
            parse_rule(bad)


@given(
    start=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 1), timezones=st.just(SHANGHAI)
    ),
    days=st.integers(1, 70),
    weekdays=st.sets(st.integers(1, 7), min_size=1),
    times=st.sets(st.times().map(lambda t: t.replace(second=0, microsecond=0)), min_size=1, max_size=3),
)
def test_occurrences_match_the_rule_across_month_ends(start, days, weekdays, times):
    from epigrid.care.rules import WEEKDAYS, Rule

    rule = Rule(weekdays=frozenset(weekdays), times=tuple(sorted(times)))
    assert parse_rule(rule.text()) == rule
    end = start + dt.timedelta(days=days)
    found = occurrences(rule, start, end)
    assert found == sorted(found) and len(found) == len(set(found))
    for moment in found:
        local = moment.astimezone(SHANGHAI)
        assert start <= moment < end
        assert local.isoweekday() in weekdays and local.time() in times
    # Complete: every matching local day in the range has each time.
    expected = 0
    day = start.astimezone(SHANGHAI).date()
    while day <= end.astimezone(SHANGHAI).date():
        if day.isoweekday() in weekdays:
            expected += sum(start <= dt.datetime.combine(day, t, tzinfo=SHANGHAI) < end for t in times)
        day += dt.timedelta(days=1)
    assert len(found) == expected
    assert WEEKDAYS


def test_garbage_on_tuesday_thursday_saturday_at_local_time():
    rule = parse_rule("每周二、四、六 08:00")
    start = dt.datetime(2020, 1, 31, 0, 0, tzinfo=SHANGHAI)  # a Friday, across the month end
    found = occurrences(rule, start, start + dt.timedelta(days=7))
    assert [m.astimezone(SHANGHAI).strftime("%m-%d %a %H:%M") for m in found] == [
        "02-01 Sat 08:00",
        "02-04 Tue 08:00",
        "02-06 Thu 08:00",
    ]
    # 08:00 in Shanghai is 00:00 UTC: the UTC date is the same, 07:59 the day before would not be.
    assert found[0].astimezone(dt.UTC).hour == 0


def test_services_follow_home_quarantine(world):
    order = control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.admin
    )
    # The order's own transaction gave the household its three services; the sweep finds nothing.
    assert ServiceSchedule.objects.filter(household=world.households["h1"], ended_at__isnull=True).count() == 3
    assert services.schedules_reconcile() == 0
    shopping = ServiceSchedule.objects.get(kind="shopping")
    assert shopping.owner == world.users["member1"] and shopping.rule == "每日 09:00"
    created = services.service_tasks_materialize()
    assert created >= 1 and services.service_tasks_materialize() == created  # reruns add nothing
    assert ServiceTask.objects.count() == created
    control.control_order_release(order=order, early_reason="解除", principal=world.admin)
    # The release ended them in its own transaction.
    assert not ServiceSchedule.objects.filter(ended_at__isnull=True).exists()
    assert services.schedules_reconcile() == 0


def test_the_sweep_gives_missing_services_and_locks_the_audit_head_only_at_the_end(world):
    """A household under quarantine without its services (orders from before them) gets them from
    the sweep, each audited; the audit chain's head, which every audited write in the city waits
    for, is locked only after the last schedule is written."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from epigrid.core.models import AuditChainHead, AuditEvent

    control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.admin
    )
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    ServiceSchedule.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        assert services.schedules_reconcile() == 3
    schedules = ServiceSchedule.objects.filter(household=world.households["h1"], ended_at__isnull=True)
    assert sorted(schedules.values_list("kind", flat=True)) == ["checkin", "shopping", "supplies"]
    assert schedules.get(kind="shopping").owner == world.users["member1"]
    assert schedules.get(kind="shopping").created_by is None and schedules.get(kind="shopping").rule == "每日 09:00"
    audited = AuditEvent.objects.filter(action="service.schedule", object_type="care.serviceschedule")
    assert {int(e.object_id) for e in audited} >= set(schedules.values_list("pk", flat=True))
    sql = [q["sql"] for q in queries.captured_queries]
    head_locked = next(i for i, statement in enumerate(sql) if AuditChainHead._meta.db_table in statement)
    assert any(ServiceSchedule._meta.db_table in statement for statement in sql[:head_locked])
    assert not any(ServiceSchedule._meta.db_table in statement for statement in sql[head_locked:])
    assert services.schedules_reconcile() == 0  # a rerun adds nothing


def test_overdue_services_alert_and_done_ones_do_not(world):
    with time_machine.travel(timezone.now() - dt.timedelta(days=2)):
        control.control_order_start(
            person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
        )
    services.service_tasks_materialize(now=timezone.now() - dt.timedelta(days=1), hours=24)
    task = ServiceTask.objects.order_by("due_at").first()
    services.service_task_complete(task=task, note="已送菜", principal=world.users["member1"])
    late = ServiceTask.objects.filter(done_at__isnull=True, due_at__lt=timezone.now() - services.OVERDUE_AFTER).count()
    assert services.service_overdue_alerts() == late
    assert Alert.objects.filter(kind="service_overdue").count() == late


def test_resident_requests_supplies_from_the_link(world):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    token = health.resident_link_issue(person=world.persons["p1"], principal=world.users["member1"])
    response = Client().post(f"/r/{token}/request/", {"text": "需要买药"})
    assert response.status_code == 302
    request = SupplyRequest.objects.get()
    assert request.owner == world.users["member1"] and request.text == "需要买药"
    client = Client()
    client.force_login(world.users["member1"])
    assert "需要买药" in client.get("/health/today/").content.decode()
    client.post(f"/care/requests/{request.pk}/done/", {"note": "已送达"})
    request.refresh_from_db()
    assert request.done_by == world.users["member1"]
    services.schedules_reconcile()
    services.service_tasks_materialize()
    page = client.get(f"/people/households/{world.households['h1'].pk}/").content.decode()
    assert "每日 09:00" in page


@pytest.mark.parametrize("role", ["liaison", "medical", "cadre"])
def test_service_owners_for_many_households_are_those_of_each_alone(world, role):
    """The sweep finds every household's service owner at once (`_team_owners`): the household
    team's member of the role, else the liaison of its first current member — for each household
    exactly whom the rule names for it alone."""
    from epigrid.control.models import TeamMember
    from epigrid.control.selectors import liaison_for
    from epigrid.people.models import Household, Person

    control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.admin
    )
    control.team_member_add(
        household=world.households["h1"], user=world.users["head1"], role="medical", principal=world.admin
    )
    control.team_member_add(
        household=world.households["h2"], user=world.users["member2"], role="cadre", principal=world.admin
    )

    def alone(household):
        member = TeamMember.objects.filter(team__household=household, role=role, ended_at__isnull=True).order_by("id")
        if member.exists():
            return member.first().user_id
        first = Person.objects.current().filter(household=household).order_by("pk").first()
        owner = liaison_for(first) if first else None
        return owner.pk if owner else None

    households = list(Household.objects.all())
    expected = {household.pk: alone(household) for household in households}
    assert services._team_owners([h.pk for h in households], role) == expected
    assert len(set(expected.values())) >= 2  # the world gives the rule more than one answer
