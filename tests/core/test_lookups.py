"""`__any_of` (core/lookups.py): the rows of `__in`, sent as one array parameter on PostgreSQL."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from epigrid.people.models import Person


def _both(**lookup):
    ((name, values),) = lookup.items()
    field = name.removesuffix("__any_of")
    with CaptureQueriesContext(connection) as queries:
        got = sorted(Person.objects.filter(**{name: values}).values_list("pk", flat=True))
    want = sorted(Person.objects.filter(**{f"{field}__in": values}).values_list("pk", flat=True))
    return got, want, queries.captured_queries


def test_any_of_finds_what_in_finds(world):
    persons = list(world.persons.values())
    ids = [p.pk for p in persons]
    for values in ([ids[0]], ids, [*ids, ids[0], None, 10**12], [10**12], [None]):
        got, want, _ = _both(pk__any_of=values)
        assert got == want
    hashes = [p.id_number_hash for p in persons[:2]] + ["0" * 64]
    got, want, _ = _both(id_number_hash__any_of=hashes)
    assert got == want == sorted(p.pk for p in persons[:2])
    # A subquery, as `__in` takes one.
    got, want, _ = _both(pk__any_of=Person.objects.filter(household=world.households["h1"]).values("pk"))
    assert got == want and len(got) == 2


def test_an_empty_list_matches_nothing_without_a_query(world):
    got, want, queries = _both(pk__any_of=[])
    assert got == want == [] and queries == []


def test_on_postgresql_a_long_list_is_one_parameter(world):
    ids = [p.pk for p in world.persons.values()] + list(range(10**9, 10**9 + 5000))
    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        got = list(Person.objects.filter(pk__any_of=ids).values_list("pk", flat=True))
    assert sorted(got) == sorted(p.pk for p in world.persons.values())
    ((sql, params),) = sent
    if connection.vendor == "postgresql":
        assert "= ANY(%s)" in sql and len(params) == 1 and len(params[0]) == len(ids)
    else:
        assert " IN (" in sql and len(params) == len(ids)  # `__in` itself
