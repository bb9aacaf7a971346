"""The reference scenario (live) carries 花园路社区's registered unit with its acknowledged appeal
and the article's notice on closing 利农庄路23号院."""

from epigrid.demo import scenario
from epigrid.mobilization.models import AppealAck, Notice, ReportingUnit, UnitMember


def test_demo_units_and_the_closing_notice(db):
    scenario.load(live=True)
    unit = ReportingUnit.objects.get(name="历下区某驻区单位")
    assert UnitMember.objects.filter(unit=unit, assignment="duty").count() == 1
    assert AppealAck.objects.get(unit=unit).acknowledged_name == "周建国"
    notice = Notice.objects.get(title="关于利农庄路23号院实行封闭管理的告知书")
    assert notice.grid.code == scenario.GRID9  # 第9网格, 利农庄路23号院
