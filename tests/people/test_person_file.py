"""Issue 11 "Everyone": the person file reads as sentences in the user's language (no raw audit
codes, actors by name and role, personal values masked), shows the monitoring period's
temperatures as a chart and, at the top, the measure, days left, code and team; the day page
shows a reading taken outside every slot and does not call slots before the order "missed"."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.control.choices import OrderKind, OrderReason
from epigrid.core import audit
from epigrid.core.crypto import seal
from epigrid.health import services as health
from epigrid.health.services import Reading
from epigrid.people import services as people

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 14:00 on a day of four slots (08/12/16/20, ±90 min): the order starts at 09:45.
NOW = dt.datetime(2020, 2, 1, 14, 0, tzinfo=SHANGHAI)
STARTS = dt.datetime(2020, 2, 1, 9, 45, tzinfo=SHANGHAI)


@pytest.fixture
def as_user(world):
    def login(username):
        client = Client()
        client.force_login(world.users[username])
        return client

    return login


@pytest.fixture
def file_world(world):
    """p1 under home quarantine since 09:45, a phone change, a team, readings and an alert."""
    p1, member = world.persons["p1"], world.users["member1"]
    member.full_name, member.phone_sealed, member.phone_masked = "李刚", seal("13900000001"), "139****0001"
    member.save()
    with time_machine.travel(STARTS, tick=False):
        control.control_order_start(
            person=p1, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, starts_at=STARTS, principal=world.admin
        )
        control.team_member_add(household=p1.household, user=member, role="liaison", principal=world.admin)
        people.person_update(person=p1, phone="13800000002", principal=member)
    health.temperature_reports_record(
        readings=[
            Reading(p1.pk, "36.6", measured_at=dt.datetime(2020, 2, 1, 10, 5, tzinfo=SHANGHAI)),  # outside slots
            Reading(p1.pk, "37.8", measured_at=dt.datetime(2020, 2, 1, 13, 20, tzinfo=SHANGHAI)),  # 12:00, fever
        ],
        source="liaison",
        principal=member,
        now=NOW,
    )
    # An action no app names: the timeline says "other change", never the code.
    audit.record(principal=world.admin, action="person.mystery_step", obj=p1, grid_path=p1.grid.path)
    return p1


def _timeline(page: str) -> str:
    start = page.index('data-testid="timeline"')
    return re.sub(r"<[^>]+>", " ", page[start : page.index("</ol>", start)])


def test_timeline_is_sentences_in_chinese(world, file_world, as_user):
    with time_machine.travel(NOW, tick=False):
        health.missed_slots_sweep(now=NOW)
        page = as_user("head1").get(f"/people/{file_world.pk}/").content.decode()
    text = _timeline(page)
    assert "由 网格员李刚 修改信息" in text
    assert "联系电话：" in text and " → 138****0002" in text  # the masks, never the full number
    assert "13800000002" not in page
    assert "启动管控措施" in text and "管控措施：居家隔离" in text
    assert "添加专班成员" in text and "人员：网格员李刚" in text
    assert "登记建档" in text and "所属网格：S-C-G1-B1 name" in text
    assert "发热 37.8 °C" in text and "体温 36.6 °C" in text
    assert "其他变更" in text
    # Raw codes and "field: value" dumps are gone.
    for raw in ("person.", "alert.", "team_member.", "control_order.", "home_quarantine", "user:", "role:", "liaison"):
        assert raw not in text, raw
    assert "[redacted]" not in text


def test_missed_slot_alert_reads_as_a_sentence(world, file_world, as_user):
    world.persons["p2"]  # only p1 is monitored
    with time_machine.travel(dt.datetime(2020, 2, 1, 22, 0, tzinfo=SHANGHAI), tick=False):
        health.missed_slots_sweep()
        page = as_user("head1").get(f"/people/{file_world.pk}/").content.decode()
    text = _timeline(page)
    assert "漏报体温（第3次时段 16:00）" in text and "missed_slot" not in text


def test_api_timeline_keeps_codes_and_adds_text(world, file_world):
    from tests.factories import api

    call = api(world, "head1")
    rows = call("get", f"/api/v1/persons/{file_world.pk}/timeline").json()
    kinds = {r["kind"] for r in rows}
    assert {"person.update", "control_order.start", "temperature"} <= kinds
    update = next(r for r in rows if r["kind"] == "person.update")
    assert "138****0002" in update["text"] and "13800000002" not in str(rows)


def test_summary_chart_and_tel_links(world, file_world, as_user):
    with time_machine.travel(NOW, tick=False):
        page = as_user("head1").get(f"/people/{file_world.pk}/").content.decode()
    top = page[page.index('data-testid="person-summary"') : page.index("</section>", page.index("person-summary"))]
    assert "居家隔离" in top and "剩余 14 天" in top and "至 02-15" in top
    assert 'href="tel:13900000001"' in top and "李刚" in top
    assert "code-red" in top
    chart = page[page.index('data-testid="temperature-chart"') : page.index("</figure>")]
    assert chart.count("<circle") == 2 and 'data-value="36.6"' in chart and 'data-value="37.8"' in chart
    assert "37.3" in chart  # the fever line


def test_day_page_shows_the_reading_outside_slots_and_nothing_missed_before_the_start(world, file_world, as_user):
    with time_machine.travel(NOW, tick=False):
        page = as_user("member1").get("/health/today/").content.decode()
    row = page[page.index(file_world.name, page.index('id="slots"')) :]
    row = row[: row.index("</li>")]
    assert "时段外 10:05 36.6" in row
    assert 'slot slot-before" title="管控开始前">08:00' in row  # before the order: grey, not red
    assert "slot-missed" not in row.split("12:00")[0]
    assert "12:00 37.8" in row  # the slot reading still counts; the outside one counts for nothing


def test_sweep_raises_no_missed_slot_before_the_start(world, file_world):
    health.missed_slots_sweep(now=NOW)
    slots = sorted(a.detail["slot"] for a in Alert.objects.filter(person=file_world, kind="missed_slot"))
    assert slots == []  # 08:00 was before the start, 12:00 has its reading, 16:00 is not over
    health.missed_slots_sweep(now=NOW + dt.timedelta(hours=4))
    slots = sorted(a.detail["slot"] for a in Alert.objects.filter(person=file_world, kind="missed_slot"))
    assert slots == [2]
