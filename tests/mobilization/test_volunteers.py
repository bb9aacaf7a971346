"""Volunteers and the wish loop (泉心愿): sign up by the community's QR without an account, verified
by the community before any duty; a wish posted → claimed by an approved volunteer → done →
thanked from the personal link; a wish left open too long alerts the community."""

import datetime as dt
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from epigrid.alerts.models import Alert
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.health import services as health
from epigrid.mobilization import volunteers as vol
from epigrid.mobilization.choices import WISH_TRANSITIONS, VolunteerStatus, WishStatus
from epigrid.mobilization.models import Volunteer, Wish
from tests.factories import api


def _client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _approved(world, name="刘志愿", phone="13900000001"):
    volunteer = vol.volunteer_signup(grid=world.nodes["S-C"], name=name, phone=phone)
    return vol.volunteer_decide(volunteer=volunteer, approve=True, principal=world.users["staff"])


def test_sign_up_approve_claim_done_thanks(world):
    """The whole loop as the people in it see it: the QR page, the public form, the community's
    verification, the grid member's wish list, the resident's link."""
    staff, member = _client(world, "staff"), _client(world, "member1")
    team = vol.team_create(grid=world.nodes["S-C"], name="红色管家", principal=world.users["staff"])

    # The community prints its QR; its link opens the public form, without an account.
    poster = staff.get(reverse("mobilization:signup_qr", args=["S-C"]))
    assert poster.status_code == 200 and "<svg" in poster.content.decode()
    link = re.search(r'data-testid="signup-link">([^<]+)<', poster.content.decode()).group(1)
    path = link.replace("http://testserver", "")
    public = Client()
    page = public.get(path)
    assert page.status_code == 200 and "红色管家" in page.content.decode()
    bad = public.post(path, {"name": "刘志愿", "phone": "123"})
    assert bad.status_code == 400 and not Volunteer.objects.exists()
    done = public.post(path, {"name": "刘志愿", "phone": "139 0000 0001", "skills": "开车", "team": team.pk})
    assert done.status_code == 200 and 'data-testid="signed-up"' in done.content.decode()
    volunteer = Volunteer.objects.get()
    assert volunteer.status == VolunteerStatus.PENDING and volunteer.phone_masked == "139****0001"
    public.post(path, {"name": "刘志愿", "phone": "13900000001"})  # a double tap: still one
    assert Volunteer.objects.count() == 1
    # A tampered token is nobody's form.
    assert public.get(reverse("mobilization:signup", args=["x" + path.split("/")[-2]])).status_code == 404

    # The grid member posts a wish for 张三's household; a pending volunteer cannot be given it.
    member.post(reverse("mobilization:wishes"), {"household": world.households["h1"].pk, "text": "代购蔬菜"})
    wish = Wish.objects.get()
    assert wish.status == WishStatus.OPEN
    with pytest.raises(Conflict):
        vol.wish_claim(wish=wish, volunteer=volunteer, principal=world.users["member1"])
    assert "刘志愿" not in member.get(reverse("mobilization:wishes")).content.decode()

    # The community approves (a grid member may not); the volunteer shows among those to choose.
    assert member.post(reverse("mobilization:volunteer_decide", args=[volunteer.pk, "approve"])).status_code == 404
    listed = staff.get(reverse("mobilization:volunteers")).content.decode()
    assert "刘志愿" in listed and "139****0001" in listed and "13900000001" not in listed
    response = staff.post(
        reverse("mobilization:volunteer_decide", args=[volunteer.pk, "approve"]),
        {"team": team.pk},
        HTTP_HX_REQUEST="true",
    )
    row = response.content.decode()  # htmx: the row, decided (no buttons left)
    assert response.status_code == 200 and row.startswith('<li id="volunteer-') and "<form" not in row
    volunteer.refresh_from_db()
    assert volunteer.status == VolunteerStatus.APPROVED and volunteer.team == team
    assert "刘志愿" in member.get(reverse("mobilization:wishes")).content.decode()

    # Claimed for the volunteer (htmx: the row comes back, claimed), then confirmed done.
    claim = reverse("mobilization:wish_action", args=[wish.pk, "claim"])
    response = member.post(claim, {"volunteer": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()  # the reason, in the row
    response = member.post(claim, {"volunteer": volunteer.pk}, HTTP_HX_REQUEST="true")
    row = response.content.decode()
    assert response.status_code == 200 and row.startswith('<li id="wish-') and "刘志愿" in row
    assert reverse("mobilization:wish_action", args=[wish.pk, "done"]) in row
    member.post(reverse("mobilization:wish_action", args=[wish.pk, "done"]), {"note": "已送到门口"})
    wish.refresh_from_db()
    assert wish.status == WishStatus.DONE and wish.volunteer == volunteer

    # The resident sees it on the personal link and thanks.
    token = health.resident_link_issue(person=world.persons["p1"], principal=world.users["member1"])
    resident = Client()
    page = resident.get(reverse("resident", args=[token])).content.decode()
    assert "代购蔬菜" in page and "刘志愿" in page
    resident.post(reverse("resident_wish_thank", args=[token, wish.pk]), {"thanks": "谢谢志愿者!"})
    wish.refresh_from_db()
    assert wish.status == WishStatus.THANKED and wish.thanks == "谢谢志愿者!"
    assert "谢谢志愿者!" in member.get(reverse("mobilization:wishes") + "?status=all").content.decode()
    actions = set(AuditEvent.objects.filter(object_type="mobilization.wish").values_list("action", flat=True))
    assert actions == {"wish.post", "wish.claimed", "wish.done", "wish.thanked"}


def test_a_resident_posts_a_wish_from_the_link_and_others_cannot_thank_it(world):
    token = health.resident_link_issue(person=world.persons["p1"], principal=world.users["member1"])
    resident = Client()
    resident.post(reverse("resident_wish", args=[token]), {"text": "修理门锁"})
    wish = Wish.objects.get()
    assert wish.source == "resident" and wish.household == world.households["h1"] and wish.person == world.persons["p1"]
    # 王五 of the other compound cannot thank 张三's wish, nor see it.
    other = health.resident_link_issue(person=world.persons["p2"], principal=world.users["member2"])
    assert resident.post(reverse("resident_wish_thank", args=[other, wish.pk])).status_code == 404
    assert "修理门锁" not in resident.get(reverse("resident", args=[other])).content.decode()
    # Thanks before it is done is refused, and says why.
    resident.post(reverse("resident_wish_thank", args=[token, wish.pk]))
    wish.refresh_from_db()
    assert wish.status == WishStatus.OPEN


def test_who_may_act(world):
    volunteer = _approved(world)
    with pytest.raises(NotFound):  # a grid head does not see the community's level
        vol.team_create(grid=world.nodes["S-C"], name="爱邻联盟", principal=world.users["head1"])
    with pytest.raises(Forbidden):  # the inspector sees it, and decides nothing
        vol.volunteer_decide(volunteer=volunteer, approve=False, principal=world.users["inspector"])
    wish = vol.wish_post(household=world.households["h1"], text="买药", principal=world.users["member1"])
    with pytest.raises(NotFound):  # the other compound's grid member does not see it
        vol.wish_claim(wish=wish, volunteer=volunteer, principal=world.users["member2"])
    with pytest.raises(Forbidden):  # the inspector sees it but does no tasks
        vol.wish_done(wish=wish, principal=world.users["inspector"])
    refused = vol.volunteer_signup(grid=world.nodes["S-C"], name="王不行", phone="13900000002")
    vol.volunteer_decide(volunteer=refused, approve=False, principal=world.users["secretary"])
    with pytest.raises(Conflict):
        vol.wish_claim(wish=wish, volunteer=Volunteer.objects.get(pk=refused.pk), principal=world.users["member1"])
    with pytest.raises(DomainError):  # decided once
        vol.volunteer_decide(
            volunteer=Volunteer.objects.get(pk=refused.pk), approve=True, principal=world.users["staff"]
        )


def test_a_wish_open_too_long_alerts_the_community_once(world, settings):
    settings.WISH_OPEN_ALERT_HOURS = 24
    wish = vol.wish_post(household=world.households["h1"], text="代购蔬菜", principal=world.users["member1"])
    now = timezone.now()
    assert vol.wishes_overdue(now=now + dt.timedelta(hours=23)) == 0
    assert vol.wishes_overdue(now=now + dt.timedelta(hours=25)) == 1
    assert vol.wishes_overdue(now=now + dt.timedelta(hours=26)) == 0  # once
    alert = Alert.objects.get(kind="wish_overdue")
    assert alert.grid == world.households["h1"].grid and alert.owner == world.users["secretary"]
    assert alert.level == 2  # the community
    assert alert.detail["wish_text"] == "代购蔬菜" and alert.detail["household"] == world.households["h1"].address
    page = _client(world, "secretary").get(reverse("alerts:list")).content.decode()
    assert "代购蔬菜" in page
    # A claimed wish is not overdue; one released back to open may alert again.
    later = vol.wish_post(household=world.households["h1"], text="修水管", principal=world.users["member1"])
    vol.wish_claim(wish=later, volunteer=_approved(world), principal=world.users["member1"])
    assert vol.wishes_overdue(now=now + dt.timedelta(hours=50)) == 0
    # The sweep runs it.
    from epigrid.oversight.sweeps import sweep_all

    vol.wish_release(wish=later, principal=world.users["member1"])
    counts = sweep_all(now=now + dt.timedelta(hours=50))
    assert counts["wishes_overdue"] == 1
    assert Alert.objects.filter(kind="wish_overdue").count() == 2
    assert wish.pk  # the first wish stays open, alerted once


def test_api_loop(world):
    volunteer = _approved(world)
    member, staff = api(world, "member1"), api(world, "staff")
    response = member(
        "post", "/api/v1/mobilization/wishes", {"household_id": world.households["h1"].pk, "text": "买药"}
    )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    response = member("post", f"/api/v1/mobilization/wishes/{pk}/claim", {"volunteer_id": volunteer.pk})
    assert response.status_code == 200 and response.json()["status"] == "claimed"
    assert response.json()["volunteer_name"] == "刘志愿"
    response = member("post", f"/api/v1/mobilization/wishes/{pk}/done", {})
    assert response.json()["status"] == "done"
    assert [w["id"] for w in staff("get", "/api/v1/mobilization/wishes?status=done").json()] == [pk]
    assert api(world, "member2")("get", "/api/v1/mobilization/wishes?status=done").json() == []
    pending = vol.volunteer_signup(grid=world.nodes["S-C"], name="新人", phone="13900000009")
    assert staff("get", "/api/v1/mobilization/volunteers?status=pending").json()[0]["name"] == "新人"
    response = staff("post", f"/api/v1/mobilization/volunteers/{pending.pk}/approve", {})
    assert response.status_code == 200 and response.json()["status"] == "approved"


# ---------------------------------------------------------------- the wish loop under random use

ACTORS = ["member1", "member2", "head1", "staff", "inspector"]


class WishMachine(RuleBasedStateMachine):
    world = None

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint_create()
        self.wishes: list[int] = []

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    @initialize()
    def volunteers(self):
        self.approved = _approved(self.world)
        self.pending = vol.volunteer_signup(grid=self.world.nodes["S-C"], name="待审", phone="13900000003")

    def _wish(self, index):
        return Wish.objects.select_related("grid").get(pk=self.wishes[index % len(self.wishes)])

    def _attempt(self, call, wish=None):
        before = list(Wish.objects.order_by("pk").values_list("pk", "status", "volunteer_id"))
        events = AuditEvent.objects.count()
        try:
            call()
        except DomainError:
            assert list(Wish.objects.order_by("pk").values_list("pk", "status", "volunteer_id")) == before
            assert AuditEvent.objects.count() == events
            return False
        return True

    @rule(actor=st.sampled_from(ACTORS), text=st.sampled_from(["买药", "代购蔬菜", "修水管"]))
    def post(self, actor, text):
        def call():
            wish = vol.wish_post(household=self.world.households["h1"], text=text, principal=self.world.users[actor])
            if wish.pk not in self.wishes:
                self.wishes.append(wish.pk)

        allowed = actor in ("member1", "head1", "staff")
        assert self._attempt(call) == allowed or not allowed

    @rule(actor=st.sampled_from(ACTORS), index=st.integers(0, 10), pending=st.booleans())
    def claim(self, actor, index, pending):
        if not self.wishes:
            return
        wish = self._wish(index)
        before = wish.status
        volunteer = self.pending if pending else self.approved
        ok = self._attempt(lambda: vol.wish_claim(wish=wish, volunteer=volunteer, principal=self.world.users[actor]))
        if ok:
            assert not pending and before in (WishStatus.OPEN, WishStatus.CLAIMED)

    @rule(actor=st.sampled_from(ACTORS), index=st.integers(0, 10))
    def release(self, actor, index):
        if self.wishes:
            wish = self._wish(index)
            self._attempt(lambda: vol.wish_release(wish=wish, principal=self.world.users[actor]))

    @rule(actor=st.sampled_from(ACTORS), index=st.integers(0, 10))
    def done(self, actor, index):
        if self.wishes:
            wish = self._wish(index)
            before = wish.status
            if self._attempt(lambda: vol.wish_done(wish=wish, principal=self.world.users[actor])):
                assert before in (WishStatus.CLAIMED, WishStatus.DONE)

    @rule(actor=st.sampled_from(ACTORS), index=st.integers(0, 10))
    def cancel(self, actor, index):
        if self.wishes:
            wish = self._wish(index)
            self._attempt(lambda: vol.wish_cancel(wish=wish, principal=self.world.users[actor]))

    @rule(index=st.integers(0, 10), own=st.booleans())
    def thank(self, index, own):
        if self.wishes:
            wish = self._wish(index)
            person = self.world.persons["p1" if own else "p2"]
            before = wish.status
            if self._attempt(lambda: vol.wish_thank(wish=wish, person=person, thanks="谢谢")):
                assert own and before in (WishStatus.DONE, WishStatus.THANKED)

    @invariant()
    def the_loop_holds(self):
        for wish in Wish.objects.all():
            # Claimed, done or thanked: by an approved volunteer; open or cancelled before a claim: by none.
            if wish.status in (WishStatus.CLAIMED, WishStatus.DONE, WishStatus.THANKED):
                assert wish.volunteer_id == self.approved.pk
            if wish.status == WishStatus.OPEN:
                assert wish.volunteer_id is None
            # Each move the audit shows is one the machine allows.
            moves = AuditEvent.objects.filter(object_type="mobilization.wish", object_id=str(wish.pk))
            seen = WishStatus.OPEN
            for changes in moves.exclude(action="wish.post").order_by("id").values_list("changes", flat=True):
                old, new = changes["status"]
                assert old == seen and new in WISH_TRANSITIONS[old]
                seen = new
            assert seen == wish.status


def test_the_wish_loop_under_random_use(world):
    WishMachine.world = world
    run_state_machine_as_test(
        WishMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def test_public_sign_up_by_the_api(world):
    token = vol.signup_token(world.nodes["S-C"])
    client = Client()
    url = f"/api/v1/mobilization/signup/{token}"
    response = client.post(url, {"name": "郑志愿", "phone": "13900000005"}, content_type="application/json")
    assert response.status_code == 201 and response.json() == {"status": "pending", "community": "S-C name"}
    bad = client.post(url, {"name": "郑志愿", "phone": "12"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "phone_invalid"
    tampered = client.post(url[:-2] + "xx", {"name": "郑志愿", "phone": "13900000006"}, content_type="application/json")
    assert tampered.status_code == 404
    assert Volunteer.objects.get().name == "郑志愿"
    with pytest.raises(DomainError):  # a team of another community is not offered
        vol.volunteer_signup(
            grid=world.nodes["S-C"],
            name="x",
            phone="13900000007",
            team=vol.VolunteerTeam(grid=world.nodes["S"], name="t", pk=999),
        )


def test_shift_hours_add_up_per_volunteer_and_team(world):
    volunteer = _approved(world)
    team = vol.team_create(grid=world.nodes["S-C"], name="解放先锋", principal=world.users["staff"])
    volunteer = vol.volunteer_team_set(volunteer=volunteer, team=team, principal=world.users["staff"])
    now = timezone.now().replace(microsecond=0)
    staff = _client(world, "staff")

    def local(moment):
        return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")

    response = staff.post(
        reverse("mobilization:shift_record", args=[volunteer.pk]),
        {
            "kind": "gate_duty",
            "starts_at": local(now - dt.timedelta(hours=10)),
            "ends_at": local(now - dt.timedelta(hours=6)),
        },
    )
    assert response.status_code == 302
    vol.shift_record(
        volunteer=volunteer,
        kind="disinfection",
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=1, minutes=30),
        principal=world.users["secretary"],
    )
    with pytest.raises(Conflict):  # overlaps the gate duty
        vol.shift_record(
            volunteer=volunteer,
            kind="publicity",
            starts_at=now - dt.timedelta(hours=7),
            ends_at=now - dt.timedelta(hours=5),
            principal=world.users["staff"],
        )
    with pytest.raises(DomainError):  # not over yet
        vol.shift_record(
            volunteer=volunteer,
            kind="publicity",
            starts_at=now,
            ends_at=now + dt.timedelta(hours=2),
            principal=world.users["staff"],
        )
    pending = vol.volunteer_signup(grid=world.nodes["S-C"], name="待审", phone="13900000031")
    with pytest.raises(Conflict):  # only approved volunteers are given duties
        vol.shift_record(
            volunteer=pending,
            kind="publicity",
            starts_at=now - dt.timedelta(hours=2),
            ends_at=now - dt.timedelta(hours=1),
            principal=world.users["staff"],
        )
    page = staff.get(reverse("mobilization:volunteers")).content.decode()
    assert "5.5 h" in page
    hours = api(world, "staff")("get", "/api/v1/mobilization/volunteer-hours").json()
    assert hours == [
        {
            "kind": "team",
            "id": team.pk,
            "name": "解放先锋",
            "grid": "S-C",
            "team_name": "解放先锋",
            "shifts": 2,
            "hours": 5.5,
        },
        {
            "kind": "volunteer",
            "id": volunteer.pk,
            "name": "刘志愿",
            "grid": "S-C",
            "team_name": "解放先锋",
            "shifts": 2,
            "hours": 5.5,
        },
    ]
    assert api(world, "member2")("get", "/api/v1/mobilization/volunteer-hours").json() == []


def test_the_community_registers_a_resident_from_the_page(world):
    staff = _client(world, "staff")
    page = staff.get(reverse("mobilization:volunteers") + "?q=张三").content.decode()
    assert "张三" in page and "王五" not in page
    response = staff.post(
        reverse("mobilization:volunteers"),
        {"action": "volunteer", "grid": "S-C", "person": world.persons["p1"].pk, "skills": "理发"},
    )
    assert response.status_code == 302
    volunteer = Volunteer.objects.get(person=world.persons["p1"])
    assert volunteer.status == "pending" and volunteer.source == "staff" and volunteer.name == "张三"
    # 第2网格's grid member cannot register anyone at the community.
    assert (
        _client(world, "head2")
        .post(
            reverse("mobilization:volunteers"), {"action": "volunteer", "grid": "S-C", "person": world.persons["p2"].pk}
        )
        .status_code
        == 404
    )


def test_an_approved_volunteer_claims_a_wish_on_their_own_link(world):
    volunteer = _approved(world)
    pending = vol.volunteer_signup(grid=world.nodes["S-C"], name="待审", phone="13900000041")
    with pytest.raises(Conflict):  # no link before the community approves
        vol.volunteer_link_issue(volunteer=pending, principal=world.users["staff"])
    staff = _client(world, "staff")
    staff.post(reverse("mobilization:volunteer_link", args=[volunteer.pk]))
    page = staff.get(reverse("mobilization:volunteer_link", args=[volunteer.pk])).content.decode()
    path = re.search(r'<a href="http://testserver([^"]+)">', page).group(1)
    wish = vol.wish_post(household=world.households["h1"], text="代购蔬菜", principal=world.users["member1"])
    phone = Client()
    home = phone.get(path).content.decode()
    # Open wishes show their compound, not the household's address, until claimed.
    assert "代购蔬菜" in home and world.households["h1"].address not in home
    phone.post(reverse("mobilization:volunteer_claim", args=[path.split("/")[-2], wish.pk]))
    wish.refresh_from_db()
    assert wish.status == WishStatus.CLAIMED and wish.volunteer == volunteer
    assert world.households["h1"].address in phone.get(path).content.decode()
    claimed = AuditEvent.objects.filter(action="wish.claimed", actor_label="system:volunteer-link")
    assert claimed.filter(object_type="mobilization.wish").count() == 1
    # A new link replaces the old one.
    staff.post(reverse("mobilization:volunteer_link", args=[volunteer.pk]))
    assert phone.get(path).status_code == 404


def test_the_volunteer_link_is_kept_out_of_logs():
    from epigrid.core.redaction import redact

    assert redact("GET /mobilization/v/Zx9_k-3fQ2/wishes/4/claim/ HTTP/1.1") == (
        "GET /mobilization/v/[redacted]/wishes/4/claim/ HTTP/1.1"
    )


def test_the_volunteer_link_by_the_api(world):
    volunteer = _approved(world)
    issued = api(world, "staff")("post", f"/api/v1/mobilization/volunteers/{volunteer.pk}/link")
    assert issued.status_code == 201
    token = issued.json()["token"]
    wish = vol.wish_post(household=world.households["h1"], text="代购蔬菜", principal=world.users["member1"])
    phone = Client()
    listed = phone.get(f"/api/v1/mobilization/volunteer/{token}/wishes").json()
    assert [(w["id"], w["household_address"]) for w in listed] == [(wish.pk, "")]
    claimed = phone.post(f"/api/v1/mobilization/volunteer/{token}/wishes/{wish.pk}/claim")
    assert claimed.status_code == 200 and claimed.json()["household_address"] == world.households["h1"].address
    assert phone.get("/api/v1/mobilization/volunteer/not-a-token/wishes").status_code == 404
    # Another community's wish is not found, whatever its state.
    other = _other_community_wish(world)
    assert phone.post(f"/api/v1/mobilization/volunteer/{token}/wishes/{other.pk}/claim").status_code == 404


def _other_community_wish(world):
    from epigrid.grids import services as grids
    from epigrid.people import services as people

    admin = world.admin
    community = grids.grid_node_create(
        parent=world.nodes["S"], code="S-X", name="X", level="community", principal=admin
    )
    compound = grids.grid_node_create(parent=community, code="S-X-G1", name="X1", level="grid", principal=admin)
    household = people.household_create(grid=compound, number="9-901", address="X 9-901", principal=admin)
    return vol.wish_post(household=household, text="修水管", principal=admin)
