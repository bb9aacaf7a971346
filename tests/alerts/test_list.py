"""The alerts list (issue 11 "Lists"): urgent first, then the oldest; each row names the person,
the household's address and the value; filters, sort, the total; only the user's area."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.alerts.choices import AlertKind, Severity
from epigrid.alerts.services import ESCALATION, NewAlert, alerts_raise


@pytest.fixture
def alerts_world(world):
    now = timezone.now()
    g1, g2 = world.nodes["S-C-G1-B1"], world.nodes["S-C-G2-B1"]
    p1, p1b, p2 = world.persons["p1"], world.persons["p1b"], world.persons["p2"]

    def raise_one(key, person, grid, severity, hours_ago, kind=AlertKind.FEVER, detail=None):
        alerts_raise(
            principal=ESCALATION,
            now=now - dt.timedelta(hours=hours_ago),
            alerts=[
                NewAlert(
                    kind=kind,
                    dedup_key=key,
                    grid_id=grid.pk,
                    grid_path=grid.path,
                    person_id=person.pk,
                    severity=severity,
                    detail=detail or {},
                )
            ],
        )

    raise_one("normal-old", p1b, g1, Severity.NORMAL, 30, AlertKind.MISSED_SLOT, {"day": "2026-12-01", "time": "14:00"})
    raise_one("urgent-new", p1, g1, Severity.URGENT, 1, detail={"value": "38.2"})
    raise_one("urgent-old", p1b, g1, Severity.URGENT, 5, detail={"value": "39.0"})
    raise_one("normal-new", p1, g1, Severity.NORMAL, 2, AlertKind.POSITIVE_TEST, {"specimen": "S-0001"})
    raise_one("other-grid", p2, g2, Severity.URGENT, 50, detail={"value": "38.9"})
    return world


def _client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _keys(response) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:500]
    return [a.dedup_key for a in response.context["page"]]


def test_urgent_first_then_oldest(alerts_world):
    response = _client(alerts_world, "head1").get("/alerts/")
    assert _keys(response) == ["urgent-old", "urgent-new", "normal-old", "normal-new"]
    page = response.content.decode()
    assert "共 4 条预警" in page
    # The person, the household's address and the value on the row.
    assert "38.2 °C" in page and "39.0 °C" in page
    assert "时段 12-01 14:00" in page
    assert "S-0001" in page
    assert "S-C-G1-B1 1-101" in page and "张三" in page
    assert "38.9" not in page and "王五" not in page  # 第2网格's


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-severity", ["normal-new", "normal-old", "urgent-new", "urgent-old"]),
        ("raised", ["normal-old", "urgent-old", "normal-new", "urgent-new"]),
        ("-raised", ["urgent-new", "normal-new", "urgent-old", "normal-old"]),
        ("kind", ["urgent-old", "urgent-new", "normal-old", "normal-new"]),  # fever, missed_slot, positive_test
    ],
)
def test_sort_by_column(alerts_world, sort, expected):
    assert _keys(_client(alerts_world, "head1").get("/alerts/", {"sort": sort})) == expected


def test_filters(alerts_world):
    head, commander = _client(alerts_world, "head1"), _client(alerts_world, "commander")
    assert _keys(head.get("/alerts/", {"kind": "fever"})) == ["urgent-old", "urgent-new"]
    assert _keys(commander.get("/alerts/", {"grid": "S-C-G2"})) == ["other-grid"]
    assert head.get("/alerts/", {"grid": "S-C-G2"}).status_code == 404
    today = timezone.localdate()
    assert set(_keys(head.get("/alerts/", {"from": today.isoformat()}))) <= {
        "urgent-new",
        "urgent-old",
        "normal-new",
    }
    assert _keys(head.get("/alerts/", {"to": (today - dt.timedelta(days=3)).isoformat()})) == []
    response = commander.get("/alerts/", {"kind": "fever"})
    assert "共 3 条预警" in response.content.decode()
    assert 'data-testid="clear-filters"' in response.content.decode()
