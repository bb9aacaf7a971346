"""Login protection (security issue item 6): django-axes counts failed password checks per
username + address and per address; a burst of parallel guesses gets no more password checks
than the limit; a correct password does not wipe others' failures; nobody locks a victim out from
elsewhere; logins are audited. A password check shows from outside as a 400 `login_failed`; a
refusal without one as a 429 `login_locked`."""

import datetime as dt
import json
import threading
from collections import Counter

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from epigrid.core.models import AuditEvent
from tests.factories import backup_code

PASSWORD = "x-test-password-1"
LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def _no_issue_rate(settings):
    # The token endpoint's own rate (per address) is tested in test_tokens.py; here only axes.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "token_issue": "10000/min"}


def token(username, password, address="10.0.0.1"):
    response = Client(REMOTE_ADDR=address).post(
        "/api/v1/auth/token",
        {
            "username": username,
            "password": password,
            **({"otp": backup_code(username)} if password == PASSWORD else {}),
        },
        content_type="application/json",
    )
    return response.status_code, response.json()


def page_login(username, password, address="10.0.0.1", language=None):
    client = Client(REMOTE_ADDR=address)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.post("/login/", {"username": username, "password": password})


def test_sequential_guesses_stop_at_the_limit(world):
    for _ in range(LIMIT):
        status, body = token("member1", "wrong")
        assert (status, body["code"]) == (400, "login_failed")
    status, body = token("member1", PASSWORD)  # the right password, too late
    assert status == 429
    assert body["code"] == "login_locked" and body["field"] is None
    assert "15" in body["messages"]["en"] and "locked" in body["messages"]["en"]
    assert "锁定" in body["messages"]["zh-hans"]
    # The page (same service, same counts) says so on the form, in either language.
    response = page_login("member1", PASSWORD)
    assert response.status_code == 429
    text = response.content.decode()
    assert "锁定" in text and 'name="password"' in text and 'role="alert"' in text
    english = page_login("member1", PASSWORD, language="en").content.decode()
    assert "locked for 15 minutes" in english


def test_the_lock_ends_after_the_cool_off_and_refusals_do_not_extend_it(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(LIMIT):
            assert token("member1", "wrong")[0] == 400
    with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
        assert token("member1", "wrong")[0] == 429  # refused unchecked, not counted
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + dt.timedelta(seconds=1), tick=False):
        assert token("member1", PASSWORD)[0] == 200


def _burst(calls):
    """Run the calls from as many threads at once; their (status, code) answers."""
    barrier, answers = threading.Barrier(len(calls)), []

    def run(call):
        try:
            barrier.wait()
            status, body = call()
            answers.append((status, body.get("code")))
        except Exception as exc:  # a crash is an answer too: the test shows it
            answers.append(("crash", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(answers)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_forty_parallel_guesses_get_no_more_password_checks_than_the_limit(concurrent_db):
    from tests.factories import build_world

    build_world()
    answers = _burst([lambda i=i: token("member1", f"guess-{i}") for i in range(40)])
    assert set(answers) <= {(400, "login_failed"), (429, "login_locked")}, answers  # never a 500
    assert answers[(400, "login_failed")] == LIMIT, answers
    assert answers[(429, "login_locked")] == 40 - LIMIT
    assert token("member1", PASSWORD)[0] == 429  # and it stays locked from there


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_forty_parallel_guesses_at_many_usernames_stop_at_the_address_limit(concurrent_db):
    from tests.factories import build_world

    build_world()
    names = ["member1", "member2", "head1", "guard1"] + [f"nobody{i}" for i in range(36)]
    answers = _burst([lambda name=name: token(name, "guess") for name in names])
    assert set(answers) <= {(400, "login_failed"), (429, "login_locked")}, answers
    assert answers[(400, "login_failed")] == settings.LOGIN_IP_FAILURE_LIMIT, answers
    # The guessing address is now locked for everyone, its own accounts too...
    assert token("member2", PASSWORD)[0] == 429
    # ...and no one else is.
    assert token("member2", PASSWORD, address="10.0.0.2")[0] == 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_correct_password_inside_a_burst_does_not_reset_the_others_failures(concurrent_db):
    from tests.factories import build_world

    build_world()
    calls = [lambda i=i: token("member2", f"guess-{i}") for i in range(39)]
    calls.insert(20, lambda: token("member1", PASSWORD))  # a colleague logs in from the same address
    answers = _burst(calls)
    assert answers[(200, None)] == 1, answers
    assert answers[(400, "login_failed")] == LIMIT, answers
    assert token("member2", PASSWORD)[0] == 429  # member2's failures are all still there


def test_a_success_forgets_only_its_own_failures(world):
    for _ in range(LIMIT - 1):
        assert token("member2", "wrong")[0] == 400
        assert token("member1", "wrong")[0] == 400
    assert token("member1", PASSWORD)[0] == 200  # member1's own slate is clean again...
    assert token("member2", "wrong")[0] == 400  # ...member2 still has one try left
    assert token("member2", PASSWORD)[0] == 429
    for _ in range(LIMIT - 1):
        assert token("member1", "wrong")[0] == 400
    assert token("member1", PASSWORD)[0] == 200


def test_one_address_cannot_lock_out_a_victim_elsewhere(world):
    attacker, office = "203.0.113.9", "198.51.100.7"
    for _ in range(LIMIT + 3):
        token("member1", "guess", address=attacker)
    assert token("member1", PASSWORD, address=attacker)[0] == 429
    assert token("member1", PASSWORD, address=office)[0] == 200
    response = page_login("member1", PASSWORD, address=office)
    assert response.status_code == 302
    # Locking out users one after another from one address locks the address itself: the attacker
    # spends LOGIN_IP_FAILURE_LIMIT failures and is throttled for every username.
    names = ["member2", "head1", "guard1", "secretary"]
    for name in names * settings.LOGIN_IP_FAILURE_LIMIT:
        token(name, "guess", address=attacker)
    checked = AuditEvent.objects.filter(action="login.failed", remote_addr=attacker).count()
    assert checked == settings.LOGIN_IP_FAILURE_LIMIT
    assert token("norole", PASSWORD, address=attacker)[0] == 429
    for name in names:
        assert token(name, PASSWORD, address=office)[0] == 200


def test_logins_are_audited_without_the_password(world):
    secret = "my-Secret-guess-42"
    assert token("member1", secret)[0] == 400
    assert page_login("member1", PASSWORD).status_code == 302
    assert token("member1", PASSWORD)[0] == 200
    failed = AuditEvent.objects.get(action="login.failed")
    assert failed.actor is None and failed.actor_label == "system:login"
    assert failed.changes == {"username": "member1", "locked": False}
    succeeded = AuditEvent.objects.filter(action="login.succeeded")
    assert succeeded.count() == 2
    assert {(e.actor, e.actor_label, e.object_id) for e in succeeded} == {
        (world.users["member1"], "member1", str(world.users["member1"].pk))
    }
    rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert secret not in rows and PASSWORD not in rows
    # The failure that reaches the limit says so; refusals while locked write nothing.
    for _ in range(LIMIT):
        token("member2", "wrong")
    assert AuditEvent.objects.filter(action="login.failed", changes__locked="user").count() == 1
    before = AuditEvent.objects.count()
    assert token("member2", PASSWORD)[0] == 429
    assert AuditEvent.objects.count() == before


def test_a_login_through_the_page_is_audited_with_its_address(world):
    Client(REMOTE_ADDR="192.0.2.44").post("/login/", {"username": "member1", "password": "wrong"})
    event = AuditEvent.objects.get(action="login.failed")
    assert event.remote_addr == "192.0.2.44" and event.channel == "web"
