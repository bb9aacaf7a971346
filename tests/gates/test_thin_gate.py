"""The thin gate (issue 15 §1): a scan finds, locks and checks the pass in one query, writes the
passage in one statement unless it repeats one, and reads the household's codes from the facts
stored with each person, kept current by the services that change them."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from epigrid.control import services as control
from epigrid.control.models import KeyPerson
from epigrid.core.crypto import unseal
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.health import codes
from epigrid.health import services as health
from tests.factories import api

TRANSACTION_CONTROL = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT|BEGIN|COMMIT)", re.I)


def _token(world, key="h1"):
    return unseal(HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True).token_sealed)


def _statements(scan):
    """The statements a scan sends, besides transaction control, split into the audit chain's
    append (core_audit*) and the scan's own."""
    with CaptureQueriesContext(connection) as captured:
        answer = scan()
    sent = [q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
    audit = [sql for sql in sent if "core_audit" in sql]
    return answer, [sql for sql in sent if sql not in audit], audit


@pytest.mark.parametrize(
    "direction,temperature", [("out", None), ("in", "36.5")], ids=["way-out-no-temperature", "way-in-temperature"]
)
def test_an_allowed_scan_takes_three_statements_and_the_audit_append(world, gate, direction, temperature, settings):
    # The statements production sends: not the test settings' second reading of each compiled read.
    settings.EPIGRID_CHECK_COMPILED_READS = False
    guard = world.users["guard1"]
    token = _token(world)
    # The first scan of a process warms what is read once (the policy row exists from here).
    services.gate_scan(checkpoint=gate, direction="in", temperature="36.4", number="S-C-G1-0001", principal=guard)
    later = timezone.now() + dt.timedelta(minutes=5)
    answer, own, audit = _statements(
        lambda: services.gate_scan(
            checkpoint=gate, direction=direction, temperature=temperature, token=token, principal=guard, now=later
        )
    )
    assert answer.passage.verdict == "allowed" and not answer.repeated
    assert dict(answer.codes) == {"张三": "green", "李四": "green"}
    # Find + lock + refusal checks (+ fever threshold), the conditional insert, the members' codes.
    assert len(own) <= 3, own
    assert len(own) + len(audit) <= 6, (own, audit)


def test_a_refused_way_out_is_decided_in_the_query_that_finds_the_pass(world, gate):
    control.control_order_start(
        person=world.persons["p1b"], kind="home_quarantine", reason="other", principal=world.admin
    )
    token = _token(world)
    answer, own, _ = _statements(
        lambda: services.gate_scan(checkpoint=gate, direction="out", token=token, principal=world.users["guard1"])
    )
    assert (answer.passage.verdict, answer.passage.reason) == ("refused", "quarantine")
    assert dict(answer.codes) == {"张三": "green", "李四": "red"}
    # The quarantine check rode on the query that found the pass; no query of its own.
    assert [sql for sql in own if "control_controlorder" in sql and "gates_householdpass" in sql]
    assert not [sql for sql in own if sql.startswith('SELECT 1 AS "a" FROM "control_controlorder"')]
    # The liaison's alert names the household, read with the pass, not looked up again.
    from epigrid.alerts.models import Alert

    alert = Alert.objects.get(dedup_key=f"gate:{answer.passage.pk}")
    assert alert.detail["household"] == world.households["h1"].address
    assert not [sql for sql in own if sql.startswith('SELECT "people_household"')]


def test_a_double_scan_writes_nothing_and_answers_with_the_first(world, gate):
    guard, token, now = world.users["guard1"], _token(world), timezone.now()
    first = services.gate_scan(checkpoint=gate, direction="out", token=token, principal=guard, now=now)
    again = services.gate_scan(
        checkpoint=gate, direction="out", token=token, principal=guard, now=now + dt.timedelta(seconds=30)
    )
    assert again.repeated and again.passage.pk == first.passage.pk
    assert Passage.objects.filter(household_pass__household=world.households["h1"]).count() == 1
    # The other way, or a minute later, is a passage of its own.
    services.gate_scan(
        checkpoint=gate,
        direction="in",
        temperature="36.5",
        token=token,
        principal=guard,
        now=now + dt.timedelta(seconds=30),
    )
    services.gate_scan(
        checkpoint=gate, direction="out", token=token, principal=guard, now=now + dt.timedelta(seconds=61)
    )
    assert Passage.objects.filter(household_pass__household=world.households["h1"]).count() == 3


def _colours(world, gate, at):
    answer = services.gate_scan(
        checkpoint=gate,
        direction="in",
        temperature="36.5",
        token=_token(world),
        principal=world.users["guard1"],
        now=at,
    )
    return dict(answer.codes)


def test_the_stored_codes_follow_every_change_of_their_facts(world, gate, settings):
    at = timezone.now()

    def step(minutes):
        return at + dt.timedelta(minutes=minutes)

    p1, p1b = world.persons["p1"], world.persons["p1b"]
    assert _colours(world, gate, step(0)) == {"张三": "green", "李四": "green"}
    tip = control.tip_record(
        persons=[p1],
        reported_at=at,
        reporter="社区",
        origin_code="110101",
        travel_mode="self_drive",
        principal=world.admin,
    )
    assert _colours(world, gate, step(2)) == {"张三": "yellow", "李四": "green"}  # reported key person
    key_person = KeyPerson.objects.get(tip=tip, person=p1)
    order = control.control_order_start(
        person=p1, kind="health_monitoring", reason="other", key_person=key_person, principal=world.admin
    )
    assert _colours(world, gate, step(4)) == {"张三": "yellow", "李四": "green"}  # monitoring, report decided
    order = control.control_order_transfer(
        order=order, kind="centralized_quarantine", reason="other", site="隔离酒店", principal=world.admin
    )
    assert _colours(world, gate, step(6))["张三"] == "red"
    control.control_order_release(order=order, principal=world.admin, early_reason="误报")
    assert _colours(world, gate, step(8))["张三"] == "green"
    sample = health.sample_record(person=p1b, specimen_number="S1", sampled_at=at, principal=world.admin)
    health.results_record(
        results=[health.ResultIn(specimen_number=sample.specimen_number, result="positive", result_at=at)],
        principal=world.admin,
    )
    assert _colours(world, gate, step(10)) == {"张三": "green", "李四": "red"}  # suspected case
    # A change of the rules applies at once: the colour is derived on reading.
    settings.HEALTH_CODE_RULES = {"case_suspected": "yellow"}
    assert _colours(world, gate, step(12))["李四"] == "yellow"
    assert codes.drifted() == []


def test_a_write_around_the_services_is_found_and_mended(world):
    p1 = world.persons["p1"]
    control.control_order_start(person=p1, kind="home_quarantine", reason="other", principal=world.admin)
    assert codes.stored([p1.pk]) == {p1.pk: ["home_quarantine"]}
    codes.CodeFacts.objects.filter(person=p1).update(facts=[])  # as a raw import would leave it
    assert codes.drifted() == [p1.pk]
    assert codes.rebuild() == 1
    assert codes.stored([p1.pk]) == {p1.pk: ["home_quarantine"]} and codes.drifted() == []


def test_a_scan_over_the_api_reads_the_token_device_and_roles_once(world, gate, settings):
    """The whole HTTP request of an allowed scan by a guard whose token was issued with a second
    factor: the token, its device, the guard's roles, the checkpoint, then the scan's own three and
    the audit append. The device is not looked up again to ask whether the guard must verify."""
    settings.EPIGRID_CHECK_COMPILED_READS = False  # production's statements only
    call = api(world, "guard1")
    token = _token(world)
    warm = {"number": "S-C-G1-0002", "direction": "in", "temperature": "36.5"}
    call("post", f"/api/v1/checkpoints/{gate.pk}/scan", warm)
    with CaptureQueriesContext(connection) as captured:
        answer = call("post", f"/api/v1/checkpoints/{gate.pk}/scan", {"token": token, "direction": "out"})
    assert answer.status_code == 200 and answer.json()["verdict"] == "allowed"
    sent = [q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
    assert sum("otp_totp_totpdevice" in sql for sql in sent) == 1, sent
    assert len(sent) <= 10, sent


def test_a_double_scan_over_the_api_answers_the_number_without_reading_the_pass_again(world, gate, settings):
    """A rescan within 60 s (a guard's second tap) answers with the first passage and its pass
    number: the pass found by the scan's own query, not read again for the answer."""
    settings.EPIGRID_CHECK_COMPILED_READS = False  # production's statements only
    call = api(world, "guard1")
    number = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True).number
    first = call("post", f"/api/v1/checkpoints/{gate.pk}/scan", {"number": number, "direction": "out"})
    with CaptureQueriesContext(connection) as captured:
        again = call("post", f"/api/v1/checkpoints/{gate.pk}/scan", {"number": number, "direction": "out"})
    assert again.status_code == 200, again.content
    body = again.json()
    assert body["repeated"] and body["passage_id"] == first.json()["passage_id"]
    assert body["household_pass_number"] == number
    sent = [q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
    assert sum('FROM "gates_householdpass"' in sql for sql in sent) == 1, sent


def test_a_transfer_stores_the_persons_code_facts_once(world):
    p1 = world.persons["p1"]
    order = control.control_order_start(person=p1, kind="home_quarantine", reason="other", principal=world.admin)
    with CaptureQueriesContext(connection) as captured:
        control.control_order_transfer(
            order=order, kind="centralized_quarantine", reason="other", site="隔离酒店", principal=world.admin
        )
    # One store is one insert-if-missing and one update of the person's row.
    stores = [q["sql"] for q in captured.captured_queries if re.match(r'\s*INSERT\b.*"health_codefacts"', q["sql"])]
    assert len(stores) == 1, stores
    assert codes.stored([p1.pk]) == {p1.pk: ["centralized_quarantine"]}


def test_the_compiled_checkpoint_lookup_decides_as_get_for_does(world, gate):
    """The scan's checkpoint comes from a compiled read (core.compiled.CompiledGet): for every
    user of the world, and the system, it answers what `get_for` answers — the same row and grid,
    or the same 404 or 403 — for this compound's gate and for another compound's."""
    from epigrid.core.capabilities import Capability
    from epigrid.core.compiled import CompiledGet
    from epigrid.core.errors import DomainError
    from epigrid.core.scoping import system
    from epigrid.gates.models import Checkpoint

    other = services.checkpoint_open(grid=world.nodes["S-C-G2"], name="南门", principal=world.users["secretary"])
    compiled = CompiledGet(Checkpoint, related=("grid",))
    principals = [*world.users.values(), world.admin, system("system:test", {Capability.GUARD_GATE})]

    def answer(lookup, principal, pk):
        try:
            row = lookup(principal, pk)
        except DomainError as exc:
            return (type(exc).__name__, exc.code)
        return (row.pk, row.name, row.is_open, row.grid.pk, row.grid.path)

    def orm(principal, pk):
        return Checkpoint.objects.select_related("grid").get_for(principal, Capability.GUARD_GATE, pk=pk)

    def fast(principal, pk):
        return compiled(principal, Capability.GUARD_GATE, pk=pk)

    seen = set()
    for principal in principals:
        for pk in (gate.pk, other.pk, other.pk + 1000):
            expected = answer(orm, principal, pk)
            assert answer(fast, principal, pk) == expected, (principal, pk)
            seen.add(expected[0] if isinstance(expected[0], str) else "found")
    assert seen == {"found", "NotFound", "Forbidden"}
    # Every shape asked for (bounded grants, everywhere) was compiled, none left to the ORM.
    from epigrid.core import compiled as compiled_module

    plans = list(compiled._read._plans().values())
    assert len(plans) >= 2 and compiled_module._UNCACHEABLE not in plans


def test_a_checkpoint_id_no_column_can_hold_is_not_found(world, gate):
    """/checkpoints/{an id beyond 64 bits}/scan names nothing: 404, as any id that does not
    exist (the compiled lookup must not hand the driver a number it cannot send: a 500)."""
    call = api(world, "guard1")
    for pk in (2**63, 10**30, -(2**63) - 1):
        answer = call("post", f"/api/v1/checkpoints/{pk}/scan", {"number": "S-C-G1-0001", "direction": "in"})
        assert answer.status_code == 404 and answer.json()["code"] == "not_found", (pk, answer.content)
    assert not Passage.objects.exists()
