"""Checks for omissions and concealment (漏报/瞒报, issue 13 §5): each check finds its subjects
with evidence, once; an inspector confirms or dismisses each; nothing else follows by itself."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.control import services as control
from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.gates import services as gates
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.health.services import Reading, temperature_reports_record
from epigrid.oversight import omissions, reports
from epigrid.oversight.models import DailyReport, OmissionFinding
from tests.factories import make_id_number
from tests.oversight.world import add_verification


def _kinds():
    return sorted(OmissionFinding.objects.values_list("kind", flat=True))


def test_readings_that_look_copied_are_found_once(world):
    now = timezone.now()
    base = timezone.localtime(now).replace(hour=8, minute=0, second=0, microsecond=0)
    # p1: one value at 08:00 sharp on six days, twice on two of them (8 rows, as if copied)
    copied = [
        Reading(person_id=world.persons["p1"].pk, value=Decimal("36.5"), measured_at=base - dt.timedelta(days=d))
        for d in (1, 2, 3, 4, 5, 6, 1, 2)
    ]
    honest = [
        Reading(
            person_id=world.persons["p1b"].pk,
            value=Decimal("36.3") + Decimal(d) / 10,
            measured_at=base - dt.timedelta(days=d, minutes=7 * d),
        )
        for d in range(1, 7)
    ]
    temperature_reports_record(readings=copied + honest, source="staff", principal=world.admin, now=now)
    assert omissions.omissions_check(now=now, force=True) == 1
    finding = OmissionFinding.objects.get()
    assert (finding.kind, finding.person) == ("copied_readings", world.persons["p1"])
    assert finding.evidence["readings"] == 8 and finding.evidence["days"] == 6
    assert omissions.omissions_check(now=now, force=True) == 0  # found once


def test_a_quarantined_household_that_went_out_on_its_pass(world):
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    now = timezone.now()
    control.control_order_start(
        person=world.persons["p1"],
        kind="home_quarantine",
        reason="other",
        starts_at=now - dt.timedelta(days=2),
        principal=world.admin,
    )
    household_pass = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)
    # An exit the gate allowed while the household was under home quarantine (an offline scan
    # synced later, a guard's override): recorded as it happened.
    Passage.objects.create(
        checkpoint=checkpoint,
        grid=world.nodes["S-C-G1"],
        household_pass=household_pass,
        direction="out",
        verdict="allowed",
        guard=world.users["guard1"],
        at=now - dt.timedelta(hours=3),
    )
    # The gate itself refuses the same exit now: that is no omission.
    refused = gates.gate_scan(
        checkpoint=checkpoint, number=household_pass.number, direction="out", principal=world.users["guard1"]
    )
    assert refused.passage.verdict == "refused"
    assert omissions.omissions_check(now=now, force=True) == 1
    finding = OmissionFinding.objects.get()
    assert (finding.kind, finding.household) == ("quarantined_went_out", world.households["h1"])
    assert finding.evidence["checkpoint"] == "北门"


def test_a_pushed_person_not_made_a_key_person_by_the_deadline(world):
    add_verification(world)
    now = timezone.now()
    assert omissions.omissions_check(now=now, force=True) == 0  # the deadline is still ahead
    later = now + dt.timedelta(days=2)
    assert omissions.omissions_check(now=later, force=True) == 1
    finding = OmissionFinding.objects.get()
    assert (finding.kind, finding.person, finding.grid) == (
        "pushed_not_registered",
        world.persons["p1"],
        world.nodes["S-C-G1-B1"],
    )


def test_a_visitor_from_a_risk_area_never_made_a_key_person(world):
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    control.risk_area_save(code="420600", name="湖北省襄阳市", principal=world.admin)
    for region in ("420602", "370102"):
        gates.visitor_register(
            checkpoint=checkpoint,
            name="访客",
            phone="13900001111",
            id_number=make_id_number(region),
            visiting=world.households["h1"],
            reason="探亲",
            temperature="36.4",
            principal=world.users["guard1"],
        )
    assert omissions.omissions_check(force=True) == 1
    finding = OmissionFinding.objects.get()
    assert finding.kind == "visitor_from_risk_area" and finding.evidence["visitor_id"].startswith("420602")
    assert finding.evidence["risk_area"] == "湖北省襄阳市"


def test_grids_often_late_and_fevers_at_the_gate_missing_from_the_report(world):
    today = timezone.localdate()
    for days in (1, 2):
        day = today - dt.timedelta(days=days)
        reports.reports_draft(now=timezone.make_aware(dt.datetime.combine(day, dt.time(18, 0))))
        reports.reports_late(now=timezone.make_aware(dt.datetime.combine(day, dt.time(23, 0))))
    assert omissions.omissions_check(force=True) >= 2
    late = OmissionFinding.objects.filter(kind="reports_late")
    assert {f.grid.code for f in late} == {"S", "S-C", "S-C-G1", "S-C-G2"}
    assert {f.evidence["late_reports"] for f in late} == {2}
    # Today: a fever measured at 第1网格's gate, and its head signs a report saying no fever.
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    number = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True).number
    gates.gate_scan(
        checkpoint=checkpoint, number=number, direction="in", temperature="38.1", principal=world.users["guard1"]
    )
    reports.reports_draft(now=timezone.make_aware(dt.datetime.combine(today, dt.time(18, 0))))
    report = DailyReport.objects.get(grid=world.nodes["S-C-G1"], day=today)
    assert report.figures["fevers"] == 0
    reports.report_sign(
        report=report, remarks="", seen=reports.version(*reports.current(report)), principal=world.users["head1"]
    )
    assert omissions.omissions_check(force=True) == 1
    finding = OmissionFinding.objects.get(kind="gate_fever_unreported")
    assert finding.grid.code == "S-C-G1" and finding.evidence == {"day": today.isoformat(), "gate_fevers": 1}


def test_the_inspector_reviews_and_no_one_else(world):
    add_verification(world)
    omissions.omissions_check(now=timezone.now() + dt.timedelta(days=2), force=True)
    finding = OmissionFinding.objects.get()
    with pytest.raises(Forbidden):
        omissions.finding_review(finding=finding, confirmed=True, note="x", principal=world.users["member1"])
    with pytest.raises(NotFound):
        omissions.finding_get(user=world.users["head2"], pk=finding.pk)
    with pytest.raises(DomainError):
        omissions.finding_review(finding=finding, confirmed=True, note=" ", principal=world.users["inspector"])
    client = Client()
    client.force_login(world.users["inspector"])
    page = client.get("/inspections/omissions/").content.decode()
    assert "张三" in page and "市大数据筛查名单" in page
    response = client.post(
        f"/inspections/omissions/{finding.pk}/review/", {"verdict": "dismissed", "note": "已离开本市，有车票为证"}
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert (finding.status, finding.reviewed_by) == ("dismissed", world.users["inspector"])
    assert "张三" not in client.get("/inspections/omissions/").content.decode()  # open ones by default


def test_a_confirmed_case_with_fewer_contacts_than_household_members(world):
    from epigrid.health import services as health

    now = timezone.now()
    health.sample_record(
        person=world.persons["p1"],
        specimen_number="SP-OM-1",
        sampled_at=now - dt.timedelta(days=2),
        principal=world.admin,
    )
    health.results_record(
        results=[health.ResultIn("SP-OM-1", "positive", now - dt.timedelta(hours=2))], principal=world.admin
    )
    case = world.persons["p1"].case
    health.consultation_record(
        case=case, held_at=now, experts="市级专家组", conclusion="confirmed", principal=world.admin
    )
    omissions.omissions_check(force=True)
    # 张三 lives with 李四; no contact was recorded: the case's file names fewer than its household.
    finding = OmissionFinding.objects.get(kind="few_contacts")
    assert finding.person == world.persons["p1"] and finding.evidence == {"contacts": 0, "household_members": 1}


def test_findings_feed_the_inspection_round_the_dashboard_and_the_daily_report(world):
    import datetime as dt

    from epigrid.oversight import inspections, rollup
    from epigrid.oversight.models import Checklist

    add_verification(world)
    later = timezone.now() + dt.timedelta(days=2)
    omissions.omissions_check(now=later, force=True)
    planned = inspections.round_plan(
        grid=world.nodes["S-C-G1"],
        checklist=Checklist.objects.get(grid__isnull=True),
        planned_for=timezone.localdate(),
        principal=world.users["inspector"],
    )
    client = Client()
    client.force_login(world.users["inspector"])
    page = client.get(f"/inspections/{planned.pk}/").content.decode()
    assert 'data-testid="round-omissions"' in page
    rollup.refresh()
    reports.reports_draft(now=timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(18, 0))))
    report = DailyReport.objects.get(grid=world.nodes["S-C-G1"], day=timezone.localdate())
    assert report.figures["omissions_open"] == 1


def test_readings_reported_by_staff_on_a_day_without_contact_with_the_person(world):
    from epigrid.health import services as health

    now = timezone.now()
    pol = health.policy()
    yesterday = timezone.localdate(now) - dt.timedelta(days=1)
    morning, noon = health.slot_moment(yesterday, 0, pol), health.slot_moment(yesterday, 1, pol)
    p1, p1b, p2 = world.persons["p1"], world.persons["p1b"], world.persons["p2"]
    member1 = world.users["member1"]

    def liaison(person, at):
        return Reading(person_id=person.pk, value=Decimal("36.5"), measured_at=at)

    # 张三: two slots yesterday typed by the liaison, and a phone call only the day before: found.
    # p1b: the same readings, and a home visit yesterday evening: not found.
    # p2: a device's readings yesterday, no contact: not staff's report, not found.
    temperature_reports_record(
        readings=[liaison(p1, morning), liaison(p1, noon), liaison(p1b, morning), liaison(p1b, noon)],
        source="liaison",
        principal=member1,
        now=now,
    )
    temperature_reports_record(readings=[liaison(p2, morning)], source="device", principal=world.admin, now=now)
    health.staff_contact_record(person=p1, kind="phone", at=morning - dt.timedelta(days=1), principal=member1)
    health.staff_contact_record(person=p1b, kind="visit", at=noon + dt.timedelta(hours=6), principal=member1)
    # Today's readings without a contact yet: the day is not over, nothing found for it.
    temperature_reports_record(
        readings=[liaison(p1b, now - dt.timedelta(minutes=5))], source="liaison", principal=member1, now=now
    )

    assert omissions.omissions_check(now=now, force=True) == 1
    finding = OmissionFinding.objects.get()
    assert (finding.kind, finding.person, finding.grid) == ("reading_without_contact", p1, p1.grid)
    assert finding.evidence["day"] == yesterday.isoformat()
    assert (finding.evidence["readings"], finding.evidence["slots"]) == (2, 2)
    assert finding.evidence["reported_by"] == "member1"
    assert omissions.omissions_check(now=now, force=True) == 0  # found once

    # Seen on the inspector's list with its evidence; member2 (the other compound) sees nothing.
    client = Client()
    client.force_login(world.users["inspector"])
    body = client.get("/inspections/omissions/").content.decode()
    assert p1.name in body and yesterday.isoformat() in body
    assert not omissions.findings_for(world.users["member2"]).exists()


def test_a_contact_recorded_the_same_day_clears_the_day(world):
    from epigrid.health import services as health

    now = timezone.now()
    pol = health.policy()
    yesterday = timezone.localdate(now) - dt.timedelta(days=1)
    at = health.slot_moment(yesterday, 2, pol)
    p1 = world.persons["p1"]
    temperature_reports_record(
        readings=[Reading(person_id=p1.pk, value=Decimal("36.6"), measured_at=at)],
        source="liaison",
        principal=world.users["member1"],
        now=now,
    )
    # Any staff member's contact counts (here the grid head's video call), at any hour of that day.
    late = timezone.make_aware(dt.datetime.combine(yesterday, dt.time(22, 30)))
    health.staff_contact_record(person=p1, kind="video", at=late, principal=world.users["head1"])
    assert omissions.omissions_check(now=now, force=True) == 0
    assert not OmissionFinding.objects.exists()
