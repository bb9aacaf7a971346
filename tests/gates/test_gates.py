import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from epigrid.alerts.models import Alert
from epigrid.control import services as control
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError, NotFound
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.oversight.selectors import coverage_audit
from tests.factories import make_id_number


def _pass(world, key="h1"):
    return HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True)


def test_passes_are_numbered_and_issued_once(world, gate):
    p = _pass(world)
    assert p.number == "S-C-G1-0001"
    token = unseal(p.token_sealed)
    # 18 random bytes, URL-safe: not the household id, not guessable from the number.
    assert len(token) >= 24 and not token.isdigit() and p.number not in token
    assert services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"]) == 0


def test_the_gate_decides(world, gate):
    guard = world.users["guard1"]
    token = unseal(_pass(world).token_sealed)
    answer = services.gate_scan(checkpoint=gate, direction="out", temperature="36.5", token=token, principal=guard)
    assert answer.passage.verdict == "allowed"
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    later = timezone.now() + dt.timedelta(minutes=2)
    refused = services.gate_scan(checkpoint=gate, direction="out", number="s-c-g1-0001", principal=guard, now=later)
    assert (refused.passage.verdict, refused.passage.reason) == ("refused", "quarantine")
    assert dict(refused.codes)["张三"] == "red"
    # Coming home is allowed; a fever is refused whichever way, and both refusals alert.
    assert (
        services.gate_scan(
            checkpoint=gate, direction="in", temperature="36.6", token=token, principal=guard, now=later
        ).passage.verdict
        == "allowed"
    )
    fever = services.gate_scan(
        checkpoint=gate,
        direction="in",
        temperature="37.5",
        token=token,
        principal=guard,
        now=later + dt.timedelta(minutes=2),
    )
    assert fever.passage.reason == "fever"
    assert set(Alert.objects.values_list("kind", flat=True)) == {"gate_refusal", "fever"}


def test_revoked_and_foreign_passes(world, gate):
    old = _pass(world)
    old_token = unseal(old.token_sealed)
    new = services.pass_reissue(household_pass=old, principal=world.users["head1"])
    assert new.number == old.number
    guard = world.users["guard1"]
    assert (
        services.gate_scan(
            checkpoint=gate, direction="in", temperature="36.5", token=old_token, principal=guard
        ).passage.reason
        == "revoked"
    )
    assert (
        services.gate_scan(
            checkpoint=gate, direction="in", temperature="36.5", token=unseal(new.token_sealed), principal=guard
        ).passage.verdict
        == "allowed"
    )
    services.passes_issue(grid=world.nodes["S-C-G2"], principal=world.admin)
    foreign = unseal(_pass(world, "h2").token_sealed)
    # A pass of another compound is "not a pass of this checkpoint", like a made-up one; nothing
    # is recorded about it (tests/gates/test_gate_privacy.py).
    with pytest.raises(NotFound) as refused:
        services.gate_scan(checkpoint=gate, direction="in", token=foreign, principal=guard)
    assert refused.value.code == "pass_not_found"
    assert not Passage.objects.filter(household_pass__household=world.households["h2"]).exists()
    with pytest.raises(NotFound):
        services.gate_scan(checkpoint=gate, direction="in", token="made-up", principal=guard)
    with pytest.raises(DomainError):
        services.gate_scan(checkpoint=gate, direction="in", temperature="36,5", token=old_token, principal=guard)


def test_a_double_scan_within_a_minute_is_one_passage(world, gate):
    token = unseal(_pass(world).token_sealed)
    now = timezone.now()
    first = services.gate_scan(
        checkpoint=gate, direction="in", temperature="36.5", token=token, principal=world.users["guard1"], now=now
    )
    second = services.gate_scan(
        checkpoint=gate,
        direction="in",
        temperature="36.5",
        token=token,
        principal=world.users["head1"],
        now=now + dt.timedelta(seconds=59),
    )
    assert second.repeated and second.passage.pk == first.passage.pk
    services.gate_scan(
        checkpoint=gate,
        direction="in",
        temperature="36.5",
        token=token,
        principal=world.users["guard1"],
        now=now + dt.timedelta(seconds=61),
    )
    assert Passage.objects.count() == 2


def test_closed_checkpoint_and_roles(world, gate):
    token = unseal(_pass(world).token_sealed)
    with pytest.raises(NotFound):
        services.gate_scan(checkpoint=gate, direction="in", token=token, principal=world.users["member2"])
    services.checkpoint_close(checkpoint=gate, principal=world.users["secretary"])
    gate.refresh_from_db()
    with pytest.raises(DomainError):
        services.gate_scan(checkpoint=gate, direction="in", token=token, principal=world.users["guard1"])


def test_visitors_are_registered(world, gate):
    answer = services.visitor_register(
        checkpoint=gate,
        name="快递员",
        phone="13900001111",
        id_number=make_id_number(),
        visiting=world.households["h1"],
        reason="送药",
        temperature="36.4",
        principal=world.users["guard1"],
    )
    assert answer.passage.verdict == "allowed" and answer.passage.visitor.phone_masked == "139****1111"
    with pytest.raises(DomainError):
        services.visitor_register(
            checkpoint=gate,
            name="x",
            phone="1",
            id_number=make_id_number(),
            visiting=world.households["h1"],
            reason="x",
            principal=world.users["guard1"],
        )


def test_every_hour_needs_a_guard(world, gate):
    assert coverage_audit(user=world.users["commander"]).gap_counts == {"checkpoint_uncovered": 1}
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    for day in range(8):
        services.shift_create(
            checkpoint=gate,
            starts_at=start + dt.timedelta(days=day),
            ends_at=start + dt.timedelta(days=day + 1),
            leader=world.users["guard1"],
            guards=[],
            principal=world.users["secretary"],
        )
    assert services.uncovered_hours(checkpoint=gate, start=timezone.now()) == []
    assert coverage_audit(user=world.users["commander"]).ok
    shift = gate.shifts.first()
    attendance = services.shift_check(shift=shift, principal=world.users["guard1"])
    assert attendance.checked_in_at is not None


def test_gate_page_answers_at_once(world, gate):
    client = Client()
    client.force_login(world.users["guard1"])
    assert client.get(f"/gates/{gate.pk}/").status_code == 200
    response = client.post(
        f"/gates/{gate.pk}/scan/", {"number": "S-C-G1-0001", "temperature": "37.5", "direction": "in"}
    )
    assert response.status_code == 200 and "verdict-refused" in response.content.decode()
    sheet = Client()
    sheet.force_login(world.users["head1"])
    page = sheet.get("/gates/passes/S-C-G1/sheet/").content.decode()
    assert "S-C-G1-0001" in page and "<svg" in page
    ledger = sheet.get(f"/gates/ledger.xlsx?checkpoint={gate.pk}")
    assert ledger.status_code == 200
    outsider = Client()
    outsider.force_login(world.users["member2"])
    assert outsider.get(f"/gates/{gate.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_simultaneous_scans_make_one_passage(settings):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    # The test settings' second reading of a compiled read is a new statement, so a new snapshot:
    # here it would see what another scan committed meanwhile (the policy row the first one makes).
    settings.EPIGRID_CHECK_COMPILED_READS = False
    from tests.factories import build_world

    world = build_world()
    checkpoint = services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.admin)
    services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    token = unseal(_pass(world).token_sealed)
    barrier, errors = threading.Barrier(20), []

    def scan():
        try:
            barrier.wait()
            services.gate_scan(
                checkpoint=checkpoint, direction="in", temperature="36.5", token=token, principal=world.users["guard1"]
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and Passage.objects.count() == 1


def test_command_center_opens_and_closes_checkpoints_from_the_page(world):
    client = Client()
    client.force_login(world.users["secretary"])
    assert client.post("/gates/", {"grid": "S-C-G2", "name": "南门"}).status_code == 302
    checkpoint = world.nodes["S-C-G2"].checkpoints.get()
    assert client.post("/gates/", {"close": checkpoint.pk}).status_code == 302
    checkpoint.refresh_from_db()
    assert not checkpoint.is_open
    guard = Client()
    guard.force_login(world.users["guard1"])
    assert guard.post("/gates/", {"grid": "S-C-G1", "name": "东门"}).status_code == 403
