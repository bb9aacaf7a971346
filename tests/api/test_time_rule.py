"""One time rule under /api/ (core/api.py): a datetime with an offset is taken as given, one
without is Asia/Shanghai; answers carry +08:00; event times lie between 2019-12-01 and now,
planned ones up to a year ahead; out of range is a 422 naming the field."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from epigrid.control.models import KeyPerson
from tests.factories import api

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _tip(reported_at, person):
    return {
        "person_ids": [person.pk],
        "reported_at": reported_at,
        "reporter": "居民举报",
        "origin_code": "420100",
        "travel_mode": "self_drive",
    }


@pytest.fixture
def admin_api(world):
    world.users.setdefault("admin", world.admin)
    return api(world, "admin")


def _times(value):
    """Every string in an answer that looks like a datetime."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return [value]
    return []


def test_a_time_without_offset_is_shanghai_and_one_with_offset_is_taken_as_given(world, admin_api):
    local = (timezone.localtime() - dt.timedelta(hours=3)).replace(microsecond=0, tzinfo=None)
    created = admin_api("post", "/api/v1/tips", _tip(local.isoformat(), world.persons["p1"]))
    assert created.status_code == 201, created.content
    stored = KeyPerson.objects.get(person=world.persons["p1"]).tip.reported_at
    assert stored == local.replace(tzinfo=SHANGHAI)
    utc = (timezone.now() - dt.timedelta(hours=2)).replace(microsecond=0)
    created = admin_api("post", "/api/v1/tips", _tip(utc.isoformat().replace("+00:00", "Z"), world.persons["p2"]))
    assert created.status_code == 201, created.content
    assert KeyPerson.objects.get(person=world.persons["p2"]).tip.reported_at == utc


def test_answers_carry_plus_eight_never_z(world, admin_api):
    at = (timezone.localtime() - dt.timedelta(hours=1)).replace(microsecond=0)
    created = admin_api("post", "/api/v1/tips", _tip(at.astimezone(dt.UTC).isoformat(), world.persons["p1"]))
    listed = admin_api("get", "/api/v1/key-persons")
    assignments = admin_api("get", "/api/v1/assignments")
    for answer in (created, listed, assignments):
        times = _times(json.loads(answer.content))
        assert times, answer.content[:200]
        assert all(t.endswith("+08:00") for t in times), times


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/api/v1/tips", "reported_at", lambda w: _tip("0001-01-01T00:00:00", w.persons["p1"])),
        ("/api/v1/tips", "reported_at", lambda w: _tip("2031-01-01T00:00:00+08:00", w.persons["p1"])),
        (
            "/api/v1/test-lists",
            "test_date",
            lambda w: {"name": "全员核酸", "test_date": "9999-12-31", "grid": "S-C"},
        ),
        (
            "/api/v1/orders",
            "starts_at",
            lambda w: {
                "person_id": w.persons["p1"].pk,
                "kind": "home_quarantine",
                "reason": "close_contact",
                "starts_at": "0695-08-01T00:00",
            },
        ),
    ],
)
def test_times_out_of_range_are_a_422_naming_the_field(world, admin_api, path, field, body):
    refused = admin_api("post", path, body(world))
    assert refused.status_code == 422, refused.content
    answer = refused.json()
    assert answer["field"] == field
    assert "2019-12-01" in answer["messages"]["en"] and "2019-12-01" in answer["messages"]["zh-hans"]
    assert not KeyPerson.objects.exists()


def test_a_naive_exposure_time_is_not_a_500(world, admin_api):
    local = (timezone.localtime() - dt.timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    answer = admin_api(
        "post",
        "/api/v1/exposures",
        {
            "source_id": world.persons["p1"].pk,
            "contact_id": world.persons["p2"].pk,
            "last_exposure_at": local.isoformat(),
        },
    )
    assert answer.status_code in (200, 400, 409), answer.content
    if answer.status_code == 200:
        assert answer.json()["last_exposure_at"] == local.replace(tzinfo=SHANGHAI).isoformat()


def test_tip_to_control_is_measured_to_when_the_order_starts_not_when_it_was_entered(world, admin_api):
    reported = (timezone.localtime() - dt.timedelta(days=2)).replace(microsecond=0)
    assert admin_api("post", "/api/v1/tips", _tip(reported.isoformat(), world.persons["p1"])).status_code == 201
    started = reported + dt.timedelta(hours=5)
    order = {
        "person_id": world.persons["p1"].pk,
        "kind": "home_quarantine",
        "reason": "risk_area_arrival",
        "starts_at": started.isoformat(),
    }
    assert admin_api("post", "/api/v1/orders", order).status_code == 201
    key_person = admin_api("get", "/api/v1/key-persons").json()["items"][0]
    assert key_person["minutes_to_control"] == 300.0
    assert key_person["controlled_at"] == started.isoformat()


def test_the_orders_an_exposure_starts_begin_when_the_measure_took_effect(world, admin_api):
    from epigrid.control.models import ControlOrder
    from epigrid.health import services as health

    source, contact = world.persons["p1"], world.persons["p2"]
    now = timezone.now()
    health.sample_record(
        person=source, specimen_number="SP-1", sampled_at=now - dt.timedelta(days=2), principal=world.admin
    )
    health.results_record(
        results=[health.ResultIn("SP-1", "positive", now - dt.timedelta(hours=3))], principal=world.admin
    )
    case = source.case
    health.consultation_record(
        case=case, held_at=now - dt.timedelta(hours=2), experts="专家组", conclusion="confirmed", principal=world.admin
    )
    took_effect = (timezone.localtime() - dt.timedelta(hours=1)).replace(microsecond=0)
    answer = admin_api(
        "post",
        "/api/v1/exposures",
        {
            "source_id": source.pk,
            "contact_id": contact.pk,
            "last_exposure_at": (took_effect - dt.timedelta(days=1)).isoformat(),
            "starts_at": took_effect.replace(tzinfo=None).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.content
    assert ControlOrder.objects.get(person=contact).starts_at == took_effect


def test_transferring_an_order_twice_is_not_a_500(world, admin_api):
    from epigrid.control.models import ControlOrder

    body = {"person_id": world.persons["p1"].pk, "kind": "home_quarantine", "reason": "risk_area_arrival"}
    order = admin_api("post", "/api/v1/orders", body).json()[0]
    transfer = {"kind": "hospital_isolation", "reason": "positive_test", "site": "市传染病医院"}
    first = admin_api("post", f"/api/v1/orders/{order['id']}/transfer", transfer)
    assert first.status_code == 200, first.content
    retry = admin_api("post", f"/api/v1/orders/{order['id']}/transfer", transfer)
    assert (retry.status_code, retry.json()["id"]) == (200, first.json()["id"])
    other = admin_api("post", f"/api/v1/orders/{order['id']}/transfer", {**transfer, "kind": "centralized_quarantine"})
    assert (other.status_code, other.json()["code"]) == (409, "order_transferred")
    assert ControlOrder.objects.filter(person=world.persons["p1"]).count() == 2
