"""Compiled reads (core.compiled): a read's SQL is compiled once per shape and sent again with
each call's values, and it answers exactly what the ORM answers: the same rows, in the same
order, for every user's own area, never another's."""

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from epigrid.accounts.choices import Role
from epigrid.accounts.services import grid_assignment_create
from epigrid.core import compiled
from epigrid.core.compiled import CompiledRead
from epigrid.health import services as health
from epigrid.health.choices import ReportSource
from epigrid.health.models import TemperatureReport
from epigrid.people import selectors
from epigrid.people import services as people_services
from epigrid.people.models import Person
from tests.factories import api, fresh, make_id_number, make_user

AREA_USERS = ["commander", "secretary", "head1", "member2", "bhead1", "bhead2", "norole"]


def _orm_page(user, *, grid_path="", include_archived=False, start=0, stop=50):
    rows = selectors.person_rows(
        selectors.person_list(user=user, grid_path=grid_path, include_archived=include_archived)[start:stop]
    )
    return [(r.pk, r.name, r.grid.code, r.household.address if r.household else None) for r in rows]


def _compiled_page(user, **kwargs):
    rows = selectors.person_page(user=user, **kwargs)
    return [(r.pk, r.name, r.grid.code, r.household.address if r.household else None) for r in rows]


@pytest.fixture
def crowded(world):
    """Three more persons in each compound, one archived, so pages and order show."""
    for key in ("h1", "h2"):
        for n in range(3):
            person = people_services.person_create(
                name=f"居民{key}{n}", id_number=make_id_number(), household=world.households[key], principal=world.admin
            )
            if n == 2:
                Person.objects.filter(pk=person.pk).update(archived_at=person.created_at)
    return world


def test_the_check_is_on_in_the_tests():
    # Every compiled read in the suite is also read through the ORM and compared.
    assert settings.EPIGRID_CHECK_COMPILED_READS


@pytest.mark.parametrize("username", AREA_USERS)
def test_each_user_reads_their_own_area_and_the_plan_is_shared(crowded, username, settings):
    settings.EPIGRID_CHECK_COMPILED_READS = False  # compare here, by hand, with the ORM's rows
    world = crowded
    # Another user of the same shape first: the plan their call made serves this user's values.
    other = fresh(world.users["head2" if username != "head2" else "head1"])
    selectors.person_page(user=other, start=0, stop=50)
    user = fresh(world.users[username])
    assert _compiled_page(user, start=0, stop=50) == _orm_page(user)
    # The compound's persons only, for a grid head; nothing for a user without a role.
    codes = {code for _, _, code, _ in _compiled_page(fresh(user), start=0, stop=50)}
    if username == "head1":
        assert codes == {"S-C-G1-B1"}
    if username == "norole":
        assert codes == set()


def test_pages_a_subtree_and_the_archived_read_as_the_orm_does(crowded, settings):
    settings.EPIGRID_CHECK_COMPILED_READS = False
    secretary = crowded.users["secretary"]
    grid_path = crowded.nodes["S-C-G2"].path
    for kwargs in (
        {"start": 0, "stop": 2},
        {"start": 2, "stop": 4},
        {"grid_path": grid_path, "start": 0, "stop": 50},
        {"include_archived": True, "start": 0, "stop": 50},
        {"grid_path": grid_path, "include_archived": True, "start": 1, "stop": 3},
    ):
        assert _compiled_page(fresh(secretary), **kwargs) == _orm_page(fresh(secretary), **kwargs), kwargs
    assert len(_compiled_page(fresh(secretary), include_archived=True, start=0, stop=50)) == 9
    assert len(_compiled_page(fresh(secretary), start=0, stop=50)) == 7


def test_a_user_with_two_areas_reads_both(crowded, settings):
    settings.EPIGRID_CHECK_COMPILED_READS = False
    world = crowded
    user = make_user("two-buildings")
    for code in ("S-C-G1-B1", "S-C-G2-B1"):
        grid_assignment_create(node=world.nodes[code], user=user, role=Role.BUILDING_HEAD, principal=world.admin)
    rows = _compiled_page(fresh(user), start=0, stop=50)
    assert rows == _orm_page(fresh(user))
    assert {code for _, _, code, _ in rows} == {"S-C-G1-B1", "S-C-G2-B1"}


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    username=st.sampled_from(AREA_USERS),
    grid=st.sampled_from(["", "S", "S-C", "S-C-G1", "S-C-G2-B1"]),
    include_archived=st.booleans(),
    start=st.integers(min_value=0, max_value=8),
    size=st.integers(min_value=1, max_value=6),
)
def test_any_page_of_any_area_is_the_orms(crowded, username, grid, include_archived, start, size):
    # The examples only read: the one crowded world serves them all.
    grid_path = crowded.nodes[grid].path if grid else ""
    kwargs = {"grid_path": grid_path, "include_archived": include_archived, "start": start, "stop": start + size}
    user = crowded.users[username]
    assert _compiled_page(fresh(user), **kwargs) == _orm_page(fresh(user), **kwargs)


def test_a_value_the_build_wraps_is_not_compiled_and_still_answers(world):
    """A build that puts a parameter inside a pattern (LIKE %…%) cannot be sent again with another
    value: the plan is refused and the ORM answers each call."""
    read = CompiledRead(Person, lambda *, name: Person.objects.filter(name__contains=name).values_list("name"))
    assert read(name="张") == [("张三",)]
    assert read(name="王") == [("王五",)]
    assert read(name="赵") == []


def test_the_api_list_reads_through_the_compiled_page(world):
    call = api(world, "head1")
    first = call("get", "/api/v1/persons?limit=1")
    assert first.status_code == 200 and first.json()["next_offset"] == 1
    second = call("get", "/api/v1/persons?limit=1&offset=1&with_total=true")
    assert second.status_code == 200, second.content
    names = [first.json()["items"][0]["name"], second.json()["items"][0]["name"]]
    assert sorted(names) == ["张三", "李四"] and second.json()["total"] == 2
    # A search still goes through the ORM's list, in the same answer's shape.
    found = call("get", "/api/v1/persons?q=张")
    assert [p["name"] for p in found.json()["items"]] == ["张三"]


def _by_household(*, household_id, stop):
    return (
        Person.objects.filter(household_id=household_id).order_by("pk").values_list("pk", "name", "created_at")[:stop]
    )


def test_an_id_named_in_numbers_is_a_parameter_and_other_ints_are_the_shape(world, settings):
    """One plan serves every household (the id is sent as a value); the page bound is part of the
    shape, as in person_page; each household answers its own persons, dated as the ORM dates them."""
    settings.EPIGRID_CHECK_COMPILED_READS = False
    read = CompiledRead(Person, _by_household, numbers=("household_id",))
    for key in ("h1", "h2"):
        household = world.households[key]
        assert read(household_id=household.pk, stop=10) == list(_by_household(household_id=household.pk, stop=10))
        assert {name for _, name, _ in read(household_id=household.pk, stop=10)} == set(
            household.members.values_list("name", flat=True)
        )
    assert len(read._plans()) == 1
    rows = read(household_id=world.households["h1"].pk, stop=1)
    assert len(rows) == 1 and len(read._plans()) == 2
    # The dates come as the ORM's: aware, in UTC.
    assert rows[0][2].utcoffset() == dt.timedelta(0) and rows[0][2].tzinfo == dt.UTC
    assert read(household_id=0, stop=10) == []


def test_an_id_the_build_changes_is_not_compiled_and_still_answers(world):
    """An id the build computes with (here id - 1) is not in the SQL as sent: the plan is refused."""

    def by_next_household(*, household_id):
        return Person.objects.filter(household_id=household_id - 1).order_by("pk").values_list("name", flat=True)

    read = CompiledRead(Person, by_next_household, numbers=("household_id",))
    for key in ("h1", "h2"):
        household = world.households[key]
        assert read(household_id=household.pk + 1) == list(
            household.members.order_by("pk").values_list("name", flat=True)
        )
    assert list(read._plans().values()) == [compiled._UNCACHEABLE]


def test_an_instance_of_the_columns_read_loads_any_other_field_when_asked(world, django_assert_num_queries):
    """`compiled.instance` gives the ORM's own partial instance: the columns read are there, a
    field not read is fetched from the database when used (one query), never a default value."""
    person = world.persons["p1"]
    partial = compiled.instance(Person, id=person.pk, grid_id=person.grid_id)
    with django_assert_num_queries(0):
        assert (partial.pk, partial.grid_id) == (person.pk, person.grid_id)
    with django_assert_num_queries(1):
        assert partial.name == person.name and partial.name
    full = compiled.instance(
        Person,
        **dict(
            zip(
                compiled.columns(Person),
                Person.objects.filter(pk=person.pk).values_list(*compiled.columns(Person)).get(),
                strict=True,
            )
        ),
    )
    with django_assert_num_queries(0):
        assert (full.name, full.household_id, full.archived_at) == (person.name, person.household_id, None)


def _readings_between(*, person_id, since, until, first_day):
    readings = TemperatureReport.objects.filter(
        person_id=person_id, measured_at__gte=since, measured_at__lt=until, local_date__gte=first_day
    )
    return readings.order_by("measured_at").values_list("value", "measured_at")


def test_moments_are_parameters_on_postgresql_and_answer_as_the_orm_does(world, settings):
    """Dates and aware datetimes named in `moments` are sent as values: every window answers the
    ORM's rows, from one plan on PostgreSQL (SQLite's text form of a moment is not kept: there
    the ORM reads it each time). A naive datetime is the ORM's to read."""
    settings.EPIGRID_CHECK_COMPILED_READS = False
    person = world.persons["p1"]
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=30)
    health.temperature_reports_record(
        readings=[health.Reading(person.pk, f"36.{i}", start + dt.timedelta(hours=3 * i)) for i in range(10)],
        source=ReportSource.LIAISON,
        principal=world.admin,
    )
    read = CompiledRead(
        TemperatureReport, _readings_between, numbers=("person_id",), moments=("since", "until", "first_day")
    )
    for hours, width in ((0, 4), (5, 10), (12, 20), (29, 1), (40, 5)):
        since = start + dt.timedelta(hours=hours)
        values = {
            "person_id": person.pk,
            "since": since,
            "until": since + dt.timedelta(hours=width),
            "first_day": timezone.localdate(since) - dt.timedelta(days=1),
        }
        assert read(**values) == list(_readings_between(**values))
    assert any(read(person_id=person.pk, since=start, until=start + dt.timedelta(hours=1), first_day=start.date()))
    plans = list(read._plans().values())
    if connection.vendor == "postgresql":
        assert len(plans) == 1 and plans[0] is not compiled._UNCACHEABLE
    else:
        assert plans == [compiled._UNCACHEABLE]
    naive = dt.datetime(2000, 1, 1)
    assert read(person_id=person.pk, since=naive, until=naive, first_day=naive.date()) == []
    assert len(read._plans()) == 1


def _readings_on(*, day):
    return TemperatureReport.objects.filter(local_date=day).order_by("pk").values_list("pk")


def test_a_moment_given_as_a_date_then_a_datetime_is_two_shapes(world, settings):
    """The ORM turns a datetime given for a date column into its local day: a plan built for a
    date must not be reused for a datetime (nor the other way round), or PostgreSQL would compare
    the column with a timestamp instead."""
    settings.EPIGRID_CHECK_COMPILED_READS = False
    person = world.persons["p1"]
    evening = (timezone.now() - dt.timedelta(days=1)).replace(hour=20, minute=0, second=0, microsecond=0)
    evening = evening.astimezone(dt.UTC)
    day = timezone.localdate(evening)  # Asia/Shanghai: the next day at 20:00 UTC
    health.temperature_reports_record(
        readings=[health.Reading(person.pk, "36.5", evening)], source=ReportSource.LIAISON, principal=world.admin
    )
    stored = list(TemperatureReport.objects.filter(local_date=day).order_by("pk").values_list("pk"))
    assert stored
    read = CompiledRead(TemperatureReport, _readings_on, moments=("day",))
    assert read(day=day) == list(_readings_on(day=day)) == stored
    assert read(day=evening) == list(_readings_on(day=evening)) == stored
    assert read(day=day) == stored
    assert len(read._plans()) == 2


def _persons_of(*, grid_id):
    return Person.objects.filter(grid_id=grid_id).order_by("pk").values_list("pk", "name")


def _our_prepared_statements(sql_part: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{sql_part}%"])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL only")
def test_a_compiled_read_is_one_prepared_statement_on_postgresql(world, settings):
    """The plan is parsed and planned by PostgreSQL once: every grid's call after the first only
    binds its value, answers the ORM's rows, and is logged like any query."""
    from django.test.utils import CaptureQueriesContext

    settings.EPIGRID_CHECK_COMPILED_READS = False
    read = CompiledRead(Person, _persons_of, numbers=("grid_id",))
    grids = sorted({person.grid_id for person in world.persons.values()})
    for n, grid_id in enumerate(grids):
        with CaptureQueriesContext(connection) as queries:
            rows = read(grid_id=grid_id)
        assert rows == list(_persons_of(grid_id=grid_id)) and rows
        # The first run is tried in a savepoint (its SQL might not bind on the server); then one query.
        assert len(queries) == (3 if n == 0 else 1)
    statements = _our_prepared_statements('"people_person"."grid_id" = $1')
    assert len(statements) == 1, statements
    settings.PREPARED_READS = False
    named = CompiledRead(Person, _persons_named)
    person = world.persons["p1"]
    assert named(name=person.name) == list(_persons_named(name=person.name))
    assert _our_prepared_statements('"people_person"."name" = $1') == []


def _persons_named(*, name):
    return Person.objects.filter(name=name).order_by("pk").values_list("pk")


def _persons_flagged(*, name):
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    flag = RawSQL("%s IS NULL", (name,), output_field=BooleanField())
    return Person.objects.annotate(flag=flag).filter(name=name).order_by("pk").values_list("pk", "flag")


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL only")
def test_a_read_postgresql_cannot_prepare_is_read_as_the_orm_reads_and_the_transaction_goes_on(world, settings):
    """`%s IS NULL` leaves the parameter's type unknown to a server-side bind: the first call is
    refused inside a savepoint, answered by the ORM's client-side SQL, and the transaction around
    it still works; the plan is then never tried on the server again."""
    settings.EPIGRID_CHECK_COMPILED_READS = False
    person = world.persons["p1"]
    read = CompiledRead(Person, _persons_flagged)
    assert read(name=person.name) == [(person.pk, False)]
    assert Person.objects.filter(pk=person.pk).exists()  # the transaction was not aborted
    assert list(read._prepared().values()) == [False]
    assert read(name=person.name) == [(person.pk, False)]
    assert _our_prepared_statements("IS NULL") == []


def _persons_divided(*, divisor):
    from django.db.models import IntegerField
    from django.db.models.expressions import RawSQL

    share = RawSQL("100 / %s", (divisor,), output_field=IntegerField())
    return Person.objects.annotate(share=share).order_by("pk").values_list("pk", "share")[:1]


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL only")
def test_an_error_of_the_data_on_the_first_run_is_raised_not_taken_for_a_binding_one(world, settings):
    """Only SQL a server-side bind cannot type sends a plan back to client-side binding: a
    division by zero (or a lock timeout) is raised to the caller as from any read, the
    transaction goes on, and the plan is still tried prepared."""
    from django.db import DataError

    settings.EPIGRID_CHECK_COMPILED_READS = False
    read = CompiledRead(Person, _persons_divided, numbers=("divisor",))
    with pytest.raises(DataError):
        read(divisor=0)
    assert read._prepared() == {}
    assert read(divisor=4)[0][1] == 25
    assert list(read._prepared().values()) == [True]


def _persons_with_constant(*, name, constant):
    from django.db.models import IntegerField
    from django.db.models.expressions import RawSQL

    return (
        Person.objects.annotate(extra=RawSQL("%s", (constant,), output_field=IntegerField()))
        .filter(name=name)
        .values_list("pk", "extra")
    )


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL only")
def test_an_error_of_the_driver_on_the_first_run_is_the_drivers(world, settings):
    """psycopg's own errors carry no SQLSTATE (a lost connection; here a value it cannot send):
    the first run answers Django's database error, as the ORM does, not a TypeError of ours,
    and the plan is not sent back to client-side binding."""
    from django.db import DatabaseError

    settings.EPIGRID_CHECK_COMPILED_READS = False
    read = CompiledRead(Person, _persons_with_constant)
    unsendable = object()
    with pytest.raises(DatabaseError):
        list(_persons_with_constant(name="x", constant=unsendable))  # the ORM's answer
    with pytest.raises(DatabaseError):
        read(name=world.persons["p1"].name, constant=unsendable)
    assert read._prepared() == {}
