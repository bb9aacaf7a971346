"""The persons and households lists a grid member uses daily (issue 11 "Lists"): the total of
the filtered rows, a sort by each column, filters, one search box for every kind of key, numbered
pages; never a row outside the user's area."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.gates import services as gates
from epigrid.gates.models import HouseholdPass
from epigrid.people import services as people
from epigrid.people.models import Person
from tests.factories import make_id_number

ID_NUMBER = make_id_number()  # 赵敏's: her last 4 are searched
PHONE = "13912345678"


@pytest.fixture
def lists_world(world):
    admin = world.admin
    world.households["h1b"] = people.household_create(
        grid=world.nodes["S-C-G1-B1"], number="2-202", address="利农庄路23号院2-202", principal=admin
    )
    world.persons["zm"] = people.person_create(
        name="赵敏",
        id_number=ID_NUMBER,
        phone=PHONE,
        household=world.households["h1b"],
        relationship="head",
        principal=admin,
    )
    # Registered on different days, for the date range and the sort by registration.
    for days, key in ((30, "p1"), (20, "p1b"), (10, "zm"), (5, "p2")):
        Person.objects.filter(pk=world.persons[key].pk).update(created_at=timezone.now() - dt.timedelta(days=days))
    return world


def _client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:500]
    return [p.name for p in response.context["page"]]


def test_total_counts_the_filtered_rows_of_the_area(lists_world):
    member = _client(lists_world, "member1")
    response = member.get("/people/")
    assert sorted(_names(response)) == ["张三", "李四", "赵敏"]  # not 王五 of 第2网格
    assert "共 3 人" in response.content.decode()
    assert "共 1 人" in member.get("/people/", {"q": "赵"}).content.decode()
    assert "共 4 人" in _client(lists_world, "commander").get("/people/").content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["李四", "张三", "赵敏"]),  # by pinyin: li, zhang, zhao
        ("-name", ["赵敏", "张三", "李四"]),
        ("registered", ["张三", "李四", "赵敏"]),
        ("-registered", ["赵敏", "李四", "张三"]),
    ],
)
def test_sort_by_column(lists_world, sort, expected):
    assert _names(_client(lists_world, "member1").get("/people/", {"sort": sort})) == expected


def test_sort_by_birth_year_and_grid_ties_by_id(lists_world):
    member = _client(lists_world, "member1")
    persons = sorted((lists_world.persons[k] for k in ("p1", "p1b", "zm")), key=lambda p: (p.birth_year, p.pk))
    assert _names(member.get("/people/", {"sort": "birth_year"})) == [p.name for p in persons]
    assert _names(member.get("/people/", {"sort": "-birth_year"})) == [p.name for p in reversed(persons)]
    # One grid for all three: the id decides, the same way on every page.
    assert _names(member.get("/people/", {"sort": "grid"})) == ["张三", "李四", "赵敏"]
    assert _names(member.get("/people/", {"sort": "-grid"})) == ["赵敏", "李四", "张三"]


def test_sort_headers_show_the_direction_and_an_unknown_key_is_ignored(lists_world):
    member = _client(lists_world, "member1")
    page = member.get("/people/", {"sort": "name"}).content.decode()
    assert re.search(r'href="\?sort=-name"[^>]*>姓名 ▲', page)
    page = member.get("/people/", {"sort": "-name"}).content.decode()
    assert re.search(r'href="\?sort=name"[^>]*>姓名 ▼', page)
    # Not a column: the default order, no error (and no ORDER BY on a sealed field).
    assert member.get("/people/", {"sort": "id_number_sealed"}).status_code == 200


@pytest.mark.parametrize(
    "q",
    [
        "赵敏",  # name
        "敏",  # part of the name
        "zhaomin",  # pinyin
        "zm",  # initials
        ID_NUMBER[-4:],  # last 4 of the ID number
        "139****5678",  # the masked phone, as the lists show it
        "2-202",  # the address
        "利农庄路23号院",
    ],
)
def test_each_search_kind_finds_the_person(lists_world, q):
    assert _names(_client(lists_world, "member1").get("/people/", {"q": q})) == ["赵敏"]


def test_search_by_pass_number(lists_world):
    gates.passes_issue(grid=lists_world.nodes["S-C-G1"], principal=lists_world.admin)
    number = HouseholdPass.objects.get(household=lists_world.households["h1b"]).number
    member = _client(lists_world, "member1")
    assert _names(member.get("/people/", {"q": number})) == ["赵敏"]
    response = member.get("/people/households/", {"q": number})
    assert [h.address for h in response.context["page"]] == ["利农庄路23号院2-202"]
    # The same number from the other grid finds nothing there.
    assert _names(_client(lists_world, "member2").get("/people/", {"q": number})) == []


@pytest.mark.parametrize("q", ["赵敏", "zm", ID_NUMBER[-4:], "139****5678", "2-202"])
def test_search_finds_nothing_outside_the_area(lists_world, q):
    response = _client(lists_world, "member2").get("/people/", {"q": q})
    assert _names(response) == []
    assert "共 0 人" in response.content.decode()


def test_the_full_number_is_not_searched_from_a_link(lists_world):
    response = _client(lists_world, "member1").get("/people/", {"q": ID_NUMBER})
    assert response.status_code == 400
    assert ID_NUMBER not in response.content.decode()


def test_filters_grid_status_dates_and_clear(lists_world):
    member, commander = _client(lists_world, "member1"), _client(lists_world, "commander")
    assert sorted(_names(commander.get("/people/", {"grid": "S-C-G2"}))) == ["王五"]
    # A grid outside the area: 404, not an empty list.
    assert member.get("/people/", {"grid": "S-C-G2"}).status_code == 404
    day = (timezone.localdate() - dt.timedelta(days=15)).isoformat()
    response = member.get("/people/", {"from": day})
    assert _names(response) == ["赵敏"]
    assert 'data-testid="clear-filters"' in response.content.decode()
    to = (timezone.localdate() - dt.timedelta(days=20)).isoformat()
    assert sorted(_names(member.get("/people/", {"to": to}))) == ["张三", "李四"]
    assert _names(member.get("/people/", {"from": "not-a-date"})) != []  # ignored
    people.person_archive(person=lists_world.persons["p1b"], reason="迁出", principal=lists_world.admin)
    assert _names(member.get("/people/", {"status": "archived"})) == ["李四"]
    assert "李四" not in _names(member.get("/people/"))
    # The grid select offers only the grids the user sees.
    page = member.get("/people/").content.decode()
    assert 'value="S-C-G1"' in page and 'value="S-C-G2"' not in page


def test_numbered_pages(lists_world):
    household = lists_world.households["h1"]
    for i in range(107):
        people.person_create(
            name=f"住户{i:03d}", id_number=make_id_number(), household=household, principal=lists_world.admin
        )
    member = _client(lists_world, "member1")
    first = member.get("/people/", {"sort": "name"})
    assert len(first.context["page"]) == 50
    page = first.content.decode()
    assert "共 110 人" in page
    assert re.search(r'<b aria-current="page">1</b>', page)
    assert 'href="?sort=name&amp;page=2"' in page and 'href="?sort=name&amp;page=3"' in page
    third = member.get("/people/", {"sort": "name", "page": 3})
    assert len(third.context["page"]) == 10
    # Pages do not overlap and together hold every row once.
    seen = [p.pk for n in (1, 2, 3) for p in member.get("/people/", {"sort": "name", "page": n}).context["page"]]
    assert len(seen) == len(set(seen)) == 110
    # Past the end: the last page, not an error.
    assert member.get("/people/", {"page": 99}).context["page"].number == 3


def test_households_list(lists_world):
    member = _client(lists_world, "member1")
    response = member.get("/people/households/", {"sort": "-address"})
    assert [h.address for h in response.context["page"]] == ["利农庄路23号院2-202", "S-C-G1-B1 1-101"]
    assert "共 2 户" in response.content.decode()
    assert [h.number for h in member.get("/people/households/", {"q": "2-202"}).context["page"]] == ["2-202"]
    assert list(_client(lists_world, "member2").get("/people/households/", {"q": "利农庄"}).context["page"]) == []
