"""The ledgers of the "3": 双报到 units with their members, volunteers, volunteer hours — exported
and imported back (all rows or none; each row created, updated or unchanged)."""

import datetime as dt
import io

import pytest
import xlsxwriter
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.core.errors import Forbidden, RowErrors
from epigrid.core.models import AuditEvent
from epigrid.mobilization import team_ledgers
from epigrid.mobilization import volunteers as vol
from epigrid.mobilization.models import ReportingUnit, UnitMember, Volunteer, VolunteerShift
from tests.factories import api
from tests.mobilization.world import add_units, add_volunteers


def _xlsx(rows) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, str(value))
    book.close()
    return out.getvalue()


def _sheet(data: bytes) -> list[list[str]]:
    return [
        [str(c) for c in row]
        for row in CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    ]


def _export(world, kind, user="staff"):
    out, name = team_ledgers.team_ledger_export(kind=kind, node=world.nodes["S-C"], principal=world.users[user])
    return out.read(), name


def _shifts(world):
    add_volunteers(world)
    approved = Volunteer.objects.get(name="吴志愿")
    end = timezone.localtime().replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    for kind, hours_ago in (("gate_duty", 30), ("disinfection", 4)):
        vol.shift_record(
            volunteer=approved,
            kind=kind,
            starts_at=end - dt.timedelta(hours=hours_ago),
            ends_at=end - dt.timedelta(hours=hours_ago - 2),
            note="东门" if kind == "gate_duty" else "",
            principal=world.admin,
        )
    return approved


@pytest.mark.parametrize("kind", ["units", "volunteers", "hours"])
def test_an_export_imports_back_unchanged(world, kind):
    add_units(world)
    _shifts(world)
    resident = vol.volunteer_add(
        grid=world.nodes["S-C"], person=world.persons["p1"], skills="电工", principal=world.admin
    )
    assert resident.person_id
    data, name = _export(world, kind)
    rows = _sheet(data)
    assert len(rows) == 1 + {"units": 2, "volunteers": 3, "hours": 2}[kind]
    counts = (ReportingUnit.objects.count(), UnitMember.objects.count(), Volunteer.objects.count())
    shifts = list(VolunteerShift.objects.values_list("pk", "ends_at", "minutes", "note"))
    events = AuditEvent.objects.count()
    report = team_ledgers.team_ledger_import(kind=kind, data=data, file_name=name, principal=world.users["staff"])
    assert report["unchanged"] == len(rows) - 1
    assert (report["created"], report["updated"], report["refused"]) == (0, 0, 0)
    assert [r["row"] for r in report["rows"]] == list(range(2, len(rows) + 1))
    assert (ReportingUnit.objects.count(), UnitMember.objects.count(), Volunteer.objects.count()) == counts
    assert list(VolunteerShift.objects.values_list("pk", "ends_at", "minutes", "note")) == shifts
    assert AuditEvent.objects.count() == events + 1  # only the import's own record


def test_masked_numbers_as_exported_without_the_unmask_right_match_what_is_on_file(world):
    add_units(world)
    add_volunteers(world)
    header = [c.header for c in team_ledgers.ledger_columns("units")]
    rows = [header, ["单位", "S-C", "建新供电所", "驻区单位", "冯主任", "139****0031", "电工", "8"]]
    report = team_ledgers.team_ledger_import(
        kind="units", data=_xlsx(rows), file_name="u.xlsx", principal=world.users["staff"]
    )
    assert report["unchanged"] == 1
    header = [c.header for c in team_ledgers.ledger_columns("volunteers")]
    rows = [header, ["S-C", "周志愿", "", "139****0012", "", "开车", "", "待审核"]]
    report = team_ledgers.team_ledger_import(
        kind="volunteers", data=_xlsx(rows), file_name="v.xlsx", principal=world.users["staff"]
    )
    assert report["unchanged"] == 1


def test_an_import_updates_by_natural_key_and_adds_the_rest(world):
    add_units(world)
    header = [c.header for c in team_ledgers.ledger_columns("units")]
    rows = [
        header,
        ["单位", "S-C", "建新供电所", "驻区单位", "冯主任", "13900000031", "电工、抢修", "10"],  # updated
        ["党员", "S-C", "建新供电所", "", "陈党员", "13900000032", "开车", "0"],  # unchanged
        ["党员", "S-C", "建新供电所", "", "林党员", "13900000033", "", "4"],  # created
        ["单位", "S-C", "泉城物业", "两新组织", "马经理", "13900000034", "", ""],  # created
        ["党员", "S-C", "泉城物业", "", "秦党员", "", "消杀", "2"],  # created (after its unit)
    ]
    report = team_ledgers.team_ledger_import(
        kind="units", data=_xlsx(rows), file_name="u.xlsx", principal=world.users["staff"]
    )
    assert [(r["row"], r["outcome"]) for r in report["rows"]] == [
        (2, "updated"),
        (3, "unchanged"),
        (4, "created"),
        (5, "created"),
        (6, "created"),
    ]
    assert (report["created"], report["updated"], report["unchanged"]) == (3, 1, 1)
    unit = ReportingUnit.objects.get(name="建新供电所")
    assert (unit.skills, unit.hours_offered) == ("电工、抢修", 10)
    assert sorted(unit.members.values_list("name", flat=True)) == ["林党员", "陈党员"]
    assert ReportingUnit.objects.get(name="泉城物业").members.get().skills == "消杀"
    assert AuditEvent.objects.filter(action="reporting_unit.update", object_id=str(unit.pk)).count() == 1
    # The same file again: nothing left to change.
    report = team_ledgers.team_ledger_import(
        kind="units", data=_xlsx(rows), file_name="u.xlsx", principal=world.users["staff"]
    )
    assert report["unchanged"] == 5


def test_hours_and_volunteers_are_added_and_corrected(world):
    approved = _shifts(world)
    data, _name = _export(world, "hours")
    rows = _sheet(data)
    rows[1][6] = rows[1][6][:-2] + "30"  # the gate shift ended half an hour later
    rows[1][8] = "东门, 夜班"
    start = timezone.localtime() - dt.timedelta(days=3)
    rows.append(
        [
            "S-C",
            "吴志愿",
            "",
            "13900000011",
            "宣传",
            start.strftime("%Y-%m-%d 09:00"),
            start.strftime("%Y-%m-%d 11:30"),
            "",
            "",
        ]
    )
    report = team_ledgers.team_ledger_import(
        kind="hours", data=_xlsx(rows), file_name="h.xlsx", principal=world.users["staff"]
    )
    assert [r["outcome"] for r in report["rows"]] == ["updated", "unchanged", "created"]
    gate = VolunteerShift.objects.get(volunteer=approved, kind="gate_duty")
    assert (gate.minutes, gate.note) == (150, "东门, 夜班")
    assert VolunteerShift.objects.get(kind="publicity").minutes == 150
    header = [c.header for c in team_ledgers.ledger_columns("volunteers")]
    rows = [
        header,
        ["S-C", "吴志愿", "", "13900000011", "", "理发", "周末", ""],  # updated (out of the team, skills)
        ["S-C", "郑志愿", "", "13900000013", "红色管家", "", "", "已审核"],  # created, pending all the same
    ]
    report = team_ledgers.team_ledger_import(
        kind="volunteers", data=_xlsx(rows), file_name="v.xlsx", principal=world.users["staff"]
    )
    assert [r["outcome"] for r in report["rows"]] == ["updated", "created"]
    approved.refresh_from_db()
    assert (approved.team_id, approved.skills, approved.status) == (None, "理发", "approved")
    new = Volunteer.objects.get(name="郑志愿")
    assert (new.status, new.team.name) == ("pending", "红色管家")


def test_a_bad_row_refuses_the_whole_file_and_lists_every_problem_by_row(world):
    add_units(world)
    _shifts(world)
    header = [c.header for c in team_ledgers.ledger_columns("units")]
    rows = [
        header,
        ["单位", "S-C", "新单位", "驻区单位", "甲", "13900000041", "", "4"],  # fine alone
        ["党员", "S-C", "无此单位", "", "乙", "", "", ""],
        ["单位", "S-X", "外单位", "驻区单位", "丙", "13900000042", "", ""],
        ["单位", "S-C-G1", "网格单位", "驻区单位", "丁", "13900000043", "", ""],
        ["单位", "S-C", "新单位", "驻区单位", "甲", "13900000041", "", "4"],
        ["单位", "S-C", "建新供电所", "机关", "冯主任", "13900000031", "", "200"],
        ["党员", "S-C", "建新供电所", "", "陈党员", "", "", "999"],
    ]
    before = (ReportingUnit.objects.count(), UnitMember.objects.count(), AuditEvent.objects.count())
    with pytest.raises(RowErrors) as refused:
        team_ledgers.team_ledger_import(
            kind="units", data=_xlsx(rows), file_name="u.xlsx", principal=world.users["staff"]
        )
    assert [(r["row"], r["code"]) for r in refused.value.rows] == [
        (3, "unit_unknown"),
        (4, "grid_unknown"),
        (5, "grid_not_community"),
        (6, "ledger_row_twice"),
        (7, "unit_kind"),
        (8, "hours_invalid"),
    ]
    assert refused.value.as_dict()["refused"] == 6
    assert (ReportingUnit.objects.count(), UnitMember.objects.count(), AuditEvent.objects.count()) == before
    header = [c.header for c in team_ledgers.ledger_columns("hours")]
    rows = [
        header,
        ["S-C", "周志愿", "", "13900000012", "值守", "2026-01-01 08:00", "2026-01-01 10:00"],  # pending
        ["S-C", "无名", "", "13900000099", "值守", "2026-01-01 08:00", "2026-01-01 10:00"],
        ["S-C", "吴志愿", "", "13900000011", "巡逻", "2026-01-01 08:00", "2026-01-01 10:00"],
        ["S-C", "吴志愿", "", "13900000011", "值守", "昨天", "2026-01-01 10:00"],
    ]
    with pytest.raises(RowErrors) as refused:
        team_ledgers.team_ledger_import(
            kind="hours", data=_xlsx(rows), file_name="h.xlsx", principal=world.users["staff"]
        )
    assert [(r["row"], r["code"]) for r in refused.value.rows] == [
        (2, "volunteer_not_approved"),
        (3, "volunteer_unknown"),
        (4, "shift_kind"),
        (5, "time_invalid"),
    ]
    with pytest.raises(Forbidden):  # importing needs import_export
        team_ledgers.team_ledger_import(
            kind="units", data=_xlsx(rows), file_name="u.xlsx", principal=world.users["head1"]
        )


def test_the_api_and_the_page_import_and_export(world):
    add_units(world)
    call = api(world, "staff")
    exported = call("get", "/api/v1/mobilization/ledgers/units/export?grid=S-C")
    assert exported.status_code == 200
    data = b"".join(exported.streaming_content)
    assert _sheet(data)[1][:3] == ["单位", "S-C", "建新供电所"]
    client = Client()
    client.force_login(world.users["staff"])
    upload = io.BytesIO(data)
    upload.name = "units.xlsx"
    # Queued as a background job (mobilization.ledger_jobs); its page shows the report
    # (tests/mobilization/test_ledger_jobs.py).
    page = client.post("/mobilization/ledgers/units/", {"file": upload}, follow=True)
    assert page.redirect_chain[0][0].startswith("/jobs/")
    text = page.content.decode()
    for key, value in (("created", 0), ("updated", 0), ("unchanged", 2)):
        assert f'data-count="{key}">{value}<' in text
    header = [c.header for c in team_ledgers.ledger_columns("units")]
    upload = io.BytesIO(_xlsx([header, ["党员", "S-C", "无此单位", "", "乙", "", "", ""]]))
    upload.name = "units.xlsx"
    page = client.post("/mobilization/ledgers/units/", {"file": upload}, follow=True)
    assert page.redirect_chain[0][0].startswith("/jobs/")
    assert 'data-row="2"' in page.content.decode() and "无此单位" not in page.content.decode()
    assert client.get("/mobilization/ledgers/nothing/").status_code == 404
    assert call("get", "/api/v1/mobilization/ledgers/nothing/export?grid=S-C").status_code in (404, 422)


def test_a_planned_gate_duty_re_imports_unchanged(world):
    from epigrid.gates import services as gates

    approved = _shifts(world)
    gate = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    start = timezone.localtime().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    vol.shift_record(
        volunteer=approved,
        kind="gate_duty",
        checkpoint=gate,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=4),
        principal=world.users["staff"],
    )
    data, name = _export(world, "hours")
    report = team_ledgers.team_ledger_import(kind="hours", data=data, file_name=name, principal=world.users["staff"])
    assert (report["unchanged"], report["updated"], report["created"]) == (3, 0, 0)
