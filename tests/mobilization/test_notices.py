"""Notices to households (告知书): issued by the community for a grid subtree or a compound under
closed management, shown on each affected resident's personal link with a "read" button, read
receipts counted per grid; a quarantined household that leaves it unread past the setting alerts
its liaison, once."""

import datetime as dt

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.health import services as health
from epigrid.mobilization import notices
from epigrid.mobilization.models import Notice, NoticeRead
from tests.factories import api


def _client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def test_issue_show_read_and_count_per_grid(world):
    staff = _client(world, "staff")
    response = staff.post(
        reverse("mobilization:notices"),
        {
            "scope": "grid",
            "grid": "S-C",
            "audience": "all",
            "title": "关于小区封闭管理的告知书",
            "text": "即日起封闭管理。",
        },
    )
    notice = Notice.objects.get()
    assert response.status_code == 302 and notice.grid == world.nodes["S-C"]
    page = staff.get(reverse("mobilization:notice", args=[notice.pk])).content.decode()
    assert "S-C-G1 name" in page and "S-C-G2 name" in page

    # 张三 sees it on his personal link and taps "read"; the count of 第1网格 moves, 第2网格's not.
    token = health.resident_link_issue(person=world.persons["p1"], principal=world.users["member1"])
    resident = Client()
    link_page = resident.get(reverse("resident", args=[token])).content.decode()
    assert (
        "关于小区封闭管理的告知书" in link_page
        and reverse("resident_notice_read", args=[token, notice.pk]) in link_page
    )
    resident.post(reverse("resident_notice_read", args=[token, notice.pk]))
    resident.post(reverse("resident_notice_read", args=[token, notice.pk]))  # a second tap: still one receipt
    assert NoticeRead.objects.filter(notice=notice).count() == 1
    assert 'data-testid="notice-read"' in resident.get(reverse("resident", args=[token])).content.decode()
    counts = {r["code"]: (r["read"], r["households"]) for r in notices.read_counts(notice)}
    assert counts["S-C-G1"][0] == 1 and counts["S-C-G2"][0] == 0
    detail = api(world, "staff")("get", f"/api/v1/mobilization/notices/{notice.pk}").json()
    assert {r["grid"]: r["read"] for r in detail["reads"]} == {"S-C-G1": 1, "S-C-G2": 0}
    # 第2网格's grid member sees only their grid's counts.
    only = api(world, "member2")("get", f"/api/v1/mobilization/notices/{notice.pk}")
    assert only.status_code == 404  # the notice is the community's: out of a grid member's sight
    assert AuditEvent.objects.filter(action="notice.read", actor_label="system:resident-notice").count() == 1


def test_a_notice_for_one_compound_is_not_on_another_compounds_links(world):
    notice = notices.notice_issue(grid=world.nodes["S-C-G1"], title="一号院告知书", text="x", principal=world.admin)
    other = health.resident_link_issue(person=world.persons["p2"], principal=world.users["member2"])
    resident = Client()
    assert "一号院告知书" not in resident.get(reverse("resident", args=[other])).content.decode()
    assert resident.post(reverse("resident_notice_read", args=[other, notice.pk])).status_code == 404
    assert not NoticeRead.objects.exists()


def test_refusals(world):
    with pytest.raises((NotFound, Forbidden)):
        notices.notice_issue(grid=world.nodes["S-C-G1"], title="t", text="x", principal=world.users["member1"])
    with pytest.raises(DomainError) as exc:
        notices.notice_issue(grid=world.nodes["S-C-G1"], title="t", principal=world.admin)
    assert exc.value.code == "notice_empty"
    with pytest.raises(DomainError) as exc:
        notices.notice_issue(grid=world.nodes["S-C-G1"], title="t", link="javascript:alert(1)", principal=world.admin)
    assert exc.value.code == "link_invalid"
    with pytest.raises(DomainError) as exc:
        notices.notice_issue(
            grid=world.nodes["S-C-G1"], title="t", text="x", scope="closed_compound", principal=world.admin
        )
    assert exc.value.code == "compound_not_closed"
    response = api(world, "head1")(
        "post", "/api/v1/mobilization/notices", {"grid": "S-C-G1", "title": "t", "link": "ftp://x"}
    )
    assert response.status_code == 400 and not Notice.objects.exists()


@override_settings(NOTICE_UNREAD_ALERT_HOURS=12)
def test_material_to_quarantined_households_and_the_unread_alert(world):
    """A booklet link pushed to the households under home quarantine: only they see it; one left
    unread after 12 hours alerts its liaison, once; a household that read it does not."""
    control.control_order_start(
        person=world.persons["p2"], kind="home_quarantine", reason="other", principal=world.admin
    )
    notices.notice_issue(
        grid=world.nodes["S-C"],
        title="防控知识手册",
        link="https://example.org/booklet.pdf",
        audience="quarantined",
        principal=world.admin,
    )
    quarantined = health.resident_link_issue(person=world.persons["p2"], principal=world.users["member2"])
    free = health.resident_link_issue(person=world.persons["p1"], principal=world.users["member1"])
    resident = Client()
    assert "https://example.org/booklet.pdf" in resident.get(reverse("resident", args=[quarantined])).content.decode()
    assert "防控知识手册" not in resident.get(reverse("resident", args=[free])).content.decode()

    before = Alert.objects.filter(kind="notice_unread").count()
    assert notices.notices_unread(now=timezone.now() + dt.timedelta(hours=11)) == 0
    later = timezone.now() + dt.timedelta(hours=13)
    assert notices.notices_unread(now=later) == 1
    alert = Alert.objects.get(kind="notice_unread")
    assert alert.person == world.persons["p2"] and alert.detail["notice_title"] == "防控知识手册"
    assert alert.owner is not None
    assert notices.notices_unread(now=later + dt.timedelta(hours=1)) == 0  # once
    assert Alert.objects.filter(kind="notice_unread").count() == before + 1

    # Another notice, read in time: no alert.
    second = notices.notice_issue(
        grid=world.nodes["S-C"], title="解除告知", text="x", audience="quarantined", principal=world.admin
    )
    resident.post(reverse("resident_notice_read", args=[quarantined, second.pk]))
    assert notices.notices_unread(now=later) == 0


@override_settings(NOTICE_UNREAD_ALERT_HOURS=12)
def test_the_unread_sweep_alerts_each_liaison_and_locks_the_audit_head_only_at_the_end(world):
    """Two notices unread by two quarantined households: four alerts, each to the household's
    liaison (its team's, else the compound's grid member), raised together after every notice was
    read through: the audit chain's head, which every audited write in the city waits for, is
    not held through the other notices."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from epigrid.core.models import AuditChainHead

    control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.admin
    )
    for key in ("p1", "p2"):
        control.control_order_start(
            person=world.persons[key], kind="home_quarantine", reason="other", principal=world.admin
        )
    issued = [
        notices.notice_issue(
            grid=world.nodes["S-C"], title=title, text="x", audience="quarantined", principal=world.admin
        )
        for title in ("防控知识手册", "解除告知")
    ]
    with CaptureQueriesContext(connection) as queries:
        assert notices.notices_unread(now=timezone.now() + dt.timedelta(hours=13)) == 4
    alerts = Alert.objects.filter(kind="notice_unread")
    assert {(a.detail["notice"], a.person_id, a.owner_id) for a in alerts} == {
        (notice.pk, world.persons[person].pk, world.users[owner].pk)
        for notice in issued
        for person, owner in (("p1", "member1"), ("p2", "member2"))
    }
    sql = [q["sql"] for q in queries.captured_queries]
    head_locked = next(i for i, statement in enumerate(sql) if AuditChainHead._meta.db_table in statement)
    assert not any("control_controlorder" in statement for statement in sql[head_locked:])
    assert notices.notices_unread(now=timezone.now() + dt.timedelta(hours=14)) == 0
