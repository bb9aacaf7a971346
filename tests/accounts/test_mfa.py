"""The second factor (TOTP): who is asked for it, what a login without it cannot do, enrolment,
throttled guesses, backup codes, tokens, and a reset by an administrator (issue 9, item 8)."""

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from epigrid.accounts.choices import Role
from epigrid.accounts.models import User
from epigrid.accounts.services import grid_assignment_create
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Forbidden
from epigrid.core.models import AuditEvent
from epigrid.core.scoping import allows
from epigrid.people.services import person_reveal
from tests.factories import api, make_user, totp_code

PASSWORD = "x-test-password-1"


def password_login(username: str) -> Client:
    """What a stolen password gives: the login form, nothing more."""
    client = Client()
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def actions(action: str, user=None):
    rows = AuditEvent.objects.filter(action=action)
    if user is not None:
        rows = rows.filter(object_type="accounts.user", object_id=str(user.pk))
    return list(rows.order_by("id").values_list("changes", flat=True))


def test_after_the_password_a_commander_sees_nothing_but_the_code_page(world):
    person = world.persons["p1"]
    client = password_login("commander")
    for path in ("/grids/", f"/people/{person.pk}/", "/health/today/", "/account/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == "/account/mfa/?next=" + path.replace("/", "%2F")
    reveal = client.post(f"/people/{person.pk}/reveal/id_number/")
    assert reveal.status_code == 302 and reveal["Location"].startswith("/account/mfa/")
    # The same session on the API: refused, with the reason.
    answer = client.post(f"/api/v1/persons/{person.pk}/reveal", {"field": "phone"}, content_type="application/json")
    assert (answer.status_code, answer.json()["code"]) == (401, "second_factor_required")
    assert not actions("person.reveal")

    page = client.get("/account/mfa/?next=/grids/")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.content.decode()
    response = client.post("/account/mfa/", {"code": totp_code(world.users["commander"]), "next": "/grids/"})
    assert (response.status_code, response["Location"]) == (302, "/grids/")
    assert client.get("/grids/").status_code == 200
    revealed = client.post(f"/people/{person.pk}/reveal/id_number/")
    assert revealed.status_code == 200 and re.search(r"\d{17}[\dX]", revealed.content.decode())
    assert len(actions("person.reveal")) == 1
    assert [c["device"] for c in actions("mfa.verify", world.users["commander"])] == ["totp"]


def test_a_login_without_its_second_factor_holds_no_unmask_export_or_account_right(world):
    """The rule itself (accounts.permissions.user_grant_paths): whatever asks (a page, the API, a
    future entry), a user object that has not passed a second factor is refused these rights."""
    person = world.persons["p1"]
    unverified = User.objects.get(username="commander")  # as a session without the code
    for capability in (Capability.UNMASK_PII, Capability.IMPORT_EXPORT, Capability.MANAGE_ASSIGNMENTS):
        assert not allows(unverified, capability, person.grid.path)
    assert allows(unverified, Capability.MANAGE_ORDERS, person.grid.path)  # its other rights stay
    with pytest.raises(Forbidden):
        person_reveal(person=person, field="id_number", principal=unverified)
    # A superuser is no exception.
    root = User.objects.get(username="root")
    assert not allows(root, Capability.UNMASK_PII, person.grid.path)
    assert allows(world.admin, Capability.UNMASK_PII, person.grid.path)  # the factory's, verified
    assert person_reveal(person=person, field="id_number", principal=world.users["commander"])


def test_a_wrong_code_is_refused_and_the_next_guesses_are_throttled(world):
    commander = world.users["commander"]
    client = password_login("commander")
    now = timezone.now()
    with time_machine.travel(now, tick=False):  # the clock stands still: all within the second
        wrong = f"{(int(totp_code(commander)) + 1) % 1_000_000:06d}"
        first = client.post("/account/mfa/", {"code": wrong})
        assert first.status_code == 400
        # Even the right code is refused right after a wrong one: guessing 10^6 codes takes ages.
        right_too_soon = client.post("/account/mfa/", {"code": totp_code(commander)})
        assert right_too_soon.status_code == 429
        assert "wait" in right_too_soon.content.decode() or "等待" in right_too_soon.content.decode()
        assert client.get("/grids/").status_code == 302
        # The wrong code is in the audit log; hammering a throttled device writes nothing more.
        for _ in range(5):
            assert client.post("/account/mfa/", {"code": "000000"}).status_code == 429
    assert [c["reason"] for c in actions("mfa.verify_failed", commander)] == ["wrong"]
    with time_machine.travel(now + dt.timedelta(seconds=3), tick=False):
        assert client.post("/account/mfa/", {"code": totp_code(commander)}).status_code == 302
        assert client.get("/grids/").status_code == 200


def test_many_wrong_codes_lock_the_device_for_longer_and_longer(world):
    commander = world.users["commander"]
    client = password_login("commander")
    at = timezone.now()
    for n in range(6):  # each guess waits out the previous one's throttle: 0, 1, 2, 4, 8, 16 s
        at += dt.timedelta(seconds=(2 ** (n - 1) if n else 0) + 1)
        with time_machine.travel(at, tick=False):
            assert client.post("/account/mfa/", {"code": "000000"}).status_code == 400
    device = TOTPDevice.objects.get(user=commander)
    assert device.throttling_failure_count == 6
    with time_machine.travel(at + dt.timedelta(seconds=20), tick=False):  # the 6th failure owes 32 s
        assert client.post("/account/mfa/", {"code": totp_code(commander)}).status_code == 429
    with time_machine.travel(at + dt.timedelta(seconds=34), tick=False):
        assert client.post("/account/mfa/", {"code": totp_code(commander)}).status_code == 302


def test_a_used_code_cannot_be_replayed(world):
    commander = world.users["commander"]
    code = totp_code(commander)
    assert password_login("commander").post("/account/mfa/", {"code": code}).status_code == 302
    other = password_login("commander")
    assert other.post("/account/mfa/", {"code": code}).status_code == 400
    assert other.get("/grids/").status_code == 302


def test_the_token_endpoint_needs_the_code_and_such_a_token_may_unmask(world):
    person = world.persons["p1"]
    client = Client()

    def token(**extra):
        body = {"username": "member1", "password": PASSWORD, **extra}
        return client.post("/api/v1/auth/token", body, content_type="application/json")

    without = token()
    assert (without.status_code, without.json()["code"], without.json()["field"]) == (
        400,
        "second_factor_required",
        "otp",
    )
    assert set(without.json()["messages"]) == {"zh-hans", "en"}
    wrong = token(otp="000000")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "second_factor_wrong")
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3), tick=False):
        good = token(otp=totp_code(world.users["member1"]))
        assert good.status_code == 200
        key = good.json()["token"]
        reveal = client.post(
            f"/api/v1/persons/{person.pk}/reveal",
            {"field": "id_number"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert reveal.status_code == 200 and re.fullmatch(r"\d{17}[\dX]", reveal.json()["value"])


def test_a_role_that_needs_it_and_no_device_is_sent_to_set_one_up(world):
    """Enrolment: the QR code's secret, confirmed by a code; backup codes shown once."""
    newcomer = make_user("newcomer", second_factor=False)
    grid_assignment_create(node=world.nodes["S-C-G1"], user=newcomer, role=Role.GRID_MEMBER, principal=world.admin)
    client = password_login("newcomer")
    response = client.get("/grids/")
    assert response["Location"] == "/account/mfa/enrol/?next=%2Fgrids%2F"
    page = client.get(response["Location"]).content.decode()
    assert "<svg" in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    key = base64.b32decode(secret)
    assert client.get(response["Location"]).content.decode().count(" ".join(re.findall(".{4}", secret))) == 1
    assert client.post("/account/mfa/enrol/?next=/grids/", {"code": "123456"}).status_code == 400
    assert not TOTPDevice.objects.filter(user=newcomer, confirmed=True).exists()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3), tick=False):
        done = client.post("/account/mfa/enrol/?next=/grids/", {"code": f"{totp(key):06d}"})
        assert done.status_code == 200
        codes = re.findall(r"<code>([a-z2-7]{8})</code>", done.content.decode())
        assert len(codes) == 10
        assert client.get("/grids/").status_code == 200
    assert actions("mfa.enrol", newcomer) == [{"device": [None, "totp"], "backup_codes": [None, 10]}]
    assert [c["during"] for c in actions("mfa.verify_failed", newcomer)] == ["enrol"]

    # The next login asks for the code; a backup code stands in for it, once.
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=6), tick=False):
        again = password_login("newcomer")
        assert again.get("/grids/")["Location"].startswith("/account/mfa/?")
        assert again.post("/account/mfa/", {"code": codes[0]}).status_code == 302
        assert again.get("/grids/").status_code == 200
        third = password_login("newcomer")
        assert third.post("/account/mfa/", {"code": codes[0]}).status_code == 400


def test_a_stolen_password_cannot_set_up_its_own_device(world):
    client = password_login("member1")
    enrol = client.get("/account/mfa/enrol/")
    assert enrol.status_code == 302 and enrol["Location"] == "/account/mfa/"
    assert client.post("/account/mfa/enrol/", {"code": "123456"}).status_code == 302
    assert TOTPDevice.objects.filter(user=world.users["member1"]).count() == 1
    assert client.get("/grids/").status_code == 302


def test_an_administrator_resets_a_lost_device(world):
    member = world.users["member1"]
    session = Client()
    session.force_login(member)  # a verified login of the member
    assert session.get("/grids/").status_code == 200
    token = api(world, "member1")
    assert token("get", "/api/v1/persons").status_code == 200

    # The grid head of the other compound: as if there were no such user.
    head2 = api(world, "head2")
    assert head2("post", f"/api/v1/users/{member.pk}/mfa-reset").status_code == 404
    assert TOTPDevice.objects.filter(user=member).exists()
    # Nobody resets their own.
    own = api(world, "member1")("post", f"/api/v1/users/{member.pk}/mfa-reset")
    assert own.status_code in (403, 404)

    staff = Client()
    staff.force_login(world.users["staff"])
    assert staff.post(f"/users/{member.pk}/mfa-reset/").status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert actions("mfa.reset", member) == [{"device": ["totp", None]}]
    assert AuditEvent.objects.get(action="mfa.reset").actor_label == "staff"
    # The member's verified session and token lose their verification: set up a new device first.
    assert session.get("/grids/")["Location"] == "/account/mfa/enrol/?next=%2Fgrids%2F"
    refused = token("get", "/api/v1/persons")
    assert (refused.status_code, refused.json()["code"]) == (401, "second_factor_required")


def test_a_guard_is_not_asked_but_downloading_the_ledger_needs_a_second_factor(world):
    guard = make_user("guard9", second_factor=False)
    grid_assignment_create(node=world.nodes["S-C-G1"], user=guard, role=Role.CHECKPOINT_GUARD, principal=world.admin)
    client = password_login("guard9")
    assert client.get("/gates/").status_code == 200
    ledger = client.get("/gates/ledger.xlsx")
    assert ledger.status_code == 403
    assert "双因素验证" in ledger.content.decode()  # "needs a second factor"
    # Set up of their own accord: from then on asked at every login, and the ledger comes.
    page = client.get("/account/mfa/enrol/").content.decode()
    key = base64.b32decode(re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", ""))
    assert client.post("/account/mfa/enrol/", {"code": f"{totp(key):06d}"}).status_code == 200
    assert client.get("/gates/ledger.xlsx").status_code == 200
    later = password_login("guard9")
    assert later.get("/gates/")["Location"].startswith("/account/mfa/?")
