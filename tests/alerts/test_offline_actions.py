"""Alerts acknowledged or resolved on a grid member's phone while offline (issue 11 "Offline"):
each move keeps its client id and goes to /api/v1/alerts/actions/batch when the network returns;
sent twice, nothing moves twice; any bad row refuses the batch."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from epigrid.alerts.choices import AlertKind, Severity
from epigrid.alerts.models import Alert
from epigrid.alerts.services import ESCALATION, NewAlert, alert_resolve, alerts_raise
from epigrid.core.models import AuditEvent
from tests.factories import api


@pytest.fixture
def alerts(world):
    now = timezone.now() - dt.timedelta(hours=2)
    grid = world.nodes["S-C-G1-B1"]
    raised = alerts_raise(
        principal=ESCALATION,
        now=now,
        alerts=[
            NewAlert(
                kind=AlertKind.FEVER,
                dedup_key=f"t:{n}",
                grid_id=grid.pk,
                grid_path=grid.path,
                person_id=world.persons["p1"].pk,
                severity=Severity.URGENT,
                detail={"value": "38.2"},
            )
            for n in range(3)
        ],
    )
    return sorted(raised, key=lambda a: a.pk)


def _action(alert, action, minutes_ago=10, **extra):
    at = timezone.localtime() - dt.timedelta(minutes=minutes_ago)
    return {"client_id": str(uuid.uuid4()), "alert_id": alert.pk, "action": action, "at": at.isoformat(), **extra}


def test_moves_taken_offline_are_made_once_however_often_sent(world, alerts):
    first, second, _ = alerts
    rows = [
        _action(first, "acknowledge", 30),
        _action(first, "resolve", 20, resolution="已送发热门诊"),
        _action(second, "resolve", 10, resolution="复测正常"),
    ]
    call = api(world, "member1")
    sent = call("post", "/api/v1/alerts/actions/batch", {"actions": rows})
    assert sent.status_code == 200, sent.content
    assert [r["outcome"] for r in sent.json()["results"]] == ["stored", "stored", "stored"]
    again = call("post", "/api/v1/alerts/actions/batch", {"actions": rows})
    assert again.status_code == 200, again.content
    assert [r["outcome"] for r in again.json()["results"]] == ["resent", "resent", "resent"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.resolution, first.resolved_by) == ("resolved", "已送发热门诊", world.users["member1"])
    # Made at the time it was taken, not when it arrived.
    taken = dt.datetime.fromisoformat(rows[0]["at"])
    assert abs(first.acknowledged_at - taken) < dt.timedelta(seconds=1)
    assert second.status == "resolved" and second.acknowledged_by == world.users["member1"]
    assert AuditEvent.objects.filter(action="alert.acknowledge").count() == 1
    assert AuditEvent.objects.filter(action="alert.resolve").count() == 2


def test_an_alert_resolved_meanwhile_by_someone_else_answers_already(world, alerts):
    first = alerts[0]
    alert_resolve(alert=first, resolution="社区已处理", principal=world.users["head1"])
    row = _action(first, "resolve", resolution="我也处理了")
    answer = api(world, "member1")("post", "/api/v1/alerts/actions/batch", {"actions": [row]})
    assert answer.status_code == 200, answer.content
    assert answer.json()["results"][0]["outcome"] == "already"
    first.refresh_from_db()
    assert first.resolution == "社区已处理" and first.resolved_by == world.users["head1"]


def test_a_bad_row_refuses_the_batch_and_nothing_moves(world, alerts):
    first, second, third = alerts
    rows = [
        _action(first, "acknowledge"),
        _action(second, "resolve", resolution="  "),  # no note
        _action(third, "acknowledge", minutes_ago=-60),  # in the future
    ]
    answer = api(world, "member1")("post", "/api/v1/alerts/actions/batch", {"actions": rows})
    assert answer.status_code == 422, answer.content
    assert [(r["index"], r["code"]) for r in answer.json()["rows"]] == [
        (1, "resolution_required"),
        (2, "at_in_future"),
    ]
    assert set(Alert.objects.values_list("status", flat=True)) == {"open"}
    assert not AuditEvent.objects.filter(action__in=["alert.acknowledge", "alert.resolve"]).exists()


def test_a_client_id_used_for_another_move_is_refused(world, alerts):
    first, second, _ = alerts
    call = api(world, "member1")
    row = _action(first, "acknowledge")
    assert call("post", "/api/v1/alerts/actions/batch", {"actions": [row]}).status_code == 200
    reused = {**row, "alert_id": second.pk}
    answer = call("post", "/api/v1/alerts/actions/batch", {"actions": [reused]})
    assert answer.status_code == 422 and answer.json()["rows"][0]["code"] == "client_id_reused"
    second.refresh_from_db()
    assert second.status == "open"


def test_an_alert_out_of_the_callers_area_is_a_row_error(world, alerts):
    row = _action(alerts[0], "acknowledge")
    answer = api(world, "member2")("post", "/api/v1/alerts/actions/batch", {"actions": [row]})
    assert answer.status_code == 422 and answer.json()["rows"][0]["code"] == "alert_not_found"
    assert api(world, "norole")("post", "/api/v1/alerts/actions/batch", {"actions": [row]}).status_code in (
        403,
        422,
    )
    alerts[0].refresh_from_db()
    assert alerts[0].status == "open"
