import datetime as dt

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils import timezone

from epigrid.accounts import services
from epigrid.accounts.choices import Role
from epigrid.accounts.models import ApiToken
from epigrid.core.errors import Conflict, DomainError, Forbidden
from tests.factories import give_code, totp_code


def test_production_hasher_is_argon2():
    from epigrid.config import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_sessions_time_out_when_idle():
    assert settings.SESSION_COOKIE_AGE <= 60 * 60 and settings.SESSION_SAVE_EVERY_REQUEST


def _request(address="10.0.0.1"):
    return RequestFactory().post("/login/", REMOTE_ADDR=address)


def test_lockout_after_repeated_failures(world):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(DomainError) as excinfo:
            services.user_authenticate(request=_request(), username="member1", password="wrong")
        assert excinfo.value.code == "login_failed"
    with pytest.raises(DomainError) as excinfo:
        services.user_authenticate(request=_request(), username="member1", password="x-test-password-1")
    assert excinfo.value.code == "login_locked" and excinfo.value.status == 429
    assert (
        services.user_authenticate(request=_request(), username="member2", password="x-test-password-1")
        == (world.users["member2"])
    )


def test_web_login_and_lockout(world):
    client = Client()
    response = client.post("/login/", {"username": "member1", "password": "x-test-password-1"})
    assert response.status_code == 302
    give_code(client, world.users["member1"])  # the second factor (tests/accounts/test_mfa.py)
    assert client.get("/grids/").status_code == 200
    other = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert other.post("/login/", {"username": "member2", "password": "nope"}).status_code == 400
    response = other.post("/login/", {"username": "member2", "password": "x-test-password-1"})
    assert response.status_code == 429
    assert "locked" in response.content.decode() or "锁定" in response.content.decode()


def test_token_flow(world):
    client = Client()
    response = client.post(
        "/api/v1/auth/token",
        {"username": "member1", "password": "x-test-password-1", "otp": totp_code(world.users["member1"])},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert not ApiToken.objects.filter(key_hash=token).exists()  # only the hash is stored
    response = client.get("/api/v1/persons", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and len(response.json()["items"]) == 2
    bad = client.post("/api/v1/auth/token", {"username": "member1", "password": "x"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "login_failed"
    assert set(bad.json()["messages"]) == {"zh-hans", "en"}


def test_expired_or_revoked_token_is_refused(world):
    key = services.api_token_issue(user=world.users["member1"])
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = Client().get("/api/v1/persons", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401


def test_inactive_user_token_is_refused(world):
    key = services.api_token_issue(user=world.users["member1"])
    world.users["member1"].is_active = False
    world.users["member1"].save()
    assert Client().get("/api/v1/persons", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_assignment_rules(world):
    node = world.nodes["S-C-G1"]
    with pytest.raises(DomainError):  # a building head belongs on a building
        services.grid_assignment_create(
            node=node, user=world.users["norole"], role=Role.BUILDING_HEAD, principal=world.admin
        )
    with pytest.raises(DomainError):
        services.grid_assignment_create(
            node=node, user=world.users["norole"], role=Role.GRID_MEMBER, duties=["cooking"], principal=world.admin
        )
    with pytest.raises(Conflict):
        services.grid_assignment_create(
            node=node, user=world.users["member1"], role=Role.GRID_MEMBER, principal=world.admin
        )
    with pytest.raises(Forbidden):  # a grid member does not assign staff
        services.grid_assignment_create(
            node=node, user=world.users["norole"], role=Role.VOLUNTEER, principal=world.users["member1"]
        )
    assignment = services.grid_assignment_create(
        node=node,
        user=world.users["norole"],
        role=Role.GRID_MEMBER,
        duties=["party_building", "party_building", "work_safety"],
        principal=world.users["head1"],
    )
    assert assignment.duties == ["party_building", "work_safety"]
    services.grid_assignment_end(assignment=assignment, principal=world.users["head1"])
    # Ended, not deleted, and the role can be given again.
    services.grid_assignment_create(
        node=node, user=world.users["norole"], role=Role.GRID_MEMBER, principal=world.users["head1"]
    )
    assert world.users["norole"].grid_assignments.count() == 2
