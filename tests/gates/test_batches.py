"""Passages a guard's phone recorded offline and sent in a batch (`passages_record_batch`): checked
all first, written all at once, and safe to send again at any time."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from epigrid.accounts.services import api_token_issue
from epigrid.alerts.models import Alert
from epigrid.core.crypto import unseal
from epigrid.core.errors import RowErrors
from epigrid.core.models import AuditEvent
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.gates.services import PassageRow

# 2020-02-06 10:00 in Jinan.
START = dt.datetime(2020, 2, 6, 2, 0, tzinfo=dt.UTC)


def _number(world, key="h1"):
    return HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True).number


def _send(world, body, username="guard1"):
    token = api_token_issue(user=world.users[username])
    return Client().post(
        "/api/v1/passages/batch", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def _row(number, at, direction="in", **extra):
    return {"number": number, "direction": direction, "at": at.isoformat(), "client_id": str(uuid.uuid4()), **extra}


def _answers(response):
    return [(r["index"], r["passage_id"], r["verdict"], r["reason"]) for r in response.json()["results"]]


def test_a_batch_resent_the_next_day_stores_nothing_twice_and_answers_the_same(world, gate):
    number = _number(world)
    with time_machine.travel(START, tick=False):
        now = timezone.now()
        body = {
            "checkpoint_id": gate.pk,
            "passages": [
                _row(number, now - dt.timedelta(hours=3), "out", temperature="36.5"),
                _row(number, now - dt.timedelta(hours=1), "in", temperature=37.6),  # fever: refused
                # The guard scanned the same card twice: one passage.
                _row(number, now - dt.timedelta(minutes=30), "out"),
                _row(number, now - dt.timedelta(minutes=29, seconds=30), "out"),
            ],
        }
        first = _send(world, body)
        assert first.status_code == 200, first.content
        data = first.json()
        assert (data["stored"], data["repeated"], data["refused"]) == (3, 1, 1)
        assert [r["outcome"] for r in data["results"]] == ["stored", "stored", "stored", "double_scan"]
        assert data["results"][1]["reason"] == "fever"
        assert data["results"][3]["passage_id"] == data["results"][2]["passage_id"]

    # The phone never saw the answer and sends the same batch the next day, then again a week on.
    for later in (dt.timedelta(days=1), dt.timedelta(days=8)):
        with time_machine.travel(START + later, tick=False):
            again = _send(world, body)
        assert again.status_code == 200, again.content
        assert (again.json()["stored"], again.json()["repeated"], again.json()["refused"]) == (0, 4, 0)
        assert _answers(again) == _answers(first)
        assert [r["outcome"] for r in again.json()["results"]] == ["resent", "resent", "resent", "double_scan"]

    assert Passage.objects.count() == 3
    assert set(Passage.objects.values_list("client_id", flat=True)) == {
        uuid.UUID(row["client_id"]) for row in body["passages"][:3]
    }
    assert Alert.objects.filter(kind="fever").count() == 1
    assert AuditEvent.objects.filter(action="passages.record").count() == 1


def test_one_bad_row_refuses_the_batch_and_is_listed(world, gate):
    number = _number(world)
    now = timezone.now()
    body = {
        "checkpoint_id": gate.pk,
        "passages": [
            _row(number, now - dt.timedelta(hours=2)),
            _row(number, now + dt.timedelta(hours=1), "out"),
            _row(number, now - dt.timedelta(minutes=5), "out"),
        ],
    }
    response = _send(world, body)
    assert response.status_code == 422, response.content
    data = response.json()
    assert data["code"] == "passages_rejected"
    assert [(r["index"], r["code"], r["field"]) for r in data["rows"]] == [(1, "at_in_future", "at")]
    assert data["rows"][0]["messages"] == {
        "zh-hans": "进出时间不能晚于当前时间。",
        "en": "The passage time is in the future.",
    }
    assert not Passage.objects.exists()
    assert not AuditEvent.objects.filter(action="passages.record").exists()


def test_the_same_client_id_twice_in_a_batch_is_one_passage(world, gate):
    number = _number(world)
    row = _row(number, timezone.now() - dt.timedelta(minutes=10))
    response = _send(world, {"checkpoint_id": gate.pk, "passages": [row, dict(row)]})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["passage_id"] == results[1]["passage_id"]
    assert [r["outcome"] for r in results] == ["stored", "resent"]
    assert response.json()["stored"] == 1 and Passage.objects.count() == 1


def test_a_client_id_cannot_name_two_different_passages(world, gate):
    number = _number(world)
    now = timezone.now()
    row = _row(number, now - dt.timedelta(minutes=10))
    other = {**row, "direction": "out"}
    # Inside one batch…
    response = _send(world, {"checkpoint_id": gate.pk, "passages": [row, other]})
    assert response.status_code == 422, response.content
    assert [(r["index"], r["code"]) for r in response.json()["rows"]] == [(1, "client_id_reused")]
    assert not Passage.objects.exists()
    # …and across batches.
    assert _send(world, {"checkpoint_id": gate.pk, "passages": [row]}).status_code == 200
    response = _send(world, {"checkpoint_id": gate.pk, "passages": [other]})
    assert [(r["index"], r["code"]) for r in response.json()["rows"]] == [(0, "client_id_reused")]
    assert Passage.objects.count() == 1


def test_an_offline_passage_is_judged_as_of_its_own_time(world, gate):
    """A card revoked after it was shown was still good; a checkpoint closed after a passage
    keeps that passage, and refuses one after the closing."""
    guard, head = world.users["guard1"], world.users["head1"]
    number = _number(world)
    old = HouseholdPass.objects.get(number=number, revoked_at__isnull=True)
    shown_at = timezone.now() - dt.timedelta(hours=2)
    services.pass_reissue(household_pass=old, principal=head)
    old_card = PassageRow(client_id=uuid.uuid4(), direction="in", at=shown_at, token=unseal(old.token_sealed))
    result = services.passages_record_batch(checkpoint=gate, passages=[old_card], principal=guard)
    assert (result.results[0].passage.household_pass, result.results[0].passage.verdict) == (old, "allowed")
    # Shown now, the same card is refused.
    late = PassageRow(client_id=uuid.uuid4(), direction="in", at=timezone.now(), token=unseal(old.token_sealed))
    result = services.passages_record_batch(checkpoint=gate, passages=[late], principal=guard)
    assert result.results[0].passage.reason == "revoked"

    gate = services.checkpoint_close(checkpoint=gate, principal=world.users["secretary"])
    before = PassageRow(client_id=uuid.uuid4(), direction="out", at=shown_at + dt.timedelta(minutes=5), number=number)
    after = PassageRow(client_id=uuid.uuid4(), direction="out", at=timezone.now(), number=number)
    with pytest.raises(RowErrors) as refused:
        services.passages_record_batch(checkpoint=gate, passages=[before, after], principal=guard)
    assert [(r["index"], r["code"]) for r in refused.value.rows] == [(1, "checkpoint_closed")]
    result = services.passages_record_batch(checkpoint=gate, passages=[before], principal=guard)
    assert result.stored == 1


def test_a_time_without_an_offset_is_jinan_time(world, gate):
    local = timezone.localtime() - dt.timedelta(hours=1)
    row = _row(_number(world), local.replace(tzinfo=None))
    response = _send(world, {"checkpoint_id": gate.pk, "passages": [row]})
    assert response.status_code == 200, response.content
    assert Passage.objects.get().at == local


def test_a_large_batch_is_written_in_a_few_queries(world, gate, django_assert_max_num_queries):
    number = _number(world)
    now = timezone.now()
    rows = [
        PassageRow(
            client_id=uuid.uuid4(),
            direction="in" if i % 2 else "out",
            at=now - dt.timedelta(minutes=5 * i),
            number=number,
            temperature="36.6",
        )
        for i in range(1, 301)
    ]
    with django_assert_max_num_queries(25):
        result = services.passages_record_batch(checkpoint=gate, passages=rows, principal=world.users["guard1"])
    assert result.stored == 300 and Passage.objects.count() == 300


def test_a_guard_cannot_reach_another_compounds_checkpoint(world, gate):
    """guard1 keeps 第1网格's gate; 第2网格's gate is not theirs to see (404), by API or by page."""
    other = services.checkpoint_open(grid=world.nodes["S-C-G2"], name="南门", principal=world.users["secretary"])
    services.passes_issue(grid=world.nodes["S-C-G2"], principal=world.users["head2"])
    number = _number(world, "h2")
    response = _send(world, {"checkpoint_id": other.pk, "passages": [_row(number, timezone.now())]})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    token = api_token_issue(user=world.users["guard1"])
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    scan = api.post(
        f"/api/v1/checkpoints/{other.pk}/scan", {"number": number, "direction": "in"}, content_type="application/json"
    )
    assert scan.status_code == 404
    assert api.get(f"/api/v1/checkpoints/{other.pk}/roster").status_code == 404
    page = Client()
    page.force_login(world.users["guard1"])
    assert page.get(f"/gates/{other.pk}/").status_code == 404
    assert page.post(f"/gates/{other.pk}/scan/", {"number": number, "direction": "in"}).status_code == 404
    assert page.get(f"/gates/{other.pk}/roster/").status_code == 404
    assert not Passage.objects.exists()
    # Their own gate, for comparison: served.
    assert page.get(f"/gates/{gate.pk}/").status_code == 200


def test_a_grid_member_sees_the_gate_but_may_not_keep_it(world, gate):
    """In scope without the gate right: the page shows, the scan is refused (403), nothing stored."""
    page = Client()
    page.force_login(world.users["member1"])
    assert page.get(f"/gates/{gate.pk}/").status_code == 200
    assert page.post(f"/gates/{gate.pk}/scan/", {"number": _number(world), "direction": "in"}).status_code == 403
    assert page.post(f"/gates/{gate.pk}/roster/", {"leader": "guard1"}).status_code == 403
    assert not Passage.objects.exists()
