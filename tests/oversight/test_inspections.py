"""Inspections (issue 13 §4): a round over a grid with a checklist, findings per item, a
rectification the owner answers with evidence and the inspector closes; overdue ones alert."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from epigrid.alerts.models import Alert
from epigrid.core.audit import verify
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.oversight import inspections
from epigrid.oversight.choices import RectificationStatus
from epigrid.oversight.models import Checklist, InspectionRound, Rectification


def _photo() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(out, "JPEG")
    return SimpleUploadedFile("p.jpg", out.getvalue(), content_type="image/jpeg")


@pytest.fixture
def checklist(db):
    return Checklist.objects.get(grid__isnull=True)  # the shared template of migration 0002


@pytest.fixture
def inspection(world, checklist):
    return inspections.round_plan(
        grid=world.nodes["S-C-G1"],
        checklist=checklist,
        planned_for=dt.date(2020, 2, 10),
        principal=world.users["inspector"],
    )


def _plan(world, checklist, who="inspector", grid="S-C-G1"):
    return inspections.round_plan(
        grid=world.nodes[grid], checklist=checklist, planned_for=dt.date(2020, 2, 10), principal=world.users[who]
    )


def _all_items(world, inspection, failed=()):
    for i, _text in enumerate(inspection.items):
        inspections.finding_record(
            inspection=inspection,
            item=i,
            passed=i not in failed,
            note="台账缺三户" if i in failed else "",
            principal=world.users["inspector"],
        )


def test_the_default_checklist_holds_the_articles_points(checklist):
    assert checklist.items == ["排查到位", "管控到位", "体温四报", "卡点值守", "消杀记录", "台账规范"]


def test_a_round_is_scored_and_its_findings_are_then_final(world, inspection):
    with pytest.raises(DomainError) as exc:
        inspections.round_complete(inspection=inspection, principal=world.users["inspector"])
    assert exc.value.code == "inspection_incomplete"
    _all_items(world, inspection, failed={5})
    done = inspections.round_complete(inspection=inspection, principal=world.users["inspector"])
    assert (done.status, done.score) == ("completed", 83)  # 5 of 6
    with pytest.raises(Conflict):
        inspections.finding_record(inspection=done, item=0, passed=False, note="x", principal=world.users["inspector"])
    # Completing again changes nothing (a retry).
    assert (
        inspections.round_complete(inspection=done, principal=world.users["inspector"]).completed_at
        == done.completed_at
    )


def test_a_failed_item_needs_a_note_and_items_must_exist(world, inspection):
    inspector = world.users["inspector"]
    with pytest.raises(DomainError) as exc:
        inspections.finding_record(inspection=inspection, item=1, passed=False, principal=inspector)
    assert exc.value.code == "finding_note"
    with pytest.raises(DomainError) as exc:
        inspections.finding_record(inspection=inspection, item=6, passed=True, principal=inspector)
    assert exc.value.code == "finding_item"


def test_who_may_inspect(world, checklist, inspection):
    # A grid head sees the round of their grid but may not inspect (403); the other grid's head
    # does not see it (404); the community secretary inspects there.
    with pytest.raises(Forbidden):
        inspections.finding_record(inspection=inspection, item=0, passed=True, principal=world.users["head1"])
    with pytest.raises(NotFound):
        inspections.finding_record(inspection=inspection, item=0, passed=True, principal=world.users["head2"])
    inspections.finding_record(inspection=inspection, item=0, passed=True, principal=world.users["secretary"])
    with pytest.raises(NotFound):
        inspections.round_plan(
            grid=world.nodes["S-C-G1"],
            checklist=checklist,
            planned_for=dt.date(2020, 2, 1),
            principal=world.users["head2"],
        )


def test_rectification_answered_rechecked_and_closed(world, inspection):
    _all_items(world, inspection, failed={5})
    inspections.round_complete(inspection=inspection, principal=world.users["inspector"])
    finding = inspection.findings.get(item=5)
    due = timezone.now() + dt.timedelta(days=2)
    r = inspections.rectification_order(
        finding=finding, owner=world.users["head1"], request="补齐台账", due_at=due, principal=world.users["inspector"]
    )
    # A retry gives the same order; a passed item is not rectified.
    assert (
        inspections.rectification_order(
            finding=finding,
            owner=world.users["head1"],
            request="补齐台账",
            due_at=due,
            principal=world.users["inspector"],
        )
        == r
    )
    with pytest.raises(DomainError):
        inspections.rectification_order(
            finding=inspection.findings.get(item=0), owner=world.users["head1"], request="x", due_at=due,
            principal=world.users["inspector"],
        )  # fmt: skip
    # The owner must be staff who see the grid.
    with pytest.raises(DomainError) as exc:
        inspections.rectification_order(
            finding=finding, owner=world.users["head2"], request="x", due_at=due, principal=world.users["inspector"]
        )
    assert exc.value.code == "owner_not_here"
    # Only the owner answers: another user in sight is 403, out of sight 404.
    with pytest.raises(Forbidden):
        inspections.rectification_answer(rectification=r, answer="已补齐", principal=world.users["member1"])
    with pytest.raises(NotFound):
        inspections.rectification_answer(rectification=r, answer="已补齐", principal=world.users["member2"])
    r = inspections.rectification_answer(
        rectification=r, answer="已补齐", photo=_photo(), principal=world.users["head1"]
    )
    assert r.status == RectificationStatus.ANSWERED and r.answer_photo.name
    # Not good enough: back to the owner with the reason, then answered again and closed.
    with pytest.raises(DomainError):
        inspections.rectification_recheck(rectification=r, passed=False, principal=world.users["inspector"])
    r = inspections.rectification_recheck(
        rectification=r, passed=False, note="仍缺一户", principal=world.users["inspector"]
    )
    assert r.status == RectificationStatus.OPEN and r.recheck_note == "仍缺一户"
    r = inspections.rectification_answer(rectification=r, answer="全部补齐", principal=world.users["head1"])
    r = inspections.rectification_recheck(rectification=r, passed=True, principal=world.users["inspector"])
    assert r.status == RectificationStatus.CLOSED and r.closed_at
    actions = list(AuditEvent.objects.filter(object_type="oversight.rectification").values_list("action", flat=True))
    assert actions == [
        "rectification.order",
        "rectification.answered",
        "rectification.open",
        "rectification.answered",
        "rectification.closed",
    ]
    assert verify().ok


def test_an_overdue_rectification_alerts_the_community_once(world, inspection):
    _all_items(world, inspection, failed={2})
    finding = inspection.findings.get(item=2)
    now = timezone.now()
    r = inspections.rectification_order(
        finding=finding,
        owner=world.users["head1"],
        request="体温四报漏报",
        due_at=now + dt.timedelta(hours=1),
        principal=world.users["inspector"],
    )
    assert inspections.rectifications_overdue(now=now) == 0
    later = now + dt.timedelta(hours=2)
    assert inspections.rectifications_overdue(now=later) == 1
    assert inspections.rectifications_overdue(now=later) == 0
    alert = Alert.objects.get(kind="rectification_overdue")
    assert alert.owner == world.users["secretary"] and alert.detail["rectification"] == r.pk
    # An answered one is not overdue.
    Rectification.objects.filter(pk=r.pk).update(escalated_at=None)
    inspections.rectification_answer(rectification=r, answer="已整改", principal=world.users["head1"])
    assert inspections.rectifications_overdue(now=later) == 0


def test_scores_per_grid_and_month(world, checklist):
    for failed in ({0}, set()):
        r = inspections.round_plan(
            grid=world.nodes["S-C-G1"],
            checklist=checklist,
            planned_for=dt.date(2020, 2, 1),
            principal=world.users["inspector"],
        )
        _all_items(world, r, failed=failed)
        inspections.round_complete(inspection=r, principal=world.users["inspector"])
    rows = list(inspections.grid_scores(InspectionRound.objects.restrict(world.users["head1"])))
    assert [(x["grid__code"], x["rounds"], round(x["average"])) for x in rows] == [("S-C-G1", 2, 92)]
    assert list(inspections.grid_scores(InspectionRound.objects.restrict(world.users["head2"]))) == []


def test_checklists_are_edited_by_who_may_and_rounds_keep_their_items(world, checklist, inspection):
    with pytest.raises(Forbidden):
        inspections.checklist_save(
            checklist=checklist, name="x", items="a\nb", grid=None, principal=world.users["secretary"]
        )
    inspections.checklist_save(
        checklist=checklist, name="督查清单", items="排查到位\n消杀记录", grid=None, principal=world.users["inspector"]
    )
    inspection.refresh_from_db()
    assert len(inspection.items) == 6
    with pytest.raises(DomainError) as exc:
        inspections.checklist_save(
            name="社区清单", items="门岗登记\n门岗登记", grid=world.nodes["S-C"], principal=world.users["secretary"]
        )
    assert exc.value.code == "checklist_items"
    community = inspections.checklist_save(
        name="社区清单", items="门岗登记\n宣传到位", grid=world.nodes["S-C"], principal=world.users["secretary"]
    )
    assert set(inspections.checklists_for(world.users["secretary"], world.nodes["S-C-G1"])) == {checklist, community}
    # Listed without a grid: the shared template and those of the user's grids.
    assert set(inspections.checklists_for(world.users["head1"])) == {checklist}


# What each step does to each status: the next status, or None when it is refused.
MODEL = {
    ("answer", "open"): "answered",
    ("answer", "answered"): "answered",  # a retry
    ("answer", "closed"): None,
    ("pass", "open"): None,
    ("pass", "answered"): "closed",
    ("pass", "closed"): "closed",
    ("fail", "open"): "open",
    ("fail", "answered"): "open",
    ("fail", "closed"): None,
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["answer", "pass", "fail"]), max_size=8))
def test_the_rectification_state_machine(world, inspection, steps):
    """Any sequence of answers and re-checks follows the model: closed only after a passed
    re-check of an answer, final then, and every status carries its stamps."""
    with transaction.atomic():
        _all_items(world, inspection, failed={0})
        r = inspections.rectification_order(
            finding=inspection.findings.get(item=0),
            owner=world.users["head1"],
            request="整改",
            due_at=timezone.now() + dt.timedelta(days=1),
            principal=world.users["inspector"],
        )
        status = "open"
        for step in steps:
            expected = MODEL[(step, status)]
            try:
                if step == "answer":
                    inspections.rectification_answer(rectification=r, answer="已整改", principal=world.users["head1"])
                else:
                    inspections.rectification_recheck(
                        rectification=r, passed=step == "pass", note="不合格", principal=world.users["inspector"]
                    )
            except DomainError:
                assert expected is None, (step, status)
                continue
            assert expected is not None, (step, status)
            status = expected
            r.refresh_from_db()
            assert r.status == status
            assert (r.closed_at is not None) == (status == "closed")
            assert status == "open" or r.answered_at is not None
        transaction.set_rollback(True)


def test_the_owner_finds_the_rectification_on_the_day_page_and_answers_it(world, inspection, client):
    _all_items(world, inspection, failed={3})
    r = inspections.rectification_order(
        finding=inspection.findings.get(item=3),
        owner=world.users["head1"],
        request="卡点夜间无人值守",
        due_at=timezone.now() + dt.timedelta(days=1),
        principal=world.users["inspector"],
    )
    client.force_login(world.users["head1"])
    day = client.get("/health/today/").content.decode()
    assert "卡点夜间无人值守" in day and f"/inspections/rectifications/{r.pk}/" in day
    answered = client.post(f"/inspections/rectifications/{r.pk}/answer/", {"answer": "已排班", "photo": _photo()})
    assert answered.status_code == 302
    r.refresh_from_db()
    assert r.status == "answered" and r.answer_photo.name
    assert "卡点夜间无人值守" not in client.get("/health/today/").content.decode()
    # The inspector sees the evidence photo; the other compound's head does not find it.
    inspector = Client()
    inspector.force_login(world.users["inspector"])
    assert inspector.get(f"/inspections/rectification/{r.pk}/photo/").status_code == 200
    other = Client()
    other.force_login(world.users["head2"])
    assert other.get(f"/inspections/rectification/{r.pk}/photo/").status_code == 404
