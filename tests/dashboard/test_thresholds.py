"""The dashboard's thresholds (the red of the children table), set on the Rules page or through
the API, by one validated and audited service (issue 13 §1)."""

import pytest
from django.test import Client

from epigrid.core.errors import DomainError, Forbidden
from epigrid.core.models import AuditEvent
from epigrid.dashboard import views as dashboard_views
from epigrid.oversight import rollup, thresholds
from epigrid.oversight.models import Threshold
from tests.dashboard.test_dashboard import busy  # noqa: F401 - the fixture
from tests.factories import api

URL = "/api/v1/dashboard-thresholds"


def test_the_figures_with_a_threshold_are_the_tables_columns():
    assert thresholds.FIGURES == [k for k in dashboard_views.COLUMNS if k != "completeness"]


def test_the_service_sets_clears_and_audits_and_a_no_change_writes_nothing(world):
    commander = world.users["commander"]
    assert thresholds.thresholds_save(values={"fevers_today": 3, "missed_today": "5"}, principal=commander) == {
        "fevers_today": 3,
        "missed_today": 5,
    }
    event = AuditEvent.objects.get(action="dashboard.thresholds")
    assert event.changes == {"fevers_today": [None, 3], "missed_today": [None, 5]}
    thresholds.thresholds_save(values={"fevers_today": 3}, principal=commander)
    assert AuditEvent.objects.filter(action="dashboard.thresholds").count() == 1  # nothing changed
    # Blank or None removes one; the figures not named keep theirs.
    assert thresholds.thresholds_save(values={"missed_today": ""}, principal=commander) == {"fevers_today": 3}


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"fevers_today": -1}, "threshold_invalid"),
        ({"fevers_today": "2.5"}, "threshold_invalid"),
        ({"fevers_today": 10_000_001}, "threshold_invalid"),
        ({"fevers_today": True}, "threshold_invalid"),
        ({"fevers_today": 2, "completeness": 50}, "threshold_unknown"),
    ],
)
def test_a_bad_value_refuses_the_whole_change(world, values, code):
    with pytest.raises(DomainError) as refused:
        thresholds.thresholds_save(values={"missed_today": 4, **values}, principal=world.users["commander"])
    assert refused.value.code == code
    assert not Threshold.objects.exists()
    assert not AuditEvent.objects.filter(action="dashboard.thresholds").exists()


def test_only_who_sets_the_rules_may_change_them(world):
    with pytest.raises(Forbidden):
        thresholds.thresholds_save(values={"fevers_today": 1}, principal=world.users["member1"])
    assert not Threshold.objects.exists()


def test_the_rules_page_sets_the_red_of_the_dashboards_table(busy):  # noqa: F811
    world = busy
    rollup.refresh()
    client = Client()
    client.force_login(world.users["secretary"])
    rules = client.get("/health/rules/").content.decode()
    assert 'data-testid="rules-thresholds"' in rules and 'name="fevers_today"' in rules
    saved = client.post("/dashboard/thresholds/", {"fevers_today": "1", "next": "/health/rules/#thresholds"})
    assert saved.status_code == 302 and saved["Location"] == "/health/rules/#thresholds"
    assert 'id="id_threshold_fevers_today" value="1"' in client.get("/health/rules/").content.decode()
    assert 'class="dash-red">1<' in client.get("/dashboard/S-C/").content.decode()
    # A grid member reads the thresholds on the Rules page but has no form to change them.
    client.force_login(world.users["member1"])
    page = client.get("/health/rules/").content.decode()
    assert 'id="id_threshold_fevers_today" value="1" inputmode="numeric" disabled' in page


def test_the_api_reads_and_sets_thresholds(world):
    rows = api(world, "member1")("get", URL).json()
    assert [r["figure"] for r in rows] == thresholds.FIGURES and all(r["value"] is None for r in rows)
    call = api(world, "commander")
    answer = call("put", URL, {"thresholds": {"fevers_today": 2, "tasks_overdue": 10}})
    assert answer.status_code == 200, answer.content
    assert {r["figure"]: r["value"] for r in answer.json()}["tasks_overdue"] == 10
    cleared = call("put", URL, {"thresholds": {"tasks_overdue": None}}).json()
    assert {r["figure"]: r["value"] for r in cleared} == {**{f: None for f in thresholds.FIGURES}, "fevers_today": 2}
    bad = call("put", URL, {"thresholds": {"fevers_today": -3}})
    assert bad.status_code == 400 and bad.json()["code"] == "threshold_invalid"
    unknown = call("put", URL, {"thresholds": {"nope": 1}})
    assert unknown.status_code == 400 and unknown.json()["code"] == "threshold_unknown"
    assert call("put", URL, {"thresholds": {"fevers_today": "many"}}).status_code == 422
    assert api(world, "member1")("put", URL, {"thresholds": {"fevers_today": 9}}).status_code == 403
    assert dict(Threshold.objects.values_list("figure", "value")) == {"fevers_today": 2}
