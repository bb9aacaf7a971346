"""Security issue item 4: search must not be an oracle for ID numbers and phones.

A full ID number or phone confirms who a person is. It is searched only by POST (never from a
URL), only by users who may unmask where they search, every search is audited as a reveal
without the value, and searches are throttled per user. Without the unmask right a user finds
people by what the lists already show: name, pinyin, the last 4 digits, a masked value.
"""

import datetime as dt
import json
import logging

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.core.crypto import unseal
from epigrid.core.models import AuditEvent
from tests.factories import api

PERSONS = "/api/v1/persons"
SEARCH = "/api/v1/persons/search"


@pytest.fixture
def p1_keys(world):
    p1 = world.persons["p1"]
    return unseal(p1.id_number_sealed), unseal(p1.phone_sealed)


@pytest.fixture
def logs(caplog):
    """Everything any logger writes during the test, at every level."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _text(response) -> str:
    """What the answer says, as a reader sees it (JSON decoded: no \\u escapes to hide behind)."""
    if response.get("Content-Type", "").startswith("application/json"):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.content.decode()


def _audit_text() -> str:
    """Every audit row as the database holds it, values included."""
    return json.dumps(
        list(AuditEvent.objects.values("action", "object_type", "object_id", "grid_path", "changes")),
        ensure_ascii=False,
        default=str,
    )


def _reveals():
    return AuditEvent.objects.filter(action="person.search_reveal")


def _variants(number: str, phone: str) -> list[str]:
    return [
        number,
        number.lower(),
        f"{number[:6]} {number[6:14]} {number[14:]}",
        phone,
        f"{phone[:3]} {phone[3:7]} {phone[7:]}",
    ]


# ---------------------------------------------------------------- a full number never in a URL


@pytest.mark.parametrize("username", ["inspector", "bhead1", "member1", "commander"])
def test_a_full_id_or_phone_in_the_url_is_refused_without_echo(world, p1_keys, username, logs):
    """GET ?q= with a full number answers 400 whoever asks (even a user who may unmask): the value
    is not searched, not shown back, and not logged."""
    call = api(world, username)
    number, phone = p1_keys
    for value in _variants(number, phone):
        response = call("get", f"{PERSONS}?q={value.replace(' ', '%20')}")
        assert response.status_code == 400, (value, response.content)
        body = _text(response)
        assert response.json()["code"] == "exact_search_needs_post"
        assert set(response.json()["messages"]) == {"zh-hans", "en"}
        assert "张三" not in body and value not in body and number not in body and phone not in body
    assert not _reveals().exists()
    assert number not in logs.text and phone not in logs.text


def test_the_persons_page_refuses_a_full_number_in_its_address(world, p1_keys):
    client = Client()
    client.force_login(world.users["inspector"])
    number, _phone = p1_keys
    response = client.get("/people/", {"q": number})
    page = _text(response)
    assert response.status_code == 400
    assert "张三" not in page and number not in page


# ---------------------------------------------------------------- without the unmask right


@pytest.mark.parametrize("username", ["inspector", "bhead1", "guard1", "norole"])
def test_users_who_may_not_unmask_cannot_search_by_a_full_number(world, p1_keys, username, logs):
    call = api(world, username)
    number, phone = p1_keys
    for body in ({"id_number": number}, {"phone": phone}):
        response = call("post", SEARCH, body)
        assert response.status_code == 403, response.content
        assert response.json()["code"] in ("unmask_required", "forbidden")
        text = _text(response)
        assert "张三" not in text and number not in text and phone not in text
    # Nothing was revealed, so nothing is logged as a reveal; the value is nowhere.
    assert not _reveals().exists()
    assert number not in _audit_text() and phone not in _audit_text()
    assert number not in logs.text and phone not in logs.text


def test_the_exact_search_page_is_refused_without_the_unmask_right(world, p1_keys):
    client = Client()
    client.force_login(world.users["inspector"])
    page = client.get("/people/").content.decode()
    assert 'name="key"' not in page  # the exact search form is not offered
    response = client.post("/people/search/", {"key": p1_keys[0]})
    assert response.status_code == 403
    assert "张三" not in _text(response)
    assert not _reveals().exists()


@pytest.mark.parametrize("username", ["inspector", "bhead1"])
def test_last_four_digits_and_masked_values_find_people_without_the_right(world, p1_keys, username):
    """What the lists already show finds a person: no right beyond reading is needed."""
    call = api(world, username)
    p1 = world.persons["p1"]
    number, phone = p1_keys
    for q in (number[-4:], number[-4:].lower(), p1.id_number_masked, phone[-4:], p1.phone_masked):
        response = call("get", f"{PERSONS}?q={q}")
        assert response.status_code == 200, (q, response.content)
        assert [item["id"] for item in response.json()["items"]] == [p1.pk], q
    assert not _reveals().exists()


# ---------------------------------------------------------------- with the unmask right


def test_the_exact_search_finds_by_post_and_logs_a_reveal_without_the_value(world, p1_keys, logs):
    call = api(world, "member1")
    p1 = world.persons["p1"]
    number, phone = p1_keys
    for body, key in (
        ({"id_number": number}, "id_number"),
        ({"id_number": number.lower()}, "id_number"),
        ({"phone": f"{phone[:3]} {phone[3:7]} {phone[7:]}"}, "phone"),
    ):
        response = call("post", SEARCH, body)
        assert response.status_code == 200, response.content
        items = response.json()["items"]
        assert [item["id"] for item in items] == [p1.pk]
        assert items[0]["id_number_masked"] == p1.id_number_masked  # the answer stays masked
        assert number not in _text(response) and phone not in _text(response)
        reveal = _reveals().order_by("-id").first()
        assert (reveal.object_type, reveal.object_id) == ("people.person", str(p1.pk))
        assert reveal.changes == {"key": [None, key], "matches": [None, 1]}
        assert reveal.actor == world.users["member1"]
    assert _reveals().count() == 3
    # The reveal shows on the person's file.
    timeline = call("get", f"{PERSONS}/{p1.pk}/timeline").json()
    assert "person.search_reveal" in [entry["kind"] for entry in timeline]
    assert number not in _audit_text() and phone not in _audit_text()
    assert number not in logs.text and phone not in logs.text


def test_the_exact_search_sees_only_where_the_user_may_unmask(world, p1_keys):
    """member2 (第2网格) may unmask in 第2网格 only: 张三's number finds nobody, and the search is
    still logged (at member2's own grid, with 0 found)."""
    call = api(world, "member2")
    number, _phone = p1_keys
    response = call("post", SEARCH, {"id_number": number})
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert "张三" not in _text(response)
    reveal = _reveals().get()
    assert reveal.changes == {"key": [None, "id_number"], "matches": [None, 0]}
    assert reveal.object_id == "" and reveal.grid_path == world.nodes["S-C-G2"].path
    # A grid outside what member2 sees: 404, as everywhere.
    assert call("post", SEARCH, {"id_number": number, "grid": "S-C-G1"}).status_code == 404


def test_the_exact_search_body_names_exactly_one_valid_key(world, p1_keys):
    call = api(world, "member1")
    number, phone = p1_keys
    assert call("post", SEARCH, {}).json()["code"] == "search_key_required"
    assert call("post", SEARCH, {"id_number": number, "phone": phone}).status_code == 400
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    response = call("post", SEARCH, {"id_number": wrong})
    assert response.status_code == 400 and wrong not in _text(response)
    assert not _reveals().exists()  # nothing was searched


def test_the_exact_search_is_throttled_per_user(world, p1_keys, settings):
    settings.PERSON_EXACT_SEARCH_LIMIT = 3
    call = api(world, "member1")
    number, _phone = p1_keys
    for _ in range(3):
        assert call("post", SEARCH, {"id_number": number}).status_code == 200
    refused = call("post", SEARCH, {"id_number": number})
    assert refused.status_code == 429, refused.content
    assert refused.json()["code"] == "exact_search_throttled"
    assert "张三" not in _text(refused)
    assert _reveals().count() == 3  # the refused search found nothing and revealed nothing
    throttled = AuditEvent.objects.get(action="person.search_throttled")
    assert throttled.actor == world.users["member1"] and number not in json.dumps(throttled.changes)
    # Another user has their own allowance.
    assert api(world, "head1")("post", SEARCH, {"id_number": number}).status_code == 200


def test_name_search_is_throttled_with_a_higher_limit(world, settings):
    settings.PERSON_SEARCH_LIMIT = 5
    call = api(world, "member1")
    for _ in range(5):
        assert call("get", f"{PERSONS}?q=张").status_code == 200
    refused = call("get", f"{PERSONS}?q=张")
    assert refused.status_code == 429 and refused.json()["code"] == "search_throttled"
    assert call("get", PERSONS).status_code == 200  # the list itself is not a search


def test_the_exact_search_page_posts_the_number(world, p1_keys, logs):
    client = Client()
    client.force_login(world.users["member1"])
    number, _phone = p1_keys
    page = client.get("/people/").content.decode()
    assert 'action="/people/search/"' in page and 'method="post"' in page
    assert client.get("/people/search/").status_code == 405  # never by GET
    response = client.post("/people/search/", {"key": number})
    text = _text(response)
    assert response.status_code == 200
    assert "张三" in text and number not in text  # found, and the number is not shown back
    assert "no-store" in response["Cache-Control"]
    assert _reveals().get().object_id == str(world.persons["p1"].pk)
    assert number not in logs.text


# ---------------------------------------------------------------- the close contact's lookup


def test_a_contact_recorded_by_id_number_goes_through_the_exact_search(world, p1_keys):
    """A tracer records a close contact by ID number: found through the exact search, logged as
    a reveal on the contact's file."""
    from epigrid.control.models import ControlOrder
    from tests.response.test_response import confirm

    case = confirm(world, world.persons["p1b"], specimen="V-9", at=timezone.now() - dt.timedelta(hours=2))
    activation = case.activations.get()
    client = Client()
    client.force_login(world.users["head1"])
    number, _phone = p1_keys
    response = client.post(
        f"/response/{activation.pk}/exposures/",
        {
            "source": world.persons["p1b"].pk,
            "contact": number,
            "last_exposure_at": timezone.localtime(timezone.now() - dt.timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M"),
            "degree": "close",
            "setting": "household",
        },
    )
    assert response.status_code == 302, _text(response)[:2000]
    assert ControlOrder.objects.open().filter(person=world.persons["p1"]).exists()
    reveal = _reveals().get()
    assert reveal.object_id == str(world.persons["p1"].pk) and reveal.actor == world.users["head1"]
    assert number not in _audit_text()
