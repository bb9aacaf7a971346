"""The command dashboard (issue 13 §1): the rollup's figures equal the data, a parent's figure is
the sum of its children's, the pages drill down within the user's area, and every chart's
numbers download as .xlsx."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.control import services as control
from epigrid.control.models import ControlOrder
from epigrid.core.models import AuditEvent
from epigrid.health.models import TemperatureReport
from epigrid.health.services import Reading, temperature_reports_record
from epigrid.oversight import rollup
from epigrid.oversight.models import NodeDay, NodeFigure
from epigrid.oversight.sweeps import sweep_all
from epigrid.people.services import person_create
from tests.factories import api, make_id_number


@pytest.fixture
def busy(world):
    now = timezone.now()
    for key, kind, days in (
        ("p1", "home_quarantine", 3),
        ("p1b", "home_quarantine", 1),
        ("p2", "health_monitoring", 2),
    ):
        control.control_order_start(
            person=world.persons[key],
            kind=kind,
            reason="other",
            starts_at=now - dt.timedelta(days=days),
            principal=world.admin,
        )
    temperature_reports_record(
        readings=[Reading(person_id=world.persons["p1"].pk, value=Decimal("38.2"), measured_at=now)],
        source="staff",
        principal=world.admin,
        now=now,
    )
    return world


def _figures(world, code):
    node = world.nodes[code]
    return dict(NodeFigure.objects.filter(node=node).values_list("figure", "value"))


def test_the_rollup_equals_the_data_and_each_parent_sums_its_children(busy):
    world = busy
    rollup.refresh(days=None)
    g1, g2, community, subdistrict = (_figures(world, c) for c in ("S-C-G1", "S-C-G2", "S-C", "S"))
    assert g1["orders_home_quarantine"] == 2 and g2["orders_health_monitoring"] == 1
    assert "orders_home_quarantine" not in g2  # a figure absent is 0
    assert g1["fevers_today"] == 1 and "fevers_today" not in g2
    for key in {*g1, *g2}:
        assert community.get(key, 0) == g1.get(key, 0) + g2.get(key, 0), key
        assert subdistrict.get(key, 0) == community.get(key, 0), key
    # Against the raw rows, for the whole subdistrict.
    assert subdistrict["orders_home_quarantine"] == ControlOrder.objects.filter(kind="home_quarantine").count()
    assert subdistrict["persons"] == 3
    # The series: orders started by day, on the days they started.
    started = dict(NodeDay.objects.filter(node=world.nodes["S"], figure="orders_started").values_list("day", "value"))
    assert sum(started.values()) == 3
    assert started[timezone.localdate() - dt.timedelta(days=3)] == 1
    fevers = NodeDay.objects.get(node=world.nodes["S-C-G1"], figure="fevers", day=timezone.localdate())
    assert fevers.value == TemperatureReport.objects.filter(is_fever=True).count() == 1


def test_the_sweep_keeps_the_rollup_and_backfills_once(busy):
    world = busy
    assert not NodeFigure.objects.exists()
    sweep_all()
    assert _figures(world, "S")["orders_home_quarantine"] == 2
    assert AuditEvent.objects.filter(action="dashboard.backfill").count() == 1
    newcomer = person_create(
        name="赵六", id_number=make_id_number(), household=world.households["h2"], principal=world.admin
    )
    control.control_order_start(
        person=newcomer, kind="centralized_quarantine", reason="other", site="集中隔离点", principal=world.admin
    )
    sweep_all()
    assert _figures(world, "S-C-G2")["orders_centralized_quarantine"] == 1
    assert AuditEvent.objects.filter(action="dashboard.backfill").count() == 1


def test_the_commander_drills_down_to_a_grid(busy):
    world = busy
    rollup.refresh()
    client = Client()
    client.force_login(world.users["commander"])
    home = client.get("/dashboard/")
    assert home.status_code == 302 and home["Location"] == "/dashboard/S/"
    page = client.get("/dashboard/S/").content.decode()
    assert 'href="/dashboard/S-C/"' in page and 'data-testid="tiles"' in page
    page = client.get("/dashboard/S-C/").content.decode()
    assert 'href="/dashboard/S-C-G1/"' in page and 'href="/dashboard/S-C-G2/"' in page
    grid = client.get("/dashboard/S-C-G1/").content.decode()
    # the breadcrumb leads back up; the tile links to the list behind it
    assert 'href="/dashboard/S/"' in grid and 'href="/dashboard/S-C/"' in grid
    assert "/control/orders/?kind=home_quarantine&amp;grid=S-C-G1" in grid


def test_a_grid_member_sees_only_their_grid_and_a_guard_has_none(busy):
    world = busy
    rollup.refresh()
    client = Client()
    client.force_login(world.users["member1"])
    assert client.get("/dashboard/").headers["Location"] == "/dashboard/S-C-G1/"
    assert client.get("/dashboard/S-C-G1/").status_code == 200
    assert client.get("/dashboard/S-C-G2/").status_code == 404
    assert client.get("/dashboard/S-C/").status_code == 404
    client.force_login(world.users["guard1"])
    assert client.get("/dashboard/S-C-G1/").status_code == 403
    assert client.get("/dashboard/").status_code == 200


def test_children_sort_and_thresholds_turn_a_cell_red(busy):
    world = busy
    rollup.refresh()
    client = Client()
    client.force_login(world.users["secretary"])

    def table(query):
        page = client.get(f"/dashboard/S-C/{query}").content.decode()
        return page[page.index('data-testid="children"') :]

    page = table("?sort=orders_home_quarantine&dir=asc")
    assert page.index("S-C-G2 name") < page.index("S-C-G1 name")
    page = table("?sort=orders_home_quarantine&dir=desc")
    assert page.index("S-C-G1 name") < page.index("S-C-G2 name")
    assert "dash-red" not in page
    saved = client.post("/dashboard/thresholds/", {"fevers_today": "1", "next": "/dashboard/S-C/"})
    assert saved.status_code == 302
    assert 'class="dash-red">1<' in client.get("/dashboard/S-C/").content.decode()
    refused = client.post("/dashboard/thresholds/", {"fevers_today": "abc", "next": "/dashboard/S-C/"}, follow=True)
    assert "Give a whole number" in refused.content.decode() or "请填写整数" in refused.content.decode()
    assert 'class="dash-red">1<' in refused.content.decode()  # the old threshold stands
    client.force_login(world.users["member1"])
    assert client.post("/dashboard/thresholds/", {"fevers_today": "5"}).status_code == 403


def test_every_chart_downloads_its_numbers(busy):
    world = busy
    rollup.refresh(days=None)
    client = Client()
    client.force_login(world.users["commander"])
    response = client.get("/dashboard/S/?download=days")
    assert response.status_code == 200
    rows = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content))).get_sheet_by_index(0)
    rows = rows.to_python()
    header, body = rows[0], rows[1:]
    started = 1 + [series.key for series in rollup.SERIES].index("orders_started")
    assert header[started] in ("Orders started", "开始管控")
    assert sum(int(r[started]) for r in body) == 3
    children = client.get("/dashboard/S-C/?download=children")
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(children.streaming_content))).get_sheet_by_index(0)
    assert [r[0] for r in sheet.to_python()[1:]] == ["S-C-G1", "S-C-G2"]
    assert client.get("/dashboard/S/?download=nope").status_code == 400


def test_the_api_gives_the_same_figures(busy):
    world = busy
    rollup.refresh(days=None)
    call = api(world, "member1")
    body = call("get", "/api/v1/dashboard/S-C-G1").json()
    assert body["figures"]["orders_home_quarantine"] == 2
    assert [c["code"] for c in body["children"]] == ["S-C-G1-B1"]
    assert sum(body["series"]["orders_started"]) == 2
    assert call("get", "/api/v1/dashboard/S-C-G2").status_code == 404
    assert call("get", "/api/v1/dashboard/S-C-G1?since=2020-01-01&until=2019-01-01").status_code == 400


def test_inspection_scores_coverage_gaps_and_wishes_on_the_dashboard(busy):
    from tests.oversight.world import add_inspections

    world = busy
    add_inspections(world)  # a completed round of 第1网格 with both items failed: score 0
    rollup.refresh()
    client = Client()
    client.force_login(world.users["commander"])
    page = client.get("/dashboard/S/").content.decode()
    scores = page[page.index('data-testid="scores"') :]
    assert "S-C-G1 name" in scores.split("</table>")[0]
    # The base world has gaps (e.g. 第2网格's building without a head): counted where they lie.
    gaps = _figures(world, "S")["coverage_gaps"]
    from epigrid.oversight.selectors import coverage_audit

    assert gaps == sum(coverage_audit(user=world.users["commander"]).gap_counts.values())
    assert 'data-figure="coverage_gaps"' in page and 'data-figure="wishes_open"' in page
