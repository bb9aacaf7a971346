"""Accounts managed by community staff and grid heads: create, assign, deactivate, reactivate, a
one-time password link; nobody manages an account outside their area or with more rights than
their own (issue 9, item 8)."""

import datetime as dt
import re

import time_machine
from django.test import Client
from django.utils import timezone

from epigrid.accounts.choices import Role
from epigrid.accounts.models import PasswordReset, User
from epigrid.accounts.services import grid_assignment_create
from epigrid.core.models import AuditEvent
from epigrid.oversight.selectors import coverage_audit
from tests.factories import api, make_user

GOOD_PASSWORD = "gx-5317-lane"


def page(world, username: str) -> Client:
    client = Client()
    client.force_login(world.users[username])
    return client


def audited(action: str, user) -> list:
    return list(
        AuditEvent.objects.filter(action=action, object_type="accounts.user", object_id=str(user.pk)).values_list(
            "actor_label", "grid_path"
        )
    )


def test_a_grid_head_creates_an_account_with_a_password_and_it_logs_in(world):
    head = page(world, "head1")
    response = head.post(
        "/users/",
        {
            "username": "liu9",
            "full_name": "刘九",
            "phone": "13912345678",
            "grid": "S-C-G1",
            "role": "grid_member",
            "duties": ["party_building"],
            "password": GOOD_PASSWORD,
        },
    )
    assert response.status_code == 302
    liu = User.objects.get(username="liu9")
    assert response["Location"] == f"/users/{liu.pk}/"
    assert liu.phone_masked == "139****5678" and b"13912345678" not in bytes(liu.phone_sealed)
    assert list(liu.grid_assignments.values_list("node__code", "role", "duties")) == [
        ("S-C-G1", "grid_member", ["party_building"])
    ]
    assert audited("user.create", liu) == [("head1", world.nodes["S-C-G1"].path)]
    detail = head.get(f"/users/{liu.pk}/").content.decode()
    assert "刘九" in detail and "139****5678" in detail and "13912345678" not in detail
    # The new member logs in (and, as a grid member, is sent to set up a second factor).
    client = Client()
    assert client.post("/login/", {"username": "liu9", "password": GOOD_PASSWORD}).status_code == 302
    assert client.get("/grids/")["Location"].startswith("/account/mfa/enrol/")


def test_an_account_without_a_password_gets_a_one_time_link(world):
    answer = api(world, "head1")(
        "post", "/api/v1/users", {"username": "wang9", "full_name": "王九", "grid": "S-C-G1", "role": "grid_member"}
    )
    assert answer.status_code == 201
    link = answer.json()["reset_link"]
    assert re.fullmatch(r"http://testserver/password/reset/[\w-]{40,}/", link)
    wang = User.objects.get(username="wang9")
    assert not wang.has_usable_password()
    assert link.rsplit("/", 2)[1] not in str(list(PasswordReset.objects.values()))  # only its hash is kept

    client = Client()
    first = client.get(link)
    assert first["Location"] == "/password/reset/set/"  # the key leaves the address bar
    form = client.get("/password/reset/set/")
    assert form.status_code == 200 and "wang9" in form.content.decode()
    done = client.post("/password/reset/set/", {"new_password": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})
    assert done["Location"] == "/"
    assert Client().post("/login/", {"username": "wang9", "password": GOOD_PASSWORD}).status_code == 302
    # Once only.
    assert Client().get(link).status_code == 404
    assert audited("user.password_reset", User.objects.get(username="wang9")) == [("wang9", world.nodes["S-C-G1"].path)]


def test_a_reset_link_expires_and_a_newer_one_replaces_it(world):
    member = world.users["member1"]
    head = api(world, "head1")
    older = head("post", f"/api/v1/users/{member.pk}/password-reset").json()["reset_link"]
    newer = head("post", f"/api/v1/users/{member.pk}/password-reset").json()["reset_link"]
    assert Client().get(older).status_code == 404
    assert Client().get(newer).status_code == 302
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        assert Client().get(newer).status_code == 404
    assert len(audited("user.password_reset_issue", member)) == 2
    assert member.check_password("x-test-password-1")  # issuing a link changes nothing by itself


def test_outside_their_area_an_administrator_sees_no_account(world):
    member = world.users["member1"]
    head2 = api(world, "head2")
    listed = head2("get", "/api/v1/users").json()["items"]
    assert "member1" not in {u["username"] for u in listed} and "member2" in {u["username"] for u in listed}
    for method, path in (
        ("get", f"/api/v1/users/{member.pk}"),
        ("post", f"/api/v1/users/{member.pk}/deactivate"),
        ("post", f"/api/v1/users/{member.pk}/password-reset"),
    ):
        response = head2(method, path)
        assert (response.status_code, response.json()["code"]) == (404, "user_not_found")
    pages = page(world, "head2")
    assert pages.get(f"/users/{member.pk}/").status_code == 404
    assert pages.post(f"/users/{member.pk}/deactivate/").status_code == 404
    assert "member1" not in pages.get("/users/").content.decode()
    member.refresh_from_db()
    assert member.is_active
    assert not AuditEvent.objects.filter(action__startswith="user.").exists()


def test_nobody_takes_over_an_account_with_more_rights_than_their_own(world):
    """Community staff see the secretary of their community but may not reset or deactivate the
    account, nor make anyone a secretary (a reset link plus a second-factor reset would otherwise
    hand them the secretary's rights)."""
    secretary = world.users["secretary"]
    staff = api(world, "staff")
    assert staff("get", f"/api/v1/users/{secretary.pk}").status_code == 200
    for action in ("deactivate", "password-reset", "mfa-reset"):
        response = staff("post", f"/api/v1/users/{secretary.pk}/{action}")
        assert response.status_code == 403, action
    created = staff(
        "post",
        "/api/v1/users",
        {
            "username": "boss",
            "full_name": "新书记",
            "grid": "S-C",
            "role": "community_secretary",
            "password": GOOD_PASSWORD,
        },
    )
    assert (created.status_code, created.json()["code"]) == (403, "role_beyond_own")
    assert not User.objects.filter(username="boss").exists()
    # The secretary may manage the staff member (holds every right of the role there).
    assert api(world, "secretary")("post", f"/api/v1/users/{world.users['staff'].pk}/password-reset").status_code == 200


def test_deactivation_ends_the_session_and_tokens_and_opens_a_coverage_gap(world):
    member = world.users["member1"]
    session = page(world, "member1")
    token = api(world, "member1")
    assert session.get("/grids/").status_code == 200 and token("get", "/api/v1/persons").status_code == 200
    gaps = {(g.kind, g.grid_code) for g in coverage_audit(user=world.admin).gaps}
    assert ("grid_without_member", "S-C-G1") not in gaps

    head = page(world, "head1")
    assert head.post(f"/users/{member.pk}/deactivate/").status_code == 302
    assert session.get("/grids/")["Location"].startswith("/login/")
    assert token("get", "/api/v1/persons").status_code == 401
    assert Client().post("/login/", {"username": "member1", "password": "x-test-password-1"}).status_code == 400
    gaps = {(g.kind, g.grid_code) for g in coverage_audit(user=world.admin).gaps}
    assert ("grid_without_member", "S-C-G1") in gaps
    assert "Deactivated" in head.get("/users/").content.decode() or "已停用" in head.get("/users/").content.decode()

    assert head.post(f"/users/{member.pk}/reactivate/").status_code == 302
    member.refresh_from_db()
    assert member.is_active
    assert ("grid_without_member", "S-C-G1") not in {
        (g.kind, g.grid_code) for g in coverage_audit(user=world.admin).gaps
    }
    assert [a for a, _p in audited("user.deactivate", member)] == ["head1"]
    assert [a for a, _p in audited("user.reactivate", member)] == ["head1"]


def test_nobody_deactivates_themselves(world):
    head1 = world.users["head1"]
    response = api(world, "secretary")("post", f"/api/v1/users/{world.users['secretary'].pk}/deactivate")
    assert (response.status_code, response.json()["code"]) == (403, "own_account")
    assert page(world, "head1").post(f"/users/{head1.pk}/deactivate/").status_code in (403, 404)
    head1.refresh_from_db()
    assert head1.is_active


def test_roles_are_assigned_from_the_account_page(world):
    newcomer = make_user("newcomer")
    grid_assignment_create(node=world.nodes["S-C-G1"], user=newcomer, role=Role.VOLUNTEER, principal=world.admin)
    head = page(world, "head1")
    assert head.post(f"/users/{newcomer.pk}/assign/", {"grid": "S-C-G1-B1", "role": "building_head"}).status_code == 302
    assert set(newcomer.grid_assignments.values_list("node__code", "role")) == {
        ("S-C-G1", "volunteer"),
        ("S-C-G1-B1", "building_head"),
    }
    # Not on a grid outside the head's area, whatever the account.
    assert head.post(f"/users/{newcomer.pk}/assign/", {"grid": "S-C-G2", "role": "volunteer"}).status_code == 404
