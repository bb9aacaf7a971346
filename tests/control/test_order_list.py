"""The control orders list (隔离台账, issue 11 "Lists"): total, search, filters, sort; only the
user's area."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.control import services as control


@pytest.fixture
def orders_world(world):
    now = timezone.now()
    for key, days in (("p1", 3), ("p1b", 1), ("p2", 2)):
        control.control_order_start(
            person=world.persons[key],
            kind="home_quarantine",
            reason="other",
            starts_at=now - dt.timedelta(days=days),
            principal=world.admin,
        )
    return world


def _names(world, username, **query):
    client = Client()
    client.force_login(world.users[username])
    response = client.get("/control/orders/", query)
    assert response.status_code == 200, response.content.decode()[:500]
    return [o.person.name for o in response.context["page"]], response.content.decode()


def test_orders_total_sort_search_and_scope(orders_world):
    names, page = _names(orders_world, "commander")
    assert names == ["李四", "王五", "张三"]  # newest start first
    assert "共 3 条管控记录" in page
    assert _names(orders_world, "commander", sort="starts")[0] == ["张三", "王五", "李四"]
    assert _names(orders_world, "commander", sort="name")[0] == ["李四", "王五", "张三"]  # li, wang, zhang
    assert _names(orders_world, "commander", q="zs")[0] == ["张三"]
    assert _names(orders_world, "commander", grid="S-C-G2")[0] == ["王五"]
    since = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert _names(orders_world, "commander", **{"from": since})[0] == ["李四"]
    # 第2网格's member sees only 王五, whatever the search.
    assert _names(orders_world, "member2")[0] == ["王五"]
    assert _names(orders_world, "member2", q="张三")[0] == []
