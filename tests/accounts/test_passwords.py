"""Passwords: the validators hold on every path that sets one (createsuperuser, new accounts,
one's own change, a reset link, the demo's logins); a change keeps this session and ends the
others (issue 9, item 8)."""

import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import translation

from epigrid.accounts.models import User
from epigrid.core.models import AuditEvent
from epigrid.demo import scenario
from tests.factories import api

OLD = "x-test-password-1"
NEW = "gx-5317-lane"


@pytest.mark.parametrize("password", ["123", "1234567890123", "password123", "root-admin"])
def test_createsuperuser_noinput_refuses_a_weak_password(db, monkeypatch, password):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    with pytest.raises(CommandError) as refused, translation.override("en"):
        call_command("createsuperuser", "--noinput", "--username", "root-admin", "--email", "", verbosity=0)
    assert re.search(r"password is (too short|too common|entirely numeric|too similar)", str(refused.value))
    assert not User.objects.filter(username="root-admin").exists()


def test_createsuperuser_noinput_takes_a_strong_password(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW)
    call_command("createsuperuser", "--noinput", "--username", "root-admin", "--email", "", verbosity=0)
    assert User.objects.get(username="root-admin").check_password(NEW)


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short-1", "too short"),
        ("12345678901", "entirely numeric"),
        ("password1234", "too common"),
        ("liu-jiu-9-liu", "too similar"),
    ],
)
def test_a_new_account_refuses_a_weak_password_in_both_languages(world, password, says):
    answer = api(world, "head1")(
        "post",
        "/api/v1/users",
        {"username": "liu-jiu-9", "full_name": "liu", "grid": "S-C-G1", "role": "grid_member", "password": password},
    )
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["field"]) == ("password_invalid", "password")
    assert says in body["messages"]["en"]
    assert body["messages"]["zh-hans"] != body["messages"]["en"]
    assert password not in answer.content.decode()
    assert not User.objects.filter(username="liu-jiu-9").exists()


def test_changing_ones_password_keeps_this_session_and_ends_the_others(world):
    member = world.users["member1"]
    here, elsewhere = Client(), Client()
    here.force_login(member)
    elsewhere.force_login(member)
    weak = here.post("/account/password/", {"old_password": OLD, "new_password": "1234", "new_password2": "1234"})
    assert weak.status_code == 400
    wrong = here.post("/account/password/", {"old_password": "nope", "new_password": NEW, "new_password2": NEW})
    assert wrong.status_code == 400
    member.refresh_from_db()
    assert member.check_password(OLD)

    done = here.post("/account/password/", {"old_password": OLD, "new_password": NEW, "new_password2": NEW})
    assert done["Location"] == "/account/"
    assert here.get("/grids/").status_code == 200  # still logged in, second factor included
    assert elsewhere.get("/grids/")["Location"].startswith("/login/")
    member.refresh_from_db()
    assert member.check_password(NEW) and not member.check_password(OLD)
    events = AuditEvent.objects.filter(action="user.password_change", object_id=str(member.pk))
    assert list(events.values_list("actor_label", flat=True)) == ["member1"]
    assert NEW not in str(list(events.values()))


def test_a_password_change_through_the_api(world):
    call = api(world, "member2")
    weak = call("post", "/api/v1/auth/password", {"old_password": OLD, "new_password": "member2-abc"})
    assert (weak.status_code, weak.json()["code"]) == (400, "password_invalid")
    assert "too similar" in weak.json()["messages"]["en"]
    assert call("post", "/api/v1/auth/password", {"old_password": OLD, "new_password": NEW}).status_code == 200
    world.users["member2"].refresh_from_db()
    assert world.users["member2"].check_password(NEW)


def test_a_reset_link_refuses_a_weak_password_and_stays_usable(world):
    member = world.users["member1"]
    link = api(world, "head1")("post", f"/api/v1/users/{member.pk}/password-reset").json()["reset_link"]
    client = Client()
    client.get(link)
    refused = client.post("/password/reset/set/", {"new_password": "member1", "new_password2": "member1"})
    assert refused.status_code == 400
    assert client.post("/password/reset/set/", {"new_password": NEW, "new_password2": NEW}).status_code == 302
    member.refresh_from_db()
    assert member.check_password(NEW)


def test_the_demo_logins_passwords_pass_the_validators():
    for username, full_name, *_rest in [*scenario.DEMO_LOGINS, ("admin", "系统管理员"), ("doctor", "刘医生")]:
        validate_password(scenario.DEMO_PASSWORD, User(username=username, full_name=full_name))
