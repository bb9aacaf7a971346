"""Visitors registered at the gate while offline (issue 11 "Offline"): the guard's phone keeps each
with a client id and sends them to /api/v1/visitors/batch when the network returns; sent twice,
nothing is registered twice; a client id used for something else is refused."""

import datetime as dt
import uuid

from django.utils import timezone

from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.core.models import AuditEvent
from epigrid.gates.models import Passage, Visitor
from tests.factories import api, make_id_number


def _row(visiting="1-101", minutes_ago=20, **extra):
    at = timezone.localtime() - dt.timedelta(minutes=minutes_ago)
    return {
        "client_id": str(uuid.uuid4()),
        "at": at.isoformat(),
        "name": "快递员",
        "phone": "13900001111",
        "id_number": make_id_number(),
        "visiting": visiting,
        "reason": "送药",
        "temperature": "36.5",
        **extra,
    }


def test_a_batch_sent_twice_registers_each_visitor_once_at_the_time_taken(world, gate):
    call = api(world, "guard1")
    rows = [_row(), _row("1-1-101", minutes_ago=5)]
    body = {"checkpoint_id": gate.pk, "visitors": rows}
    first = call("post", "/api/v1/visitors/batch", body)
    assert first.status_code == 200, first.content
    assert [r["outcome"] for r in first.json()["results"]] == ["stored", "stored"]
    again = call("post", "/api/v1/visitors/batch", body)  # the answer was lost: sent again
    assert again.status_code == 200, again.content
    assert [r["outcome"] for r in again.json()["results"]] == ["resent", "resent"]
    assert [r["passage_id"] for r in again.json()["results"]] == [r["passage_id"] for r in first.json()["results"]]
    assert Visitor.objects.count() == 2 and Passage.objects.count() == 2
    assert AuditEvent.objects.filter(action="visitor.register").count() == 2
    passage = Passage.objects.get(client_id=rows[0]["client_id"])
    assert passage.visitor.visiting == world.households["h1"] and passage.verdict == "allowed"
    assert abs(passage.at - dt.datetime.fromisoformat(rows[0]["at"])) < dt.timedelta(seconds=1)
    # The same row twice in one batch is one visitor.
    twice = _row()
    same = call("post", "/api/v1/visitors/batch", {"checkpoint_id": gate.pk, "visitors": [twice, twice]})
    assert [r["outcome"] for r in same.json()["results"]] == ["stored", "resent"]
    assert Visitor.objects.count() == 3


def test_a_client_id_sent_before_for_another_visit_is_refused(world, gate):
    call = api(world, "guard1")
    row = _row()
    assert call("post", "/api/v1/visitors/batch", {"checkpoint_id": gate.pk, "visitors": [row]}).status_code == 200
    other = {**row, "at": (timezone.localtime() - dt.timedelta(minutes=3)).isoformat()}
    refused = call("post", "/api/v1/visitors/batch", {"checkpoint_id": gate.pk, "visitors": [other]})
    assert refused.status_code == 422
    assert refused.json()["rows"][0]["code"] == "client_id_reused"
    assert Visitor.objects.count() == 1


def test_a_bad_row_refuses_the_batch_listing_every_bad_row(world, gate):
    call = api(world, "guard1")
    body = {
        "checkpoint_id": gate.pk,
        "visitors": [_row(), _row("9-999"), _row(id_number="123"), _row(minutes_ago=-60)],
    }
    answer = call("post", "/api/v1/visitors/batch", body)
    assert answer.status_code == 422, answer.content
    rows = answer.json()["rows"]
    assert [r["index"] for r in rows] == [1, 2, 3]
    assert rows[0]["code"] == "visiting_not_found" and rows[2]["code"] == "at_in_future"
    assert "message" in rows[0] and rows[0]["messages"]
    assert not Visitor.objects.exists() and not Passage.objects.exists()


def test_a_visit_into_home_quarantine_is_refused_when_it_arrives_and_alerts_the_liaison(world, gate):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    answer = api(world, "guard1")("post", "/api/v1/visitors/batch", {"checkpoint_id": gate.pk, "visitors": [_row()]})
    assert answer.status_code == 200, answer.content
    result = answer.json()["results"][0]
    assert (result["verdict"], result["reason"]) == ("refused", "visit_quarantine")
    assert answer.json()["refused"] == 1
    assert Alert.objects.filter(kind="gate_refusal", dedup_key=f"gate:{result['passage_id']}").exists()


def test_only_a_guard_of_the_checkpoint_may_send(world, gate):
    body = {"checkpoint_id": gate.pk, "visitors": [_row()]}
    assert api(world, "guard1")  # a guard of S-C-G1 may (above)
    assert api(world, "member2")("post", "/api/v1/visitors/batch", body).status_code == 404
    assert api(world, "norole")("post", "/api/v1/visitors/batch", body).status_code == 404
    assert not Visitor.objects.exists()
