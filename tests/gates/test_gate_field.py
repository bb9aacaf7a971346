"""The gate as a guard uses it (issue 11 "The gate"): every answer shows in the answer box, short
pass numbers, visitors found by address within the compound and refused like residents, the
checkpoint's temperature policy, and the guard's landing after login."""

import datetime as dt
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.control import services as control
from epigrid.core.errors import NotFound
from epigrid.core.models import AuditEvent
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.health import services as health
from epigrid.health.models import Case
from epigrid.people import services as people_services
from tests.factories import make_id_number


@pytest.fixture
def gate(world, settings):
    """北门 of compound A (S-C-G1) with eleven households (passes S-C-G1-0001…0011), and compound
    B's one household (S-C-G2-0001, number 1-101 like A's first)."""
    settings.GATE_TYPED_MISS_LIMIT = 3
    for n in range(2, 12):
        world.households[f"a{n}"] = people_services.household_create(
            grid=world.nodes["S-C-G1-B1"],
            number=f"1-{100 + n}",
            address=f"幸福路1号院1号楼1单元{100 + n}室",
            principal=world.admin,
        )
    checkpoint = services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    services.passes_issue(grid=world.nodes["S-C-G2"], principal=world.users["head2"])
    return checkpoint


def _page(world, username="guard1"):
    client = Client()
    client.force_login(world.users[username])
    return client


def _visitor(page, gate, visiting, **more):
    body = {
        "name": "快递员",
        "phone": "13900001111",
        "id_number": make_id_number(),
        "visiting": visiting,
        "reason": "送药",
        "direction": "in",
        "temperature": "36.4",
        **more,
    }
    return page.post(f"/gates/{gate.pk}/visitor/", body)


def _choices(html: str) -> list[dict]:
    """The values each tap of a match list sends (hx-vals)."""
    import html as html_lib

    return [json.loads(html_lib.unescape(v)) for v in re.findall(r'hx-vals="([^"]+)"', html)]


# ---------------------------------------------------------------- short numbers


def test_the_last_digits_find_the_one_pass_of_the_compound(world, gate):
    page = _page(world)
    answer = page.post(f"/gates/{gate.pk}/scan/", {"number": "0001", "direction": "out"})
    assert answer.status_code == 200, answer.content
    html = answer.content.decode()
    assert "verdict-allowed" in html and "S-C-G1-0001" in html and "张三" in html
    # "11" ends only S-C-G1-0011: unique too.
    eleven = services.gate_scan(checkpoint=gate, direction="out", number="11", principal=world.users["guard1"])
    assert eleven.passage.household_pass.number == "S-C-G1-0011"


def test_several_matches_are_listed_to_tap_and_only_the_compounds(world, gate):
    page = _page(world)
    listed = page.post(f"/gates/{gate.pk}/scan/", {"number": "1", "direction": "in", "temperature": "36.6"})
    assert listed.status_code == 409
    html = listed.content.decode()
    assert "S-C-G1-0001" in html and "S-C-G1-0011" in html
    assert "S-C-G2" not in html and world.households["h2"].address not in html
    assert not Passage.objects.exists()
    # A tap sends the same scan again with the full number: the passage is recorded.
    choices = _choices(html)
    assert [c["number"] for c in choices] == ["S-C-G1-0001", "S-C-G1-0011"]
    assert all(c["direction"] == "in" and c["temperature"] == "36.6" for c in choices)
    tapped = page.post(f"/gates/{gate.pk}/scan/", choices[1])
    assert tapped.status_code == 200 and "verdict-allowed" in tapped.content.decode()
    assert Passage.objects.get().household_pass.number == "S-C-G1-0011"


def test_a_short_number_never_finds_another_compound_and_misses_are_throttled(world, gate):
    guard = world.users["guard1"]
    for typed in ("G2-0001", "S-C-G2-0001", "99"):
        with pytest.raises(NotFound):
            services.gate_scan(checkpoint=gate, direction="out", number=typed, principal=guard)
    throttled = _page(world).post(f"/gates/{gate.pk}/scan/", {"number": "G2-0001", "direction": "out"})
    assert throttled.status_code == 429 and "S-C-G2" not in throttled.content.decode().replace("G2-0001", "")
    assert not Passage.objects.exists()


# ---------------------------------------------------------------- errors in the answer box


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"number": "0001", "temperature": "abc", "direction": "in"}, 400, "体温"),
        ({"number": "NOPE-9", "direction": "out"}, 404, "不是本检查点的出入证"),
        ({"number": "", "direction": "out"}, 400, "出入证"),
        ({"number": "0001", "direction": "sideways"}, 400, ""),
    ],
)
def test_every_refusal_is_a_verdict_in_the_answer_box(world, gate, body, status, text):
    answer = _page(world).post(f"/gates/{gate.pk}/scan/", body, HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = answer.content.decode()
    assert answer.status_code == status
    assert 'data-testid="verdict"' in html and "verdict-error" in html and "<html" not in html
    assert text in html


# ---------------------------------------------------------------- visitors


def test_the_visited_household_is_found_by_address_within_the_compound(world, gate):
    page = _page(world)
    h1 = world.households["h1"]
    number = HouseholdPass.objects.get(household=h1, revoked_at__isnull=True).number
    # B's household has the same unit-room 1-101: only A's is found at A's gate.
    for typed in ("1-101", "1-1-101", h1.address, number, "0001", "１－１０１"):
        answer = _visitor(page, gate, typed)
        assert answer.status_code == 200, (typed, answer.content)
        assert Passage.objects.latest("pk").visitor.visiting == h1, typed
    assert not Passage.objects.filter(visitor__visiting=world.households["h2"]).exists()


def test_several_households_are_listed_and_unknown_ones_are_an_answer_not_a_500(world, gate):
    page = _page(world)
    several = _visitor(page, gate, "1单元")
    assert several.status_code == 409
    html = several.content.decode()
    assert "幸福路1号院1号楼1单元102室" in html and world.households["h2"].address not in html
    choice = _choices(html)[0]
    assert choice["name"] == "快递员" and choice["visiting"].startswith("S-C-G1-")
    assert page.post(f"/gates/{gate.pk}/visitor/", choice).status_code == 200  # registered
    unknown = _visitor(page, gate, "9-999")
    assert unknown.status_code == 404 and "verdict-error" in unknown.content.decode()
    foreign = _visitor(page, gate, world.households["h2"].address)
    assert foreign.status_code == 404 and world.households["h2"].address not in foreign.content.decode()
    assert _visitor(page, gate, "").status_code == 400


def test_a_visit_into_home_quarantine_or_a_closed_point_is_refused_with_the_reason(world, gate):
    page = _page(world)
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    quarantined = _visitor(page, gate, "1-1-101")
    assert quarantined.status_code == 200
    assert "verdict-refused" in quarantined.content.decode()
    assert Passage.objects.latest("pk").reason == "visit_quarantine"
    # 张三 confirmed: his compound becomes a closed epidemic point; no visit into any household.
    now = timezone.now()
    health.sample_record(
        person=world.persons["p1"], specimen_number="SP-1", sampled_at=now - dt.timedelta(days=1), principal=world.admin
    )
    health.results_record(results=[health.ResultIn("SP-1", "positive", now)], principal=world.admin)
    health.consultation_record(
        case=Case.objects.get(person=world.persons["p1"]),
        held_at=now,
        experts="市级专家组",
        conclusion="confirmed",
        principal=world.admin,
    )
    closed = _visitor(page, gate, "1-105")
    assert closed.status_code == 200 and "verdict-refused" in closed.content.decode()
    refused = Passage.objects.latest("pk")
    assert (refused.verdict, refused.reason) == ("refused", "visit_epidemic_point")
    assert refused.visitor.visiting == world.households["a5"]


# ---------------------------------------------------------------- temperature policy


def test_coming_in_without_a_temperature_only_where_the_checkpoint_allows_it(world, gate):
    page = _page(world)
    missing = page.post(f"/gates/{gate.pk}/scan/", {"number": "0001", "direction": "in"})
    assert missing.status_code == 400 and "verdict-error" in missing.content.decode()
    assert _visitor(page, gate, "1-101", temperature="").status_code == 400
    assert not Passage.objects.exists()
    # Going out needs none.
    assert page.post(f"/gates/{gate.pk}/scan/", {"number": "0002", "direction": "out"}).status_code == 200
    # A guard may not change the policy; the command center may, and it is audited.
    guard_try = page.post("/gates/", {"temperature": gate.pk, "required": "0"})
    assert guard_try.status_code in (403, 404)
    gate.refresh_from_db()
    assert gate.temperature_required
    assert _page(world, "secretary").post("/gates/", {"temperature": gate.pk, "required": "0"}).status_code == 302
    gate.refresh_from_db()
    assert not gate.temperature_required
    assert AuditEvent.objects.filter(action="checkpoint.temperature_policy").count() == 1
    allowed = page.post(f"/gates/{gate.pk}/scan/", {"number": "0001", "direction": "in"})
    assert allowed.status_code == 200 and "verdict-allowed" in allowed.content.decode()


# ---------------------------------------------------------------- landing


def test_a_guard_lands_on_the_gate_page_and_others_on_their_day(world, gate):
    assert _page(world).get("/").url == f"/gates/{gate.pk}/"
    assert _page(world, "member1").get("/").url == "/health/today/"
    # Two open checkpoints: the guard's shift decides; without one, the list of checkpoints.
    south = services.checkpoint_open(grid=world.nodes["S-C-G1"], name="南门", principal=world.users["secretary"])
    assert _page(world).get("/").url == "/gates/"
    now = timezone.now()
    services.shift_create(
        checkpoint=south,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=7),
        leader=world.users["guard1"],
        guards=[],
        principal=world.users["secretary"],
    )
    assert _page(world).get("/").url == f"/gates/{south.pk}/"


def test_the_api_finds_short_numbers_and_visited_households_within_the_compound(world, gate):
    from tests.factories import api

    call = api(world, "guard1")
    several = call("post", f"/api/v1/checkpoints/{gate.pk}/scan", {"number": "1", "direction": "out"})
    assert several.status_code == 409 and several.json()["code"] == "pass_ambiguous"
    one = call("post", f"/api/v1/checkpoints/{gate.pk}/scan", {"number": "0011", "direction": "out"})
    assert one.status_code == 200 and one.json()["household_pass_number"] == "S-C-G1-0011"
    body = {"name": "快递员", "phone": "13900001111", "id_number": make_id_number(), "reason": "送药"}
    visit = call("post", f"/api/v1/checkpoints/{gate.pk}/visitors", {**body, "visiting": "1-101", "temperature": 36.5})
    assert visit.status_code == 201, visit.content
    assert Passage.objects.get(pk=visit.json()["passage_id"]).visitor.visiting == world.households["h1"]
    foreign = call(
        "post",
        f"/api/v1/checkpoints/{gate.pk}/visitors",
        {**body, "visiting": world.households["h2"].address, "temperature": 36.5},
    )
    assert foreign.status_code == 404 and world.households["h2"].address not in foreign.content.decode()


def test_a_recorded_passage_refreshes_the_recent_list_and_a_refused_input_does_not(world, gate):
    page = _page(world)
    recorded = page.post(f"/gates/{gate.pk}/scan/", {"number": "0001", "direction": "out"})
    assert recorded["HX-Trigger"] == "passage-recorded"
    # The list that listens for it shows the passage just recorded.
    html = page.get(f"/gates/{gate.pk}/").content.decode()
    assert 'id="recent"' in html and 'hx-trigger="passage-recorded from:body"' in html
    assert "S-C-G1-0001" in html.split('id="recent"', 1)[1]
    refused = page.post(f"/gates/{gate.pk}/scan/", {"number": "0001", "direction": "in", "temperature": "abc"})
    assert refused.status_code == 400 and "HX-Trigger" not in refused
