"""Device tokens (security issue item 7): list and revoke your own, logout revokes, a password
change or deactivation ends them, short access keys renewed by single-use refresh keys (a reused
one revokes the sign-in), and rates on token issue and on residents' personal links."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone

from epigrid.accounts.models import ApiToken, User
from epigrid.care.models import SupplyRequest
from epigrid.core.models import AuditEvent
from epigrid.health import services as health
from tests.factories import backup_code

PASSWORD = "x-test-password-1"


def sign_in(username="member1", label="", address="10.0.0.1"):
    response = Client(REMOTE_ADDR=address).post(
        "/api/v1/auth/token",
        {"username": username, "password": PASSWORD, "label": label, "otp": backup_code(username)},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def call(method, path, key=None, body=None, address="10.0.0.1"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    return getattr(Client(REMOTE_ADDR=address), method)(path, **kwargs, **headers)


def works(key) -> bool:
    status = call("get", "/api/v1/persons", key).status_code
    assert status in (200, 401)
    return status == 200


def refresh(refresh_key):
    return call("post", "/api/v1/auth/refresh", body={"refresh": refresh_key})


def test_you_list_your_own_tokens_without_their_keys(world):
    phone = sign_in(label="member1's phone")
    tablet = sign_in(label="office tablet")
    sign_in("member2", label="member2's phone")
    response = call("get", "/api/v1/auth/tokens", phone["token"])
    assert response.status_code == 200
    listed = response.json()
    assert [t["label"] for t in listed] == ["office tablet", "member1's phone"]
    assert set(listed[0]) == {
        "id",
        "label",
        "created_at",
        "expires_at",
        "refresh_expires_at",
        "last_used_at",
        "current",
    }
    assert [t["current"] for t in listed] == [False, True]
    assert listed[1]["id"] == phone["id"] and listed[1]["last_used_at"] is not None
    body = response.content.decode()
    for secret in (phone["token"], phone["refresh"], tablet["token"], tablet["refresh"]):
        assert secret not in body
    for key_hash in ApiToken.objects.values_list("key_hash", flat=True):
        assert key_hash not in body


def test_you_revoke_your_own_tokens_and_nobody_elses(world):
    phone, tablet = sign_in(label="phone"), sign_in(label="tablet")
    other = sign_in("member2")
    response = call("post", f"/api/v1/auth/tokens/{tablet['id']}/revoke", phone["token"])
    assert response.status_code == 200 and response.json()["label"] == "tablet"
    assert not works(tablet["token"])
    assert refresh(tablet["refresh"]).status_code == 401  # the refresh key went with it
    assert works(phone["token"])
    assert [t["label"] for t in call("get", "/api/v1/auth/tokens", phone["token"]).json()] == ["phone"]
    # Another user's token: not found, and untouched.
    response = call("post", f"/api/v1/auth/tokens/{other['id']}/revoke", phone["token"])
    assert response.status_code == 404 and response.json()["code"] == "token_not_found"
    assert works(other["token"])
    assert AuditEvent.objects.filter(action="api_token.revoke", actor=world.users["member1"]).count() == 1


def test_api_logout_revokes_the_calling_token_only(world):
    phone, tablet = sign_in(), sign_in()
    response = call("post", "/api/v1/auth/logout", phone["token"])
    assert response.status_code == 204
    assert not works(phone["token"]) and refresh(phone["refresh"]).status_code == 401
    assert works(tablet["token"])
    event = AuditEvent.objects.get(action="api_token.revoke")
    assert event.changes == {"reason": "logout"} and event.object_id == str(phone["id"])


def test_page_logout_ends_the_session_on_the_server(world):
    browser = Client()
    assert (
        browser.post(
            "/login/", {"username": "member1", "password": PASSWORD, "otp": backup_code("member1")}
        ).status_code
        == 302
    )
    stolen = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert browser.post("/logout/").status_code == 302
    copy = Client()
    copy.cookies[settings.SESSION_COOKIE_NAME] = stolen
    response = copy.get("/grids/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    # The API's logout ends a session too (the page's JavaScript may call it).
    api_browser = Client(enforce_csrf_checks=False)
    api_browser.force_login(world.users["member1"])
    assert api_browser.post("/api/v1/auth/logout").status_code == 204
    assert api_browser.get("/api/v1/persons").status_code == 401


@pytest.mark.parametrize("how", ["set_password", "raw update"])
def test_a_password_change_by_any_path_ends_every_token(world, how):
    keys = sign_in()
    script_key = sign_in("member1")["token"]
    user = world.users["member1"]
    if how == "set_password":
        user.set_password("a-new-password-2")
        user.save()
    else:  # code that knows nothing of tokens
        User.objects.filter(pk=user.pk).update(password=make_password("a-new-password-3"))
    assert not works(keys["token"]) and not works(script_key)
    assert refresh(keys["refresh"]).status_code == 401
    assert works(sign_in("member2")["token"])  # others are untouched


def test_a_password_change_keeps_the_new_sign_ins(world):
    user = world.users["member1"]
    old = sign_in()
    user.set_password("a-new-password-2")
    user.save()
    response = Client().post(
        "/api/v1/auth/token",
        {"username": "member1", "password": "a-new-password-2", "otp": backup_code("member1")},
        content_type="application/json",
    )
    new = response.json()
    assert works(new["token"]) and not works(old["token"])
    listed = call("get", "/api/v1/auth/tokens", new["token"]).json()
    assert [t["id"] for t in listed] == [new["id"]]


def test_deactivation_ends_access_and_refresh(world):
    keys = sign_in()
    user = world.users["member1"]
    user.is_active = False
    user.save()
    assert not works(keys["token"])
    assert refresh(keys["refresh"]).status_code == 401


def test_access_keys_are_short_and_refresh_keys_renew_them_once(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        keys = sign_in(label="phone")
    lifetime = dt.datetime.fromisoformat(keys["expires_at"]) - start
    assert abs(lifetime - dt.timedelta(hours=settings.API_TOKEN_HOURS)) < dt.timedelta(seconds=1)
    later = start + dt.timedelta(hours=settings.API_TOKEN_HOURS, seconds=1)
    with time_machine.travel(later, tick=False):
        assert not works(keys["token"])
        response = refresh(keys["refresh"])
        assert response.status_code == 200
        renewed = response.json()
        assert renewed["id"] == keys["id"] and renewed["token"] != keys["token"]
        assert renewed["refresh"] != keys["refresh"]
        assert works(renewed["token"])
        # Still one sign-in in the list, renewed.
        listed = call("get", "/api/v1/auth/tokens", renewed["token"]).json()
        assert [(t["id"], t["label"]) for t in listed] == [(keys["id"], "phone")]
        # The old refresh key again: it was copied. The whole sign-in ends, new keys too.
        response = refresh(keys["refresh"])
        assert response.status_code == 401 and response.json()["code"] == "refresh_invalid"
        assert not works(renewed["token"])
        assert refresh(renewed["refresh"]).status_code == 401
    event = AuditEvent.objects.get(action="api_token.reuse_revoked")
    assert event.actor_label == "system:token-guard" and event.changes == {"user": "member1"}


def test_a_refresh_key_ends_after_its_days(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        keys = sign_in()
    with time_machine.travel(start + dt.timedelta(days=settings.API_REFRESH_DAYS, seconds=1), tick=False):
        assert refresh(keys["refresh"]).status_code == 401
    assert refresh("not-a-key").status_code == 401


def test_token_issue_is_rated_per_address(world, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "token_issue": "3/min"}
    for _ in range(3):
        sign_in()
    response = Client(REMOTE_ADDR="10.0.0.1").post(
        "/api/v1/auth/token",
        {"username": "member1", "password": PASSWORD, "otp": backup_code("member1")},
        content_type="application/json",
    )
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and set(response.json()["messages"]) == {"zh-hans", "en"}
    assert int(response["Retry-After"]) > 0
    # A spoofed X-Forwarded-For does not make a new client.
    response = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1").post(
        "/api/v1/auth/token",
        {"username": "member1", "password": PASSWORD, "otp": backup_code("member1")},
        content_type="application/json",
    )
    assert response.status_code == 429
    sign_in(address="10.0.0.2")  # another address is served
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61)):
        sign_in()


def test_the_default_rates_leave_room_for_an_office(world):
    # An office behind one address signs in its staff's phones at the start of a shift.
    for _ in range(20):
        sign_in()


@pytest.fixture
def link(world):
    person = world.persons["p1"]
    return health.resident_link_issue(person=person, principal=world.admin)


def report(token, value="36.5", address="10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        f"/api/v1/resident/{token}/temperature", {"value": value}, content_type="application/json"
    )


def test_a_personal_link_takes_ten_reports_a_minute(world, link):
    other = health.resident_link_issue(person=world.persons["p2"], principal=world.admin)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for i in range(10):
            assert report(link, address=f"10.0.1.{i}").status_code == 200  # whatever the address
        response = report(link)
        assert response.status_code == 429 and response.json()["code"] == "throttled"
        # The page shares the link's count and says why on the form.
        page = Client().post(f"/r/{link}/", {"value": "36.6"})
        assert page.status_code == 429
        assert "请稍等一分钟再试" in page.content.decode()
        # Help requests from the link count with its reports.
        response = Client().post(f"/r/{link}/request/", {"text": "蔬菜"}, follow=True)
        assert "请稍等一分钟再试" in response.content.decode()
        assert not SupplyRequest.objects.exists()
        assert report(other).status_code == 200  # another resident's link is not affected
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        assert report(link).status_code == 200
        assert Client().post(f"/r/{link}/", {"value": "36.6"}).status_code == 200
