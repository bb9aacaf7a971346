"""The inspections the scoping matrices act on, in the base world (tests.factories.build_world):
all over 第1网格 (S-C-G1), none over 第2网格, so the other compound's staff see nothing of them."""

import datetime as dt
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from epigrid.oversight import inspections
from epigrid.oversight.models import Checklist


def add_inspections(world) -> dict:
    inspector, head1 = world.users["inspector"], world.users["head1"]
    shared = Checklist.objects.get(grid__isnull=True)
    local = inspections.checklist_save(
        name="第1网格清单", items=["门岗登记", "宣传到位"], grid=world.nodes["S-C-G1"], principal=inspector
    )
    planned = inspections.round_plan(
        grid=world.nodes["S-C-G1"], checklist=shared, planned_for=dt.date(2020, 2, 10), principal=inspector
    )
    inspections.finding_record(inspection=planned, item=0, passed=True, principal=inspector)
    done = inspections.round_plan(
        grid=world.nodes["S-C-G1"], checklist=local, planned_for=dt.date(2020, 2, 9), principal=inspector
    )
    findings = [
        inspections.finding_record(inspection=done, item=i, passed=False, note="台账缺项", principal=inspector)
        for i in range(2)
    ]
    inspections.round_complete(inspection=done, principal=inspector)
    due = timezone.now() + dt.timedelta(days=2)
    open_one = inspections.rectification_order(
        finding=findings[0], owner=head1, request="补齐门岗登记", due_at=due, principal=inspector
    )
    unordered = inspections.round_plan(
        grid=world.nodes["S-C-G1"], checklist=local, planned_for=dt.date(2020, 2, 11), principal=inspector
    )
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(photo, "JPEG")
    failed = inspections.finding_record(
        inspection=unordered,
        item=1,
        passed=False,
        note="无宣传栏",
        photo=SimpleUploadedFile("p.jpg", photo.getvalue(), content_type="image/jpeg"),
        principal=inspector,
    )
    full = inspections.round_plan(
        grid=world.nodes["S-C-G1"], checklist=local, planned_for=dt.date(2020, 2, 12), principal=inspector
    )
    for i in range(2):
        inspections.finding_record(inspection=full, item=i, passed=True, principal=inspector)
    answered = inspections.rectification_order(
        finding=findings[1], owner=head1, request="张贴宣传", due_at=due, principal=inspector
    )
    inspections.rectification_answer(rectification=answered, answer="已张贴", principal=head1)
    return {
        "inspection": planned.pk,
        "inspection_full": full.pk,
        "head1_user": head1.pk,
        "checklist_local": local.pk,
        "failed_finding": failed.pk,
        "rectification_open": open_one.pk,
        "rectification_answered": answered.pk,
    }


def add_reports(world) -> dict:
    """Today's daily reports, drafted (the sweep's step at its hour): 第1网格's is the one acted on."""
    from epigrid.oversight import reports
    from epigrid.oversight.models import DailyReport

    day = timezone.localdate()
    reports.reports_draft(now=timezone.make_aware(dt.datetime.combine(day, dt.time(23, 0))))
    report = DailyReport.objects.get(grid=world.nodes["S-C-G1"], day=day)
    return {"report": report.pk, "report_version": reports.version(*reports.current(report))}


def verification_xlsx(rows) -> bytes:
    """A pushed list as the level above sends it: 姓名, 身份证号, 手机号, 备注."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet()
    for r, row in enumerate([["姓名", "身份证号", "手机号", "备注"], *rows]):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


def add_verification(world) -> dict:
    """A list pushed to 花园社区 (S-C): 张三 of 第1网格 matched (第1网格's member verifies), one
    number that matches nobody (the community places it)."""
    from epigrid.core.crypto import unseal
    from epigrid.oversight import verification
    from tests.factories import make_id_number

    p1 = world.persons["p1"]
    data = verification_xlsx(
        [["张三", unseal(p1.id_number_sealed), "", "大数据推送"], ["未登记", make_id_number(), "", "大数据推送"]]
    )
    checked = verification.list_import(
        node=world.nodes["S-C"],
        name="市大数据筛查名单",
        source="市指挥部",
        data=data,
        file_name="list.xlsx",
        due_hours=24,
        principal=world.users["staff"],
    )
    matched = checked.entries.get(person__isnull=False)
    unmatched = checked.entries.get(person__isnull=True)
    return {"verification_list": checked.pk, "entry_matched": matched.pk, "entry_unmatched": unmatched.pk}


def add_omissions(world) -> dict:
    """The checks run two days on: 张三's pushed row, never made a key person, is a finding."""
    from epigrid.oversight import omissions
    from epigrid.oversight.models import OmissionFinding

    omissions.omissions_check(now=timezone.now() + dt.timedelta(days=2), force=True)
    return {"omission": OmissionFinding.objects.get(kind="pushed_not_registered").pk}
