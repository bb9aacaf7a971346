"""Tip intake (线索 → 重点人员): one service, `tip_record`, behind the page and the API."""

import datetime as dt

import pytest
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.control import selectors, services
from epigrid.control.models import KeyPerson, Tip
from epigrid.core.models import AuditEvent
from epigrid.people.models import Person
from tests.factories import make_id_number


def _api(world, username):
    token = api_token_issue(user=world.users[username])
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _page(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _actions_since(last_id):
    return [
        (e.action, e.object_type)
        for e in AuditEvent.objects.filter(id__gt=last_id).exclude(action="api_token.issue").order_by("id")
    ]


def _last_audit_id():
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of services.tip_record, whoever makes them."""
    calls = []
    real = services.tip_record

    def tip_record(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "tip_record", tip_record)
    return calls


def test_page_and_api_record_a_tip_through_the_one_service(world, spy):
    household = world.households["h1"]
    expected = [
        ("person.create", "people.person"),
        ("tip.create", "control.tip"),
        ("key_person.report", "people.person"),
        ("key_person.report", "people.person"),
    ]

    # On the page: 张三 is ticked, and a relative not registered yet comes along.
    before = _last_audit_id()
    response = _page(world, "member1").post(
        f"/control/tips/new/?household={household.pk}",
        {
            "persons": [world.persons["p1"].pk],
            "origin_code": "420606",
            "travel_mode": "self_drive",
            "reported_at": "2020-01-26T16:00",
            "reporter": "网格员",
            "new_name": "张姑",
            "new_id_number": make_id_number(),
        },
    )
    assert response.status_code == 302
    assert len(spy) == 1
    assert _actions_since(before) == expected

    # Through the API: 李四, and another relative.
    before = _last_audit_id()
    response = _api(world, "member1").post(
        "/api/v1/tips",
        {
            "person_ids": [world.persons["p1b"].pk],
            "new_persons": [{"name": "张叔", "id_number": make_id_number(), "household_id": household.pk}],
            "reported_at": "2020-01-26T17:00:00+08:00",
            "reporter": "网格员",
            "origin_code": "420606",
            "travel_mode": "train",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert len(spy) == 2
    assert _actions_since(before) == expected
    assert [kp["person_name"] for kp in response.json()["key_persons"]] == ["李四", "张叔"]
    for name in ("张姑", "张叔"):
        assert Person.objects.get(name=name).household == household
        assert KeyPerson.objects.get(person__name=name).status == "reported"


def test_a_refused_tip_registers_nobody(world):
    response = _api(world, "member1").post(
        "/api/v1/tips",
        {
            "new_persons": [{"name": "张姑", "id_number": make_id_number(), "household_id": world.households["h1"].pk}],
            "reported_at": "2020-01-26T17:00:00+08:00",
            "reporter": "网格员",
            "origin_code": "42",  # not a region code
            "travel_mode": "train",
        },
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "region_code_invalid")
    assert not Person.objects.filter(name="张姑").exists() and not Tip.objects.exists()


def test_tip_intake_is_refused_out_of_scope_and_without_the_right(world):
    body = {
        "person_ids": [world.persons["p1"].pk],
        "reported_at": "2020-01-26T17:00:00+08:00",
        "reporter": "网格员",
        "origin_code": "420606",
        "travel_mode": "train",
    }
    # member2 keeps the other compound: 张三 is not theirs to see.
    assert _api(world, "member2").post("/api/v1/tips", body, content_type="application/json").status_code == 404
    # The building head sees 张三 but does not take tips.
    assert _api(world, "bhead1").post("/api/v1/tips", body, content_type="application/json").status_code == 403
    url = f"/control/tips/new/?household={world.households['h1'].pk}"
    assert _page(world, "member2").get(url).status_code == 404
    assert _page(world, "bhead1").get(url).status_code == 403
    assert not Tip.objects.exists()


def test_an_order_puts_the_earliest_pending_key_person_under_control(world):
    person = world.persons["p1"]
    for hour in (9, 8):  # the second tip was reported earlier
        services.tip_record(
            persons=[person],
            reported_at=dt.datetime(2020, 1, 26, hour, tzinfo=dt.UTC),
            reporter="网格员",
            origin_code="420600",
            travel_mode="self_drive",
            principal=world.admin,
        )
    earliest = KeyPerson.objects.get(person=person, tip__reported_at=dt.datetime(2020, 1, 26, 8, tzinfo=dt.UTC))
    assert selectors.key_persons_pending(persons=[person]) == {person.pk: earliest}
    response = _api(world, "head1").post(
        "/api/v1/orders",
        {"person_id": person.pk, "kind": "home_quarantine", "reason": "risk_area_arrival"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    earliest.refresh_from_db()
    assert earliest.status == "controlled"
    assert selectors.key_persons_pending(persons=[person]) != {person.pk: earliest}
