"""Everything written through the API reads back (issue 10 item 3): tips, exposures, cases,
consultations and a household's passes by list and by id, the lists filtered by person,
household, grid, status, kind and date, in a stable order; and the configuration the rules run
on (control periods with their defaults, health-code rules, alert timing). Scoping of each new
read is in tests/api/test_scoping_matrix.py."""

import datetime as dt
from urllib.parse import quote

import pytest
from django.test import override_settings
from django.utils import timezone

from epigrid.control import services as control
from epigrid.control.models import ControlRule
from epigrid.core.models import AccessEvent
from epigrid.gates import services as gates
from epigrid.gates.models import HouseholdPass
from epigrid.health import services as health
from epigrid.response import services as response
from tests.factories import api

SH = dt.timezone(dt.timedelta(hours=8))


def _tip(world, person, reported_at):
    return control.tip_record(
        persons=[person],
        reported_at=reported_at,
        reporter="网格员",
        origin_code="420600",
        travel_mode="self_drive",
        principal=world.admin,
    )


def test_tips_list_filtered_by_date_and_grid_in_a_stable_order(world):
    p1, p1b, p2 = world.persons["p1"], world.persons["p1b"], world.persons["p2"]
    early = _tip(world, p1, dt.datetime(2020, 1, 26, 8, tzinfo=SH))
    late = _tip(world, p1b, dt.datetime(2020, 1, 27, 8, tzinfo=SH))
    same_time = _tip(world, p1, dt.datetime(2020, 1, 27, 8, tzinfo=SH))
    elsewhere = _tip(world, p2, dt.datetime(2020, 1, 27, 9, tzinfo=SH))
    member1 = api(world, "member1")

    everything = member1("get", "/api/v1/tips").json()
    # Newest report first, ties by id (newest id first); 第2网格's tip is not there.
    assert [t["id"] for t in everything["items"]] == [same_time.pk, late.pk, early.pk]
    assert everything["next_offset"] is None
    # Paging walks the same order without repeats or gaps.
    seen, offset = [], 0
    while offset is not None:
        page = member1("get", f"/api/v1/tips?limit=1&offset={offset}").json()
        seen += [t["id"] for t in page["items"]]
        offset = page["next_offset"]
    assert seen == [same_time.pk, late.pk, early.pk]

    # A date range: from inclusive, to exclusive; a naive time is Asia/Shanghai.
    ranged = member1("get", "/api/v1/tips?reported_from=2020-01-27T08:00:00&reported_to=2020-01-28T00:00:00").json()
    assert {t["id"] for t in ranged["items"]} == {late.pk, same_time.pk}
    before = member1("get", "/api/v1/tips?reported_to=2020-01-27T08:00:00%2B08:00").json()
    assert [t["id"] for t in before["items"]] == [early.pk]
    # By person: the tips naming them.
    assert {t["id"] for t in member1("get", f"/api/v1/tips?person={p1b.pk}").json()["items"]} == {late.pk}

    # The commander sees both compounds; a grid filter keeps one subtree.
    commander = api(world, "commander")
    assert {t["id"] for t in commander("get", "/api/v1/tips?grid=S-C-G2").json()["items"]} == {elsewhere.pk}
    assert len(commander("get", "/api/v1/tips?grid=S-C").json()["items"]) == 4


def test_a_tip_reads_back_with_its_key_persons(world):
    tip = _tip(world, world.persons["p1"], dt.datetime(2020, 1, 26, 16, tzinfo=SH))
    answer = api(world, "member1")("get", f"/api/v1/tips/{tip.pk}")
    assert answer.status_code == 200
    data = answer.json()
    assert data["reported_at"] == "2020-01-26T16:00:00+08:00"
    assert (data["origin_code"], data["travel_mode"], data["reporter"]) == ("420600", "self_drive", "网格员")
    [key_person] = data["key_persons"]
    assert (key_person["person_id"], key_person["status"]) == (world.persons["p1"].pk, "reported")
    missing = api(world, "member2")("get", f"/api/v1/tips/{tip.pk}")
    assert (missing.status_code, missing.json()["code"]) == (404, "tip_not_found")


def _confirmed_case(world):
    p1b = world.persons["p1b"]
    now = dt.datetime.now(dt.UTC)
    health.sample_record(person=p1b, specimen_number="RB-1", sampled_at=now, principal=world.admin)
    health.results_record(results=[health.ResultIn("RB-1", "positive", now)], principal=world.admin)
    health.consultation_record(
        case=p1b.case, held_at=now, experts="专家组", conclusion="confirmed", principal=world.admin
    )
    p1b.case.refresh_from_db()
    return p1b.case


def test_exposures_read_back_by_person_as_source_or_contact(world):
    case = _confirmed_case(world)
    p1, p1b = world.persons["p1"], world.persons["p1b"]
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    close = response.exposure_record(source=p1b, contact=p1, last_exposure_at=at, principal=world.admin)
    member1 = api(world, "member1")

    as_source = member1("get", f"/api/v1/exposures?person={p1b.pk}").json()["items"]
    as_contact = member1("get", f"/api/v1/exposures?person={p1.pk}").json()["items"]
    assert [e["id"] for e in as_source] == [e["id"] for e in as_contact] == [close.pk]
    assert as_source[0]["source_id"] == p1b.pk and as_source[0]["contact_id"] == p1.pk
    assert as_source[0]["grid"] == p1.grid.code
    assert member1("get", "/api/v1/exposures?degree=secondary").json()["items"] == []
    assert member1("get", f"/api/v1/exposures/{close.pk}").json() == as_source[0]
    assert api(world, "member2")("get", "/api/v1/exposures").json()["items"] == []
    assert api(world, "member2")("get", f"/api/v1/exposures/{close.pk}").status_code == 404
    assert case.status == "confirmed"


def test_cases_filter_by_person_status_grid_and_read_back_their_consultations(world):
    case = _confirmed_case(world)
    member1 = api(world, "member1")
    commander = api(world, "commander")
    assert [c["id"] for c in member1("get", f"/api/v1/cases?person={case.person_id}").json()["items"]] == [case.pk]
    assert [c["id"] for c in member1("get", "/api/v1/cases?status=confirmed").json()["items"]] == [case.pk]
    assert member1("get", "/api/v1/cases?status=suspected").json()["items"] == []
    assert commander("get", "/api/v1/cases?grid=S-C-G2").json()["items"] == []
    detail = member1("get", f"/api/v1/cases/{case.pk}").json()
    assert (detail["status"], detail["grid"]) == ("confirmed", case.grid.code)
    [consultation] = member1("get", f"/api/v1/cases/{case.pk}/consultations").json()
    assert (consultation["conclusion"], consultation["experts"], consultation["recorded_by"]) == (
        "confirmed",
        "专家组",
        "root",
    )
    assert api(world, "member2")("get", f"/api/v1/cases/{case.pk}/consultations").status_code == 404


def test_a_households_passes_give_number_and_status_never_the_token(world):
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    first = HouseholdPass.objects.get(household=world.households["h1"])
    second = gates.pass_reissue(household_pass=first, principal=world.admin)
    household = world.households["h1"]
    answer = api(world, "member1")("get", f"/api/v1/households/{household.pk}/passes")
    assert answer.status_code == 200
    passes = answer.json()
    assert [(p["id"], p["status"]) for p in passes] == [(second.pk, "active"), (first.pk, "revoked")]
    assert {p["number"] for p in passes} == {first.number}
    assert passes[1]["revoked_at"] is not None and passes[0]["revoked_at"] is None
    body = answer.content.decode()
    assert "token" not in body
    for p in (first, second):
        p.refresh_from_db()
        assert p.token_hash not in body
    # Another compound's household: 404, not an empty list.
    other = api(world, "member1")("get", f"/api/v1/households/{world.households['h2'].pk}/passes")
    assert (other.status_code, other.json()["code"]) == (404, "household_not_found")


def test_orders_filter_by_person_and_household(world):
    p1, p1b, p2 = world.persons["p1"], world.persons["p1b"], world.persons["p2"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    orders = {
        p: control.control_order_start(
            person=p, kind="home_quarantine", reason="other", starts_at=start, principal=world.admin
        )
        for p in (p1, p1b, p2)
    }
    commander = api(world, "commander")
    by_person = commander("get", f"/api/v1/orders?person={p1.pk}").json()["items"]
    assert [o["id"] for o in by_person] == [orders[p1].pk]
    by_household = commander("get", f"/api/v1/orders?household={world.households['h1'].pk}").json()["items"]
    assert {o["id"] for o in by_household} == {orders[p1].pk, orders[p1b].pk}
    # A person out of sight is a 404, never an empty list that would confirm nothing.
    assert api(world, "member1")("get", f"/api/v1/orders?person={p2.pk}").status_code == 404


def test_alerts_filter_by_person_and_kind(world):
    p1, p1b = world.persons["p1"], world.persons["p1b"]
    now = dt.datetime.now(dt.UTC)
    health.temperature_reports_record(
        readings=[health.Reading(p.pk, "38.2", now) for p in (p1, p1b)], source="liaison", principal=world.admin
    )
    health.sample_record(person=p1b, specimen_number="RB-2", sampled_at=now, principal=world.admin)
    health.results_record(results=[health.ResultIn("RB-2", "positive", now)], principal=world.admin)
    member1 = api(world, "member1")
    mine = member1("get", f"/api/v1/alerts?person={p1.pk}").json()["items"]
    assert [(a["person_id"], a["kind"]) for a in mine] == [(p1.pk, "fever")]
    fever = member1("get", "/api/v1/alerts?kind=fever").json()["items"]
    assert {a["person_id"] for a in fever} == {p1.pk, p1b.pk}
    positive = member1("get", f"/api/v1/alerts?kind=positive_test&person={p1b.pk}").json()["items"]
    assert [a["kind"] for a in positive] == ["positive_test"]


def test_samples_filter_by_date_range(world):
    p1 = world.persons["p1"]
    for n, day in enumerate((3, 4, 5)):
        health.sample_record(
            person=p1,
            specimen_number=f"RB-D{n}",
            sampled_at=dt.datetime(2020, 2, day, 10, tzinfo=SH),
            principal=world.admin,
        )
    member1 = api(world, "member1")
    rows = member1("get", f"/api/v1/samples?person={p1.pk}&sampled_from=2020-02-04&sampled_to=2020-02-05").json()
    assert rows.get("items") is not None, rows
    assert [s["specimen_number"] for s in rows["items"]] == ["RB-D1"]


@pytest.mark.parametrize("default_days", [14, 21])
def test_control_periods_give_every_measure_and_reason_with_the_defaults(world, default_days):
    from epigrid.control.choices import OrderKind, OrderReason

    control.control_rule_save(
        kind="centralized_quarantine", reason="", days=14, requires_negative_test=True, principal=world.admin
    )
    control.control_rule_save(
        kind="centralized_quarantine",
        reason="close_contact",
        days=21,
        requires_negative_test=True,
        principal=world.admin,
    )
    with override_settings(CONTROL_DEFAULT_DAYS=default_days):
        periods = api(world, "norole")("get", "/api/v1/control-periods").json()
        assert len(periods) == len(OrderKind) * len(OrderReason)
        # Each row is what an order of that kind and reason would get.
        for row in periods:
            assert (row["days"], row["requires_negative_test"]) == control.control_rule_for(
                row["kind"], row["reason"]
            ), row
    rows = {(r["kind"], r["reason"]): r for r in periods}
    assert rows[("centralized_quarantine", "close_contact")]["source"] == "kind_and_reason"
    assert rows[("centralized_quarantine", "other")]["source"] == "kind"
    home = rows[("home_quarantine", "other")]
    assert (home["days"], home["requires_negative_test"], home["source"]) == (default_days, False, "default")
    assert ControlRule.objects.count() == 2


def test_health_code_rules_name_the_colours_and_their_reasons(world):
    rules = api(world, "member1")(
        "get",
        "/api/v1/health-code-rules",
    ).json()
    by_fact = {r["fact"]: r for r in rules}
    assert by_fact["case_confirmed"]["colour"] == "red"
    assert by_fact["health_monitoring"]["colour"] == "yellow"
    assert by_fact["none"]["colour"] == "green"
    assert [r["colour"] for r in rules] == sorted((r["colour"] for r in rules), key=["red", "yellow", "green"].index)
    # The reason a person's code gives is the rule's reason.
    control.control_order_start(
        person=world.persons["p1"], kind="health_monitoring", reason="other", principal=world.admin
    )
    code = api(world, "member1")("get", f"/api/v1/persons/{world.persons['p1'].pk}/health-code").json()
    assert (code["colour"], code["reasons"]) == ("yellow", [by_fact["health_monitoring"]["reason"]])


@override_settings(ALERT_ACK_MINUTES=[15, 45, 90, 180])
def test_alert_timing_gives_the_minutes_per_level(world):
    timing = api(world, "member1")("get", "/api/v1/alert-timing").json()
    assert [(t["level"], t["ack_minutes"], t["escalates_to"]) for t in timing] == [
        (0, 15, 1),
        (1, 45, 2),
        (2, 90, 3),
        (3, 180, None),
    ]
    assert timing[1]["owner_roles"] == ["grid_head"]


def test_an_exposure_does_not_name_a_source_outside_the_callers_grids(world):
    """The contact's grid member learns of the exposure, not who in another compound it came from."""
    p1, p2 = world.persons["p1"], world.persons["p2"]
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    exposure = response.exposure_record(source=p2, contact=p1, last_exposure_at=at, principal=world.admin)
    member1 = api(world, "member1")
    [listed] = member1("get", "/api/v1/exposures").json()["items"]
    assert (listed["id"], listed["contact_id"], listed["source_id"]) == (exposure.pk, p1.pk, None)
    assert member1("get", f"/api/v1/exposures/{exposure.pk}").json()["source_id"] is None
    # The commander sees both compounds: the source is named.
    assert api(world, "commander")("get", f"/api/v1/exposures/{exposure.pk}").json()["source_id"] == p2.pk


def test_with_total_counts_the_filtered_rows_across_pages(world):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for key in ("p1", "p1b", "p2"):
        control.control_order_start(
            person=world.persons[key], kind="home_quarantine", reason="other", starts_at=start, principal=world.admin
        )
    commander = api(world, "commander")
    first = commander("get", "/api/v1/orders?limit=1&with_total=true").json()
    assert (len(first["items"]), first["next_offset"], first["total"]) == (1, 1, 3)
    last = commander("get", "/api/v1/orders?limit=2&offset=2&with_total=true").json()
    assert (len(last["items"]), last["next_offset"], last["total"]) == (1, None, 3)
    assert commander("get", "/api/v1/orders?limit=1").json()["total"] is None  # not asked: no COUNT
    # The total is of the caller's rows and filters: member1 sees 第1网格's two.
    assert api(world, "member1")("get", "/api/v1/orders?with_total=true").json()["total"] == 2
    assert commander("get", "/api/v1/orders?grid=S-C-G2&with_total=true").json()["total"] == 1


def test_orders_cases_and_alerts_filter_by_a_date_range(world):
    p1, p1b = world.persons["p1"], world.persons["p1b"]
    early = control.control_order_start(
        person=p1,
        kind="home_quarantine",
        reason="other",
        starts_at=dt.datetime(2020, 2, 1, 9, tzinfo=SH),
        principal=world.admin,
    )
    late = control.control_order_start(
        person=p1b,
        kind="home_quarantine",
        reason="other",
        starts_at=dt.datetime(2020, 2, 3, 9, tzinfo=SH),
        principal=world.admin,
    )
    member1 = api(world, "member1")
    ranged = member1("get", "/api/v1/orders?starts_from=2020-02-01T09:00:00&starts_to=2020-02-03T09:00:00").json()
    assert [o["id"] for o in ranged["items"]] == [early.pk]
    assert [o["id"] for o in member1("get", "/api/v1/orders?starts_from=2020-02-02").json()["items"]] == [late.pk]

    now = dt.datetime.now(dt.UTC)
    health.temperature_reports_record(
        readings=[health.Reading(p1.pk, "38.2", now)], source="liaison", principal=world.admin
    )
    since = (now - dt.timedelta(minutes=5)).isoformat()
    raised = member1("get", f"/api/v1/alerts?raised_from={quote(since)}").json()["items"]
    assert [(a["person_id"], a["kind"]) for a in raised] == [(p1.pk, "fever")]
    assert member1("get", f"/api/v1/alerts?raised_to={quote(since)}").json()["items"] == []

    case = _confirmed_case(world)
    day = timezone.localtime(case.suspected_at).date()
    assert [c["id"] for c in member1("get", f"/api/v1/cases?suspected_from={day}").json()["items"]] == [case.pk]
    assert member1("get", f"/api/v1/cases?suspected_to={day}").json()["items"] == []
    # A filter bound far out is harmless: it means "from the beginning", not an error.
    assert len(member1("get", "/api/v1/orders?starts_from=0001-01-01T00:00:00%2B08:00").json()["items"]) == 2


def test_passages_read_back_filtered_and_never_name_another_compounds_pass(world):
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.admin)
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    gates.passes_issue(grid=world.nodes["S-C-G2"], principal=world.admin)
    h1_pass = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)
    guard = world.users["guard1"]
    gates.gate_scan(checkpoint=checkpoint, direction="out", number=h1_pass.number, temperature="36.5", principal=guard)
    gates.gate_scan(
        checkpoint=checkpoint,
        direction="in",
        number=h1_pass.number,
        temperature="36.6",
        principal=guard,
        now=timezone.now() + dt.timedelta(minutes=2),
    )
    guard1 = api(world, "guard1")
    listed = guard1("get", "/api/v1/passages?with_total=true").json()
    assert listed["total"] == 2
    newest, oldest = listed["items"]
    assert (newest["direction"], oldest["direction"]) == ("in", "out")
    assert (oldest["pass_number"], oldest["household_id"], oldest["verdict"]) == (
        h1_pass.number,
        world.households["h1"].pk,
        "allowed",
    )
    assert oldest["temperature"] == 36.5 and oldest["guard"] == "guard1"
    assert [p["id"] for p in guard1("get", "/api/v1/passages?direction=out").json()["items"]] == [oldest["id"]]
    assert guard1("get", f"/api/v1/passages?checkpoint={checkpoint.pk}").json()["items"] == listed["items"]
    # By household: the read is in the access log.
    member1 = api(world, "member1")
    by_household = member1("get", f"/api/v1/passages?household={world.households['h1'].pk}").json()["items"]
    assert len(by_household) == 2
    assert AccessEvent.objects.filter(action="household.passages", object_id=str(world.households["h1"].pk)).exists()
    # Another compound's member sees none of it; its household and checkpoint are 404s.
    member2 = api(world, "member2")
    assert member2("get", "/api/v1/passages").json()["items"] == []
    assert member2("get", f"/api/v1/passages?checkpoint={checkpoint.pk}").status_code == 404
    assert member2("get", f"/api/v1/passages?household={world.households['h1'].pk}").status_code == 404


def test_a_person_filter_of_zero_is_a_404_like_any_unknown_person(world):
    member1 = api(world, "member1")
    for path in ("temperatures", "orders", "cases", "alerts", "samples", "exposures", "tips"):
        answer = member1("get", f"/api/v1/{path}?person=0")
        assert answer.status_code == 404, path


def test_the_chain_names_only_the_persons_the_caller_may_see(world):
    """A case's contacts may live in another compound: the chain shows them as nodes, but their
    names only to whoever sees that compound."""
    case = _confirmed_case(world)
    p1b, p2 = world.persons["p1b"], world.persons["p2"]
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    response.exposure_record(source=p1b, contact=p2, last_exposure_at=at, principal=world.admin)
    [incident] = api(world, "commander")("get", "/api/v1/activations").json()
    path = f"/api/v1/activations/{incident['id']}/chain"
    names = {n["id"]: n["name"] for n in api(world, "member1")("get", path).json()["nodes"]}
    assert names == {p1b.pk: p1b.name, p2.pk: None}
    names = {n["id"]: n["name"] for n in api(world, "commander")("get", path).json()["nodes"]}
    assert names == {p1b.pk: p1b.name, p2.pk: p2.name}
    assert case.status == "confirmed"
