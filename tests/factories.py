"""Test data built through the services (never by hand-setting statuses), so every row a test
sees was written the way production writes it, audit records included."""

import itertools
import random
import secrets
from dataclasses import dataclass, field

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from epigrid.accounts import services as account_services
from epigrid.accounts.choices import Role
from epigrid.accounts.models import User
from epigrid.accounts.services import api_token_issue
from epigrid.core.validators import id_check_char
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel, PlaceKind, ThematicCategory
from epigrid.people import services as people_services

_serial = itertools.count(1)
_rng = random.Random(2020)


_issued: set[str] = set()


def make_id_number(region: str = "370102", birth: str | None = None) -> str:
    """A valid GB 11643 number, different on every call."""
    while True:  # the sequence field has 3 digits: a random birth date could repeat a number
        day = birth or f"19{_rng.randrange(40, 99)}{_rng.randrange(1, 13):02d}{_rng.randrange(1, 29):02d}"
        first17 = f"{region}{day}{next(_serial) % 1000:03d}"
        if first17 not in _issued or birth:
            _issued.add(first17)
            return first17 + id_check_char(first17)


def make_phone() -> str:
    return f"13{_rng.randrange(0, 10**9):09d}"


def make_user(username: str, *, superuser: bool = False, second_factor: bool = True) -> User:
    """A user with the test password and, unless told otherwise, a confirmed TOTP device that the
    returned object has passed: a test acting as it (a service's principal, `force_login`, a token
    from `api_token_issue`) acts as a login that gave its code, like every production login of a
    role that needs one (tests/accounts/test_mfa.py checks the logins that have not)."""
    if superuser:
        user = User.objects.create_superuser(username, password="x-test-password-1")
    else:
        user = User(username=username, full_name=username)
        user.set_password("x-test-password-1")
        user.save()
    if second_factor:
        user.otp_device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


def fresh(user: User) -> User:
    """The user read again (no cached role paths), still past the second factor it had passed."""
    again = User.objects.get(pk=user.pk)
    if getattr(user, "otp_device", None) is not None:
        again.otp_device = user.otp_device
    return again


def totp_code(user, *, steps_ahead: int = 0) -> str:
    """The code the user's authenticator app shows now (or `steps_ahead` periods of 30 s later)."""
    device = TOTPDevice.objects.filter(user=user).order_by("-confirmed", "pk").first()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps_ahead)
    return f"{code:0{device.digits}d}"


def backup_code(user) -> str:
    """A fresh one-time backup code of the user's (the API's `otp` for a sign-in that needs a second
    factor; unlike a TOTP code, any number of them work within one 30-second step)."""
    if isinstance(user, str):
        user = User.objects.get(username=user)
    device, _created = StaticDevice.objects.get_or_create(user=user, name="backup", defaults={"confirmed": True})
    code = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(8))
    device.token_set.create(token=code)
    return code


def give_code(client, user) -> None:
    """After a password login, the second step: the code page with the app's current code."""
    response = client.post("/account/mfa/", {"code": totp_code(user)})
    assert response.status_code == 302, response.content.decode()[:2000]


@dataclass
class World:
    """Two compound grids in one community: enough to tell in-scope from out-of-scope."""

    admin: User
    nodes: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    households: dict = field(default_factory=dict)
    persons: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)


def build_world() -> World:
    admin = make_user("root", superuser=True)
    w = World(admin=admin)

    def node(parent, code, level, **extra):
        w.nodes[code] = grid_services.grid_node_create(
            parent=w.nodes.get(parent), code=code, name=f"{code} name", level=level, principal=admin, **extra
        )

    node(None, "S", GridLevel.SUBDISTRICT)
    node("S", "S-C", GridLevel.COMMUNITY)
    node("S", "S-MED", GridLevel.THEMATIC, category=ThematicCategory.MEDICAL)
    node("S-C", "S-C-G1", GridLevel.GRID)
    node("S-C", "S-C-G2", GridLevel.GRID)
    node("S-C-G1", "S-C-G1-B1", GridLevel.BUILDING)
    node("S-C-G2", "S-C-G2-B1", GridLevel.BUILDING)

    def assign(username, code, role, duties=()):
        user = w.users.get(username) or make_user(username)
        w.users[username] = user
        account_services.grid_assignment_create(
            node=w.nodes[code], user=user, role=role, duties=duties, principal=admin
        )

    assign("commander", "S", Role.COMMANDER)
    assign("inspector", "S", Role.INSPECTOR)
    assign("secretary", "S-C", Role.COMMUNITY_SECRETARY)
    assign("staff", "S-C", Role.COMMUNITY_STAFF)
    assign("medhead", "S-MED", Role.THEMATIC_HEAD)
    assign("head1", "S-C-G1", Role.GRID_HEAD)
    assign("member1", "S-C-G1", Role.GRID_MEMBER, ["party_building", "environment"])
    assign("head2", "S-C-G2", Role.GRID_HEAD)
    assign("member2", "S-C-G2", Role.GRID_MEMBER)
    assign("bhead1", "S-C-G1-B1", Role.BUILDING_HEAD)
    assign("bhead2", "S-C-G2-B1", Role.BUILDING_HEAD)
    assign("guard1", "S-C-G1", Role.CHECKPOINT_GUARD)
    w.users["norole"] = make_user("norole")

    for key, code in (("h1", "S-C-G1-B1"), ("h2", "S-C-G2-B1")):
        w.households[key] = people_services.household_create(
            grid=w.nodes[code], number="1-101", address=f"{code} 1-101", principal=admin
        )
    w.persons["p1"] = people_services.person_create(
        name="张三",
        id_number=make_id_number(),
        phone=make_phone(),
        household=w.households["h1"],
        relationship="head",
        principal=admin,
    )
    w.persons["p1b"] = people_services.person_create(
        name="李四", id_number=make_id_number(), household=w.households["h1"], relationship="spouse", principal=admin
    )
    w.persons["p2"] = people_services.person_create(
        name="王五", id_number=make_id_number(), phone=make_phone(), household=w.households["h2"], principal=admin
    )
    w.places["clinic"] = grid_services.place_create(
        name="卫生室", kind=PlaceKind.CLINIC, grid=w.nodes["S-C-G1"], thematic_grid=w.nodes["S-MED"], principal=admin
    )
    w.places["shop"] = grid_services.place_create(
        name="超市", kind=PlaceKind.SHOP, grid=w.nodes["S-C-G2"], principal=admin
    )
    return w


def api(world, username):
    """An API caller acting as `username` with a bearer token: call("get", "/api/v1/...")."""
    client = Client()
    token = api_token_issue(user=world.users[username])

    def call(method, path, body=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        return getattr(client, method)(path, **kwargs)

    return call
