"""Daily reports (日报, issue 13 §3): drafted by the sweep from the day's data, signed by each
grid's head; a community's report is the sum of its grids' signed reports, the subdistrict's of
its communities'; an unsigned report past its deadline alerts the level above."""

import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.core.errors import Conflict, Forbidden, NotFound
from epigrid.oversight import reports, rollup
from epigrid.oversight.models import DailyReport
from epigrid.oversight.sweeps import sweep_all


def _at(hhmm: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.fromisoformat(hhmm)))


@pytest.fixture
def day_of_work(world):
    start = _at("08:00")
    for key, kind in (("p1", "home_quarantine"), ("p1b", "home_quarantine"), ("p2", "health_monitoring")):
        control.control_order_start(
            person=world.persons[key], kind=kind, reason="other", starts_at=start, principal=world.admin
        )
    rollup.refresh(now=_at("18:00"))
    return world


def _report(world, code) -> DailyReport:
    return DailyReport.objects.get(grid=world.nodes[code], day=timezone.localdate())


def _sign(world, code, username, remarks=""):
    report = _report(world, code)
    return reports.report_sign(
        report=report, remarks=remarks, seen=reports.version(*reports.current(report)), principal=world.users[username]
    )


def test_drafted_at_the_hour_for_every_grid_community_and_the_subdistrict(day_of_work):
    world = day_of_work
    assert reports.reports_draft(now=_at("17:59")) == 0
    assert reports.reports_draft(now=_at("18:00")) == 4
    assert {r.grid.code for r in DailyReport.objects.all()} == {"S", "S-C", "S-C-G1", "S-C-G2"}
    g1 = _report(world, "S-C-G1")
    assert g1.figures["orders_started"] == 2 and g1.figures["orders_home_quarantine"] == 2
    assert g1.due_at == _at("20:00") and _report(world, "S-C").due_at == _at("21:00")
    # A rerun adds nothing; a draft follows the data until it is signed.
    assert reports.reports_draft(now=_at("18:02")) == 0
    control.control_order_release(
        order=world.persons["p1"].control_orders.get(), early_reason="转为居家健康监测", principal=world.admin
    )
    rollup.refresh(now=_at("18:05"))
    assert reports.reports_draft(now=_at("18:05")) == 1
    assert _report(world, "S-C-G1").figures["orders_home_quarantine"] == 1


def test_the_community_sums_its_grids_signed_reports_and_the_subdistrict_its_communities(day_of_work):
    world = day_of_work
    reports.reports_draft(now=_at("18:00"))
    _sign(world, "S-C-G1", "head1", "门岗排班已落实")
    community = _report(world, "S-C")
    figures, missing = reports.current(community)
    assert missing == ["S-C-G2"] and figures == _report(world, "S-C-G1").figures
    _sign(world, "S-C-G2", "head2")
    signed = _sign(world, "S-C", "secretary", "两个网格均已上报")
    g1, g2 = _report(world, "S-C-G1").figures, _report(world, "S-C-G2").figures
    assert signed.missing == []
    assert signed.figures == {key: g1[key] + g2[key] for key in reports.FIGURES}
    assert signed.figures["orders_health_monitoring"] == 1 and signed.figures["orders_started"] == 3
    top = _sign(world, "S", "commander")
    assert top.figures == signed.figures and top.signed_by == world.users["commander"]


def test_signing_quotes_what_was_seen_and_is_final(day_of_work):
    world = day_of_work
    reports.reports_draft(now=_at("18:00"))
    report = _report(world, "S-C")
    seen = reports.version(*reports.current(report))
    _sign(world, "S-C-G1", "head1")  # the community's sum moves meanwhile
    with pytest.raises(Conflict) as exc:
        reports.report_sign(report=report, remarks="", seen=seen, principal=world.users["secretary"])
    assert exc.value.code == "report_changed"
    with pytest.raises(Conflict):
        _sign(world, "S-C-G1", "head1")  # signed already


def test_who_may_sign(day_of_work):
    world = day_of_work
    reports.reports_draft(now=_at("18:00"))
    with pytest.raises(Forbidden):
        _sign(world, "S-C-G1", "member1")  # a grid member drafts nothing and signs nothing
    with pytest.raises(NotFound):
        _sign(world, "S-C-G1", "head2")
    with pytest.raises(NotFound):
        reports.report_get(user=world.users["head1"], pk=_report(world, "S-C").pk)  # the level above's


def test_a_late_report_alerts_the_level_above_once(day_of_work):
    world = day_of_work
    sweep_all(now=_at("18:00"))
    _sign(world, "S-C-G1", "head1")
    assert sweep_all(now=_at("20:30"))["daily_reports_late"] == 1  # 第2网格 only
    alert = Alert.objects.get(kind="report_late")
    assert (alert.grid.code, alert.owner.username) == ("S-C-G2", "secretary")
    assert sweep_all(now=_at("21:30"))["daily_reports_late"] == 1  # now the community's, to the command center
    assert Alert.objects.get(kind="report_late", grid__code="S-C").owner.username == "commander"
    assert sweep_all(now=_at("21:40"))["daily_reports_late"] == 0
    client = Client()
    client.force_login(world.users["commander"])
    page = client.get("/reports/").content.decode()
    late = page[page.index('data-testid="late"') :]
    assert "S-C-G2 name" in late and "S-C-G1 name" not in late.split("</section>")[0]


def test_the_head_signs_on_the_page_and_the_xlsx_has_the_layout(day_of_work):
    world = day_of_work
    reports.reports_draft(now=_at("18:00"))
    client = Client()
    client.force_login(world.users["head1"])
    report = _report(world, "S-C-G1")
    page = client.get(f"/reports/{report.pk}/").content.decode()
    assert 'data-figure="orders_home_quarantine">2<' in page
    seen = reports.version(*reports.current(report))
    stale = client.post(f"/reports/{report.pk}/", {"remarks": "x", "seen": "0" * 16, "action": "sign"}, follow=True)
    assert _report(world, "S-C-G1").status == "draft" and stale.status_code == 200
    signed = client.post(f"/reports/{report.pk}/", {"remarks": "夜间巡查两次", "seen": seen, "action": "sign"})
    assert signed.status_code == 302 and _report(world, "S-C-G1").status == "signed"
    _sign(world, "S-C-G2", "head2")
    client.force_login(world.users["secretary"])
    community = _report(world, "S-C")
    response = client.get(f"/reports/{community.pk}/xlsx/")
    rows = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content))).get_sheet_by_index(0)
    rows = rows.to_python()
    assert [r[0] for r in rows[1:3]] == ["S-C-G1 name", "S-C-G2 name"]
    started = 1 + reports.FIGURES.index("orders_started")
    assert int(rows[3][started]) == int(rows[1][started]) + int(rows[2][started]) == 3
    assert client.get(f"/reports/{community.pk}/print/").status_code == 200


def test_the_demos_reports_roll_up_exactly(db):
    """The demo (花园路社区 and its grids, today's live work): every grid head signs, the
    community's secretary and the commander sign; each level is the sum of the one below."""
    from epigrid.accounts.models import GridAssignment, User
    from epigrid.demo import scenario
    from epigrid.grids.models import GridNode

    scenario.load(live=True)
    now = timezone.now()
    rollup.refresh(now=now)
    reports.reports_draft(now=max(now, _at("18:00")))
    drafts = DailyReport.objects.filter(day=timezone.localdate()).select_related("grid")
    assert drafts.filter(grid__level="grid").count() == GridNode.objects.filter(level="grid").count() > 1
    for level in ("grid", "community", "subdistrict"):
        for report in drafts.filter(grid__level=level):
            signer = (
                GridAssignment.objects.active().filter(node=report.grid).exclude(role="grid_member").first().user
                if level != "subdistrict"
                else User.objects.get(username="commander")
            )
            reports.report_sign(
                report=report, remarks="", seen=reports.version(*reports.current(report)), principal=signer
            )
    by_level = {
        r.grid.level: r for r in DailyReport.objects.filter(day=timezone.localdate()).exclude(grid__level="grid")
    }
    grids = DailyReport.objects.filter(day=timezone.localdate(), grid__level="grid")
    assert by_level["community"].missing == []
    for key in reports.FIGURES:
        assert by_level["community"].figures[key] == sum(r.figures[key] for r in grids), key
    assert by_level["subdistrict"].figures == by_level["community"].figures
    assert sum(by_level["community"].figures.values()) > 0  # the demo's day is not all zeros
