"""The gate reveals nothing of other compounds. A guard of 第1网格 (compound A) who types or scans
the pass of a household of 第2网格 (compound B) gets "not a pass of this checkpoint" and nothing
else: no member names, no code colours, no address, no household id; nothing is written into B
(no passage tied to that household, no alert there); and typed numbers that match nothing are
throttled per guard, so sequential pass numbers cannot be walked. The same through the service,
the page, the API and the offline batch."""

import datetime as dt
import io
import json
import uuid

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.accounts.services import api_token_issue
from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.core.crypto import unseal
from epigrid.core.errors import NotFound, RowErrors, Throttled
from epigrid.core.models import AuditEvent
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.gates.services import PassageRow

LIMIT = 3


@pytest.fixture
def gates(world, settings):
    """北门 of compound A (guard1's) and 南门 of compound B, both with their passes issued; B's
    only resident (王五) is under home quarantine, so a scan of B's pass going out would have been
    refused with an urgent alert in B."""
    settings.GATE_TYPED_MISS_LIMIT = LIMIT
    settings.GATE_TYPED_MISS_WINDOW_SECONDS = 60
    a = services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    b = services.checkpoint_open(grid=world.nodes["S-C-G2"], name="南门", principal=world.users["secretary"])
    services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    services.passes_issue(grid=world.nodes["S-C-G2"], principal=world.users["head2"])
    control.control_order_start(
        person=world.persons["p2"], kind="home_quarantine", reason="other", principal=world.admin
    )
    return a, b


def _pass(world, key):
    return HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True)


def _leaks(world, text: str) -> list[str]:
    """What of household B (and its compound) a text shows."""
    b = world.households["h2"]
    shown = ("王五", b.address, "S-C-G2-B1", "code-", "colour", "红码", '"red"', "quarantine", "居家隔离")
    return [s for s in shown if s in text]


class _Snapshot:
    """Passages, alerts and audit records about B, to check that a scan wrote none."""

    def __init__(self, world):
        b = world.nodes["S-C-G2"]
        self.passages = Passage.objects.filter(household_pass__household=world.households["h2"]).count()
        self.all_passages = Passage.objects.count()
        self.alerts = Alert.objects.filter(grid__path__startswith=b.path).count()
        self.all_alerts = Alert.objects.count()
        self.audit_b = AuditEvent.objects.filter(grid_path__startswith=b.path).count()

    def unchanged(self, world) -> bool:
        return vars(_Snapshot(world)) == vars(self)


def _api(world, username="guard1"):
    token = api_token_issue(user=world.users[username])
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _scan_api(client, checkpoint, **body):
    return client.post(
        f"/api/v1/checkpoints/{checkpoint.pk}/scan", {"direction": "out", **body}, content_type="application/json"
    )


def _page(world, username="guard1"):
    client = Client()
    client.force_login(world.users[username])
    return client


def _ledger_text(client, query="") -> str:
    response = client.get(f"/gates/ledger.xlsx{query}")
    assert response.status_code == 200
    rows = (
        CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content)))
        .get_sheet_by_index(0)
        .to_python()
    )
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


# ---------------------------------------------------------------- the service


def test_a_foreign_pass_is_not_a_pass_of_this_checkpoint(world, gates):
    a, _b = gates
    guard = world.users["guard1"]
    foreign = _pass(world, "h2")
    before = _Snapshot(world)
    token = unseal(foreign.token_sealed)
    for shown in ({"number": foreign.number}, {"number": foreign.number.lower()}, {"token": token}):
        with pytest.raises(NotFound) as refused:
            services.gate_scan(checkpoint=a, direction="out", principal=guard, **shown)
        error = refused.value
        assert error.code == "pass_not_found" and error.params == {}
        assert not _leaks(world, json.dumps(error.as_dict(), ensure_ascii=False))
    # The same answer as a number that was never issued.
    with pytest.raises(NotFound) as never:
        services.gate_scan(checkpoint=a, direction="out", number="S-C-G1-9999", principal=guard)
    assert never.value.as_dict() == error.as_dict() | {"field": "number"}
    assert before.unchanged(world)


def test_the_own_compounds_pass_still_answers_with_its_members(world, gates):
    a, _b = gates
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    answer = services.gate_scan(
        checkpoint=a, direction="out", number=_pass(world, "h1").number, principal=world.users["guard1"]
    )
    assert (answer.passage.verdict, answer.passage.reason) == ("refused", "quarantine")
    assert dict(answer.codes)["张三"] == "red"
    assert Alert.objects.filter(kind="gate_refusal", grid=world.nodes["S-C-G1-B1"]).count() == 1


def test_typed_misses_are_throttled_per_guard(world, gates):
    a, _b = gates
    guard, own = world.users["guard1"], _pass(world, "h1")
    foreign = _pass(world, "h2").number
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for n in range(LIMIT):
            with pytest.raises(NotFound):
                services.gate_scan(checkpoint=a, direction="in", number=f"S-C-G2-{n + 1:04d}", principal=guard)
        with pytest.raises(Throttled) as throttled:
            services.gate_scan(checkpoint=a, direction="in", number=foreign, principal=guard)
        assert throttled.value.status == 429 and throttled.value.code == "typed_pass_misses"
        # Valid passes of the checkpoint keep working, typed or scanned.
        typed = services.gate_scan(checkpoint=a, direction="in", temperature="36.5", number=own.number, principal=guard)
        assert typed.passage.verdict == "allowed"
        scanned = services.gate_scan(checkpoint=a, direction="out", token=unseal(own.token_sealed), principal=guard)
        assert scanned.passage.household_pass == own
        # A made-up card (a token) is not a typed number: 404, not counted.
        with pytest.raises(NotFound):
            services.gate_scan(checkpoint=a, direction="in", token="made-up", principal=guard)
        # Another guard at the same gate has their own count.
        with pytest.raises(NotFound):
            services.gate_scan(checkpoint=a, direction="in", number=foreign, principal=world.users["head1"])
    # Going over the limit is recorded at the guard's own checkpoint, without the numbers typed.
    event = AuditEvent.objects.get(action="gate.typed_misses")
    assert (event.actor, event.grid_path, event.object_id) == (guard, a.grid.path, str(a.pk))
    assert "S-C-G2" not in json.dumps(event.changes)
    # After the window the guard may type again.
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False), pytest.raises(NotFound):
        services.gate_scan(checkpoint=a, direction="in", number=foreign, principal=guard)


# ---------------------------------------------------------------- the API


def test_the_api_answers_a_foreign_pass_with_nothing(world, gates):
    a, _b = gates
    api = _api(world)
    foreign = _pass(world, "h2")
    before = _Snapshot(world)
    for shown in ({"number": foreign.number}, {"token": unseal(foreign.token_sealed)}):
        response = _scan_api(api, a, **shown)
        assert response.status_code == 404, response.content
        data = response.json()
        # Exactly the fixed refusal: no household id, no count, nothing but the field at fault.
        assert data == {
            "code": "pass_not_found",
            "message": "不是本检查点的出入证:请核对出入证号或重新扫码。",
            "messages": {
                "zh-hans": "不是本检查点的出入证:请核对出入证号或重新扫码。",
                "en": "Not a pass of this checkpoint: check the number or scan again.",
            },
            "field": next(iter(shown)),
        }
        assert not _leaks(world, response.content.decode())
    assert before.unchanged(world)


def test_the_api_throttles_typed_misses_and_keeps_serving_valid_passes(world, gates):
    a, _b = gates
    api = _api(world)
    own = _pass(world, "h1")
    for n in range(LIMIT):
        assert _scan_api(api, a, number=f"S-C-G2-{n + 1:04d}").status_code == 404
    throttled = _scan_api(api, a, number="S-C-G2-0001")
    assert throttled.status_code == 429, throttled.content
    data = throttled.json()
    assert data["code"] == "typed_pass_misses" and not _leaks(world, throttled.content.decode())
    assert (
        data["messages"]["en"].startswith("Too many pass numbers")
        and data["messages"]["zh-hans"] != data["messages"]["en"]
    )
    ok = _scan_api(api, a, number=own.number, direction="in", temperature="36.5")
    assert ok.status_code == 200 and {"name": "张三", "colour": "green"} in ok.json()["codes"]
    assert _scan_api(api, a, token=unseal(own.token_sealed)).status_code == 200


# ---------------------------------------------------------------- the page


def test_the_page_answers_a_foreign_pass_with_nothing_and_throttles(world, gates):
    a, _b = gates
    page = _page(world)
    foreign = _pass(world, "h2")
    before = _Snapshot(world)
    response = page.post(f"/gates/{a.pk}/scan/", {"number": foreign.number, "direction": "out"})
    assert response.status_code == 404
    html = response.content.decode()
    assert "verdict" in html and not _leaks(world, html) and foreign.number not in html
    token = page.post(f"/gates/{a.pk}/scan/", {"token": unseal(foreign.token_sealed), "direction": "out"})
    assert token.status_code == 404 and not _leaks(world, token.content.decode())
    for n in range(1, LIMIT):
        missed = page.post(f"/gates/{a.pk}/scan/", {"number": f"S-C-G2-{n + 1:04d}", "direction": "in"})
        assert missed.status_code == 404
    throttled = page.post(f"/gates/{a.pk}/scan/", {"number": foreign.number, "direction": "in"})
    assert throttled.status_code == 429 and not _leaks(world, throttled.content.decode())
    assert "一分钟" in throttled.content.decode()  # the zh-hans message
    assert before.unchanged(world)
    ok = page.post(
        f"/gates/{a.pk}/scan/", {"number": _pass(world, "h1").number, "direction": "in", "temperature": "36.5"}
    )
    assert ok.status_code == 200 and "张三" in ok.content.decode()


def test_no_ledger_shows_the_foreign_household(world, gates):
    a, _b = gates
    foreign = _pass(world, "h2")
    _scan_api(_api(world), a, number=foreign.number)
    _page(world).post(f"/gates/{a.pk}/scan/", {"number": foreign.number, "direction": "out"})
    services.gate_scan(
        checkpoint=a,
        direction="in",
        temperature="36.5",
        number=_pass(world, "h1").number,
        principal=world.users["guard1"],
    )
    for username in ("guard1", "head1", "secretary"):
        text = _ledger_text(_page(world, username))
        assert world.households["h2"].address not in text, username
    # B's own ledger: nothing happened at B's gates, and nothing of A's gate is shown there.
    text_b = _ledger_text(_page(world, "head2"))
    assert world.households["h2"].address not in text_b and "北门" not in text_b


def test_passages_recorded_before_do_not_show_the_foreign_household(world, gates):
    """A passage of a foreign pass written at A's gate before the fix is kept, but A's ledger and
    gate page show neither the pass number nor the address."""
    a, _b = gates
    foreign = _pass(world, "h2")
    Passage.objects.create(
        checkpoint=a,
        grid=a.grid,
        household_pass=foreign,
        direction="out",
        verdict="refused",
        reason="wrong_checkpoint",
        guard=world.users["guard1"],
        at=timezone.now(),
    )
    page = _page(world)
    text = _ledger_text(page)
    assert "北门" in text and world.households["h2"].address not in text and foreign.number not in text
    gate_page = page.get(f"/gates/{a.pk}/").content.decode()
    assert foreign.number not in gate_page and world.households["h2"].address not in gate_page


# ---------------------------------------------------------------- the offline batch


def _batch(world, checkpoint, rows, username="guard1"):
    return _api(world, username).post(
        "/api/v1/passages/batch", {"checkpoint_id": checkpoint.pk, "passages": rows}, content_type="application/json"
    )


def _row(at, direction="out", **shown):
    return {"direction": direction, "at": at.isoformat(), "client_id": str(uuid.uuid4()), **shown}


def test_an_offline_batch_with_a_foreign_pass_stores_nothing_about_it(world, gates):
    a, _b = gates
    foreign, own = _pass(world, "h2"), _pass(world, "h1")
    now = timezone.now()
    before = _Snapshot(world)
    rows = [
        _row(now - dt.timedelta(minutes=30), number=own.number),
        _row(now - dt.timedelta(minutes=20), number=foreign.number),
        _row(now - dt.timedelta(minutes=10), token=unseal(foreign.token_sealed)),
    ]
    response = _batch(world, a, rows)
    assert response.status_code == 422, response.content
    assert [(r["index"], r["code"]) for r in response.json()["rows"]] == [(1, "pass_not_found"), (2, "pass_not_found")]
    assert not _leaks(world, response.content.decode())
    assert before.unchanged(world)
    # Without the foreign rows the batch is stored, and only A's household is in it.
    response = _batch(world, a, rows[:1])
    assert response.status_code == 200 and response.json()["stored"] == 1
    assert before.passages == Passage.objects.filter(household_pass__household=world.households["h2"]).count()


def test_the_batch_service_refuses_a_foreign_pass_and_counts_typed_misses(world, gates):
    a, _b = gates
    guard = world.users["guard1"]
    foreign, own = _pass(world, "h2"), _pass(world, "h1")
    now = timezone.now()
    before = _Snapshot(world)
    misses = [
        PassageRow(client_id=uuid.uuid4(), direction="out", at=now - dt.timedelta(minutes=n), number=f"S-C-G2-{n:04d}")
        for n in range(1, LIMIT + 2)
    ]
    with pytest.raises(RowErrors) as refused:
        services.passages_record_batch(checkpoint=a, passages=misses, principal=guard)
    assert {r["code"] for r in refused.value.rows} == {"pass_not_found"}
    assert not _leaks(world, json.dumps(refused.value.as_dict(), ensure_ascii=False))
    # Over the limit now: a batch that again holds typed misses is throttled…
    with pytest.raises(Throttled):
        services.passages_record_batch(checkpoint=a, passages=misses[:1], principal=guard)
    assert _batch(world, a, [_row(now, number=foreign.number)]).status_code == 429
    # …and one that holds only passes of the checkpoint is stored.
    good = PassageRow(client_id=uuid.uuid4(), direction="in", at=now - dt.timedelta(minutes=1), number=own.number)
    assert services.passages_record_batch(checkpoint=a, passages=[good], principal=guard).stored == 1
    assert before.passages == Passage.objects.filter(household_pass__household=world.households["h2"]).count()
    assert before.alerts == Alert.objects.filter(grid__path__startswith=world.nodes["S-C-G2"].path).count()
