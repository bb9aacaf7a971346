import datetime as dt
import uuid

from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.gates.models import HouseholdPass, Passage


def _post(world, username, path, body):
    token = api_token_issue(user=world.users[username])
    return Client().post(f"/api/v1{path}", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def _number(world, key="h1"):
    return HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True).number


def _ago(**kwargs):
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**kwargs)).isoformat()


def test_a_resent_batch_stores_each_passage_once(world, gate):
    number = _number(world)
    body = {
        "checkpoint_id": gate.pk,
        "passages": [
            # Sent out of order: the server replays them in time order.
            {
                "number": number,
                "direction": "in",
                "temperature": 36.6,
                "at": _ago(hours=1),
                "client_id": str(uuid.uuid4()),
            },
            {
                "number": number,
                "direction": "out",
                "temperature": "36.5",
                "at": _ago(hours=3),
                "client_id": str(uuid.uuid4()),
            },
        ],
    }
    first = _post(world, "guard1", "/passages/batch", body)
    assert first.status_code == 200, first.content
    assert (first.json()["stored"], first.json()["repeated"]) == (2, 0)
    again = _post(world, "guard1", "/passages/batch", body)
    assert again.status_code == 200, again.content
    assert (again.json()["stored"], again.json()["repeated"]) == (0, 2)
    assert [r["passage_id"] for r in again.json()["results"]] == [r["passage_id"] for r in first.json()["results"]]
    assert Passage.objects.count() == 2
    assert sorted(Passage.objects.values_list("direction", flat=True)) == ["in", "out"]


def test_a_refused_scan_says_why(world, gate):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    response = _post(world, "guard1", f"/checkpoints/{gate.pk}/scan", {"number": _number(world), "direction": "out"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["verdict"], data["reason"], data["repeated"]) == ("refused", "quarantine", False)
    assert data["reason_label"] and data["household_pass_number"] == _number(world)
    assert {"name": "张三", "colour": "red"} in data["codes"]
    assert Alert.objects.filter(kind="gate_refusal").exists()
    # The same scan within 60 s is the same passage.
    again = _post(world, "guard1", f"/checkpoints/{gate.pk}/scan", {"number": _number(world), "direction": "out"})
    assert again.json()["passage_id"] == data["passage_id"] and again.json()["repeated"] is True


def test_unknown_pass_and_missing_pass(world, gate):
    unknown = _post(world, "guard1", f"/checkpoints/{gate.pk}/scan", {"number": "NOPE-1", "direction": "in"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "pass_not_found")
    empty = _post(world, "guard1", f"/checkpoints/{gate.pk}/scan", {"direction": "in"})
    assert (empty.status_code, empty.json()["code"]) == (400, "pass_required")


def test_bad_rows_refuse_the_batch_with_their_indexes(world, gate):
    number = _number(world)

    def row(at, **extra):
        return {"number": number, "direction": "in", "at": at, "client_id": str(uuid.uuid4()), **extra}

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    body = {
        "checkpoint_id": gate.pk,
        "passages": [
            row(_ago(minutes=5)),
            row(future),
            row(_ago(days=8)),
            row(_ago(minutes=30), number="NOPE-1"),
            row(_ago(minutes=20), temperature="hot"),
        ],
    }
    response = _post(world, "guard1", "/passages/batch", body)
    assert response.status_code == 422, response.content
    rows = response.json()["rows"]
    assert [(r["index"], r["code"]) for r in rows] == [
        (1, "at_in_future"),
        (2, "at_too_old"),
        (3, "pass_not_found"),
        (4, "temperature_invalid"),
    ]
    assert rows[0]["field"] == "at" and rows[0]["message"]
    assert not Passage.objects.exists() and not Alert.objects.exists()


def test_a_guard_of_another_compound_cannot_batch(world, gate):
    body = {
        "checkpoint_id": gate.pk,
        "passages": [
            {"number": _number(world), "direction": "in", "at": _ago(minutes=1), "client_id": str(uuid.uuid4())}
        ],
    }
    assert _post(world, "member2", "/passages/batch", body).status_code == 404
    # In scope but without the gate right (a grid member): refused, nothing stored.
    assert _post(world, "member1", "/passages/batch", body).status_code == 403
    assert not Passage.objects.exists()


def test_an_offline_passage_older_than_a_stored_one_is_kept(world, gate):
    number = _number(world)
    online = _post(world, "guard1", f"/checkpoints/{gate.pk}/scan", {"number": number, "direction": "out"})
    assert online.status_code == 200
    body = {
        "checkpoint_id": gate.pk,
        "passages": [{"number": number, "direction": "out", "at": _ago(hours=2), "client_id": str(uuid.uuid4())}],
    }
    response = _post(world, "guard1", "/passages/batch", body)
    assert response.json()["stored"] == 1
    assert Passage.objects.count() == 2
