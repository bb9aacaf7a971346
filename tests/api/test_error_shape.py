"""Every refusal under /api/ has one shape, {code, message, messages, field}, in the caller's
language — whether it comes from a service, from validation, from ninja or from Django itself."""

import datetime as dt
import json
import uuid

import pytest
from django.test import Client, override_settings

from epigrid.accounts.services import api_token_issue
from tests.factories import api, make_id_number


@pytest.fixture(autouse=True)
def _admin_caller(world):
    world.users.setdefault("admin", world.admin)


def _shaped(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"code", "message", "messages", "field"}
    assert body["message"] and body["messages"]["en"] and body["messages"]["zh-hans"]
    if code:
        assert body["code"] == code
    return body


def _bearer(world, username="admin", **extra):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users[username])}", **extra}


def test_unknown_route_and_wrong_method_answer_the_shape(world):
    client = Client()
    _shaped(client.get("/api/v1/no-such-thing", **_bearer(world)), 404, "not_found")
    _shaped(client.get("/api/v1/", **_bearer(world)), 404, "not_found")
    wrong = client.delete("/api/v1/persons", **_bearer(world))
    _shaped(wrong, 405, "method_not_allowed")
    assert "GET" in wrong["Allow"]


def test_malformed_json_and_oversized_bodies_are_4xx_in_the_shape(world):
    client = Client()
    broken = client.post("/api/v1/persons", data="{name: 1", content_type="application/json", **_bearer(world))
    _shaped(broken, 400, "malformed_json")
    not_utf8 = client.post("/api/v1/persons", data=b"\xff\xfe{", content_type="application/json", **_bearer(world))
    _shaped(not_utf8, 400, "malformed_json")
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        big = client.post(
            "/api/v1/persons", data='{"name": "' + "张" * 2000 + '"}', content_type="application/json", **_bearer(world)
        )
    _shaped(big, 413, "too_large")


def test_csrf_failure_of_a_session_caller_is_in_the_shape(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    refused = client.post("/api/v1/households", data={"number": "9"}, content_type="application/json")
    _shaped(refused, 403, "csrf_failed")


def test_validation_messages_follow_accept_language_and_do_not_mix_languages(world):
    client = Client()
    english = _shaped(
        client.post(
            "/api/v1/persons", data={}, content_type="application/json", **_bearer(world, HTTP_ACCEPT_LANGUAGE="en-US")
        ),
        422,
        "invalid",
    )
    assert english["field"] == "name"
    assert english["message"] == "This field is required."
    chinese = _shaped(client.post("/api/v1/persons", data={}, content_type="application/json", **_bearer(world)), 422)
    assert chinese["message"] == chinese["messages"]["zh-hans"]
    assert not any(c.isascii() and c.isalpha() for c in chinese["message"]), chinese["message"]
    # A domain error follows the header too.
    unseen = client.get("/api/v1/persons/999999", **_bearer(world, HTTP_ACCEPT_LANGUAGE="en"))
    assert _shaped(unseen, 404)["message"] == "No such person."


@pytest.mark.parametrize("text", ["张\x00三", "张\u202e三", "张\u2066三"])
def test_nul_and_bidi_controls_are_refused_in_any_text(world, text):
    call = api(world, "admin")
    before = world.persons["p1"].household.members.count()
    body = {"name": text, "id_number": make_id_number(), "household_id": world.households["h1"].pk}
    refused = _shaped(call("post", "/api/v1/persons", body), 422, "invalid_characters")
    assert refused["field"] == "name"
    assert world.persons["p1"].household.members.count() == before
    _shaped(call("get", f"/api/v1/persons?q={text}"), 422, "invalid_characters")


def test_integers_beyond_64_bits_are_a_422_naming_the_field(world):
    call = api(world, "admin")
    body = _shaped(call("get", "/api/v1/persons?offset=9223372036854775808"), 422, "number_out_of_range")
    assert body["field"] == "offset"
    at = dt.datetime.now(dt.UTC).isoformat()
    batch = {"readings": [{"person_id": 2**63, "temperature": "36.5", "measured_at": at}]}
    _shaped(call("post", "/api/v1/temperatures/batch", batch), 422, "number_out_of_range")


def test_a_bug_is_a_500_in_the_shape_with_a_request_id_and_no_stack(world, monkeypatch):
    from epigrid.people import selectors

    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "household_list", broken)
    client = Client(raise_request_exception=False)
    answer = client.get("/api/v1/households", **_bearer(world, HTTP_X_REQUEST_ID="probe-42"))
    body = _shaped(answer, 500, "server_error")
    assert body["request_id"] == "probe-42" and "probe-42" in body["message"]
    assert b"secret internals" not in answer.content and b"Traceback" not in answer.content


def test_a_body_that_is_not_an_object_is_a_422_and_changes_nothing(world):
    place = world.places["shop"]
    refused = api(world, "admin")("patch", f"/api/v1/places/{place.pk}", [None, None])
    _shaped(refused, 422, "invalid")
    place.refresh_from_db()
    assert place.name == "超市"


def test_null_clears_a_place_text_and_is_refused_for_its_name(world):
    call = api(world, "admin")
    place = world.places["shop"]
    assert call("patch", f"/api/v1/places/{place.pk}", {"address": None}).status_code == 200
    place.refresh_from_db()
    assert place.address == ""
    assert _shaped(call("patch", f"/api/v1/places/{place.pk}", {"name": None}), 422)["field"] == "name"


def test_reissuing_a_replaced_card_is_a_conflict_not_a_500(world):
    from epigrid.gates import services as gates
    from epigrid.gates.models import HouseholdPass

    household = world.households["h1"]
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    first = HouseholdPass.objects.get(household=household)
    gates.pass_reissue(household_pass=first, principal=world.admin)
    again = api(world, "admin")("post", f"/api/v1/passes/{first.pk}/reissue")
    _shaped(again, 409, "pass_superseded")
    assert HouseholdPass.objects.filter(household=household, status="active").count() == 1


def test_a_category_on_a_geographic_grid_is_refused_not_a_500(world):
    """Found by schemathesis: a subdistrict with a thematic category broke a database constraint."""
    from epigrid.grids.models import GridNode

    answer = api(world, "admin")(
        "post", "/api/v1/grids", {"level": "subdistrict", "name": "新街道", "code": "NEW-1", "category": "institution"}
    )
    assert _shaped(answer, 400, "grid_category_thematic_only")["field"] == "category"
    assert not GridNode.objects.filter(code="NEW-1").exists()


def test_unknown_body_fields_and_repeated_query_parameters_are_422(world):
    call = api(world, "member1")
    place = world.places["shop"]
    typo = api(world, "admin")("patch", f"/api/v1/places/{place.pk}", {"nmae": "新名字"})
    assert _shaped(typo, 422)["field"] == "nmae"
    place.refresh_from_db()
    assert place.name == "超市"
    twice = call("get", "/api/v1/orders?limit=1&limit=2")
    assert (_shaped(twice, 422, "repeated_parameter")["field"]) == "limit"


def test_a_time_is_iso_text_never_seconds_since_1970(world):
    call = api(world, "member1")
    for value in ("1700000000", "0.5"):
        answer = call("get", f"/api/v1/orders?starts_from={value}")
        assert _shaped(answer, 422)["field"] == "starts_from", value


def test_a_multipart_body_without_its_boundary_is_a_400_not_a_500(world):
    """Found by schemathesis' long pass: `Content-Type: multipart/form-data` with no boundary made
    every upload endpoint answer 500 behind gunicorn. (Django's test client does not send such a
    request, so the API's handler is given the parser's error as Django raises it.)"""
    from django.http.multipartparser import MultiPartParserError
    from django.test import RequestFactory

    from epigrid.api.main import api as ninja_api

    request = RequestFactory().post("/api/v1/imports", data=b"x", content_type="multipart/form-data")
    answer = ninja_api.on_exception(request, MultiPartParserError("Invalid boundary in multipart: None"))
    assert answer.status_code == 400
    assert json.loads(answer.content)["code"] == "bad_request"


def test_a_path_id_that_is_not_a_number_names_nothing(world):
    call = api(world, "member1")
    for path in ("/api/v1/persons/None", "/api/v1/persons/abc/timeline", "/api/v1/orders/1.5"):
        _shaped(call("get", path), 404, "not_found")


def test_a_date_filter_is_iso_text(world):
    call = api(world, "member1")
    assert _shaped(call("get", "/api/v1/temperatures?date=0"), 422)["field"] == "date"
    assert call("get", "/api/v1/temperatures?date=2020-02-06").status_code == 200


def test_a_form_part_no_endpoint_names_is_ignored_like_ninja_ignores_it(world):
    """Found by the long fuzz pass: a huge number in an unnamed multipart part was a 422."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    token = api_token_issue(user=world.users["admin"])
    upload = SimpleUploadedFile("roster.csv", "姓名,身份证号\n".encode(), content_type="text/csv")
    answer = Client().post(
        "/api/v1/imports",
        {"kind": "residents", "file": upload, "ÌB": "-299252653472757556901809487872"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.json()["code"] != "number_out_of_range", answer.content
    huge = Client().post(
        "/api/v1/imports",
        {"kind": "residents", "file": upload, "grid": "-299252653472757556901809487872"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert huge.json()["code"] == "number_out_of_range"  # a named part is still checked


def test_an_unnamed_query_parameter_is_ignored_even_twice(world):
    """Found by the CI fuzz pass: a repeated parameter no endpoint names was a 422 whose `field`
    echoed its NUL characters."""
    answer = api(world, "member1")("get", "/api/v1/orders?%C3%84%00=1&%C3%84%00=2")
    assert answer.status_code == 200


@pytest.mark.parametrize("dry_run", [0, 1, "true", "off", None])
def test_a_boolean_is_true_or_false_and_nothing_else_starts_a_purge(world, dry_run):
    """`dry_run: 0` was taken as false: a client's slip ran the irreversible purge instead of its
    dry run (the fuzzer's finding). Only JSON true/false is a boolean."""
    from epigrid.accounts.permissions import console_verified
    from epigrid.core.models import Job

    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=console_verified(world.admin))}"}
    answer = Client().post("/api/v1/purge", {"dry_run": dry_run}, content_type="application/json", **auth)
    body = _shaped(answer, 422, "invalid")
    assert body["field"] == "dry_run" and body["messages"]["en"] == "Give true or false."
    assert not Job.objects.exists()


@pytest.mark.parametrize("person_id", ["{pk}", True, [1]])
def test_a_number_is_a_json_number_not_text_or_a_boolean(world, person_id):
    person = world.persons["p1"]
    at = dt.datetime.now(dt.UTC).isoformat()
    given = person_id.format(pk=person.pk) if isinstance(person_id, str) else person_id
    batch = {"readings": [{"person_id": given, "value": 36.5, "measured_at": at, "client_id": str(uuid.uuid4())}]}
    body = _shaped(api(world, "admin")("post", "/api/v1/temperatures/batch", batch), 422, "invalid")
    assert body["field"] == "readings.0.person_id" and body["messages"]["en"] == "Give a whole number."
    assert not person.temperatures.exists()


def test_json_scalars_are_checked_in_optional_fields_and_optional_lists_too():
    """The rule holds whatever the field's form: optional, a list, an optional list, a list of
    optional items (None stays allowed where the type allows it)."""
    from pydantic import ValidationError

    from epigrid.core.api import In

    class Body(In):
        flag: bool | None = None
        ids: list[int] | None = None
        maybe: list[int | None] = []

    assert Body(flag=None, ids=None, maybe=[1, None]).maybe == [1, None]
    for wrong in ({"flag": "true"}, {"ids": [1, "2"]}, {"ids": [True]}, {"maybe": ["3"]}):
        with pytest.raises(ValidationError) as refused:
            Body(**wrong)
        assert refused.value.errors()[0]["type"] in {"bool_type", "int_type"}, wrong
