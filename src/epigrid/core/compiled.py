"""Reads whose SQL the ORM compiles once per shape (issue 15 §3, "reads that stay flat").

Building and compiling a small queryset costs about as much as running it (bench person_list:
0.5 ms of ORM work against 0.56 ms in the database). A `CompiledRead` builds its queryset the
first time a shape is asked for, with a marker in place of each parameter; it keeps the SQL and
where each marker landed among the SQL's parameters, and from then on sends that SQL with the
call's own values. The ORM stays the one definition of the read: only its compilation is reused.

A parameter is a non-empty string or a non-empty list of them, an int named in `numbers` (an
id: other ints, such as page bounds, are the shape), or a date or an aware datetime named in
`moments` (a naive one is read by the ORM). The build function must pass it to the ORM
unchanged, or as the start of a value it derives (a subtree's upper bound, path +
PATH_END); it must never look inside it (branch on it, cut it, sort by it), for then the shape it
builds for the marker is not the one it would build for the value. Everything else (flags, page
bounds, an empty value, the length of a list) is the shape, given to the build as it is, and part
of the cache key. A plan in which a marker is not found as a whole parameter or as its prefix is
not kept: that read is built by the ORM every time, correct and only slower (SQLite's moments:
the ORM sends them as text, so only PostgreSQL, which takes them as they are, keeps such a plan).
Under settings.EPIGRID_CHECK_COMPILED_READS (the test settings) every compiled call is also read
through the ORM, and a difference raises.
"""

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections, router, transaction

from .scoping import EVERYWHERE, grant_paths, minimal_paths

_UNCACHEABLE = object()
# What PostgreSQL answers SQL written for client-side binding that a server-side bind cannot
# type: indeterminate datatype, ambiguous function or operator, datatype mismatch, no such
# function or operator for the unknown type. Not a missing table or column (a migration under
# way): that is the caller's, as from any read.
_CANNOT_BIND = frozenset({"42P18", "42725", "42804", "42883"})
# An int parameter's marker: negative, so never an id or a count the SQL might also carry, and
# inside every integer column's range (a value out of a column's range makes the ORM drop the
# condition, and then the plan is refused, as a marker not found).
_INT_MARKER = -1_987_000_000
_INT64 = (-(2**63), 2**63 - 1)
# A moment's marker: a day or a microsecond of the year 1000, never a reading's or a plan's.
_DATE_MARKER = dt.date(1000, 1, 1)
_DATETIME_MARKER = dt.datetime(1000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    # Per SQL parameter: (parameter name, list index or None, suffix: "" or 0 for an int), or
    # (None, None, constant).
    slots: tuple
    compiler: object  # applies the fields' converters (dates, JSON) as the ORM's own rows do


class CompiledRead:
    def __init__(self, model, build, *, numbers: tuple[str, ...] = (), moments: tuple[str, ...] = (), size: int = 128):
        self.model, self.build, self.size = model, build, size
        self.numbers, self.moments = frozenset(numbers), frozenset(moments)
        self._local = threading.local()  # plans per thread: a compiler holds its thread's connection

    def __call__(self, **values) -> list[tuple]:
        """The rows (tuples) of `build(**values)`, which must be a `values_list` queryset."""
        if any(
            _is_int(values[name]) and not _INT64[0] <= values[name] <= _INT64[1] for name in self.numbers & set(values)
        ):
            # An id no column can hold (a URL's /checkpoints/99999999999999999999/): the ORM
            # answers it (no row); the driver would refuse the parameter (SQLite: OverflowError).
            return list(self.build(**values))
        if any(not _is_moment(values[name]) for name in self.moments & set(values)):
            # A naive datetime (the ORM reads it in the current time zone) or None: as the ORM does.
            return list(self.build(**values))
        params = {
            name: value
            for name, value in values.items()
            if (
                _is_int(value)
                if name in self.numbers
                else _is_moment(value)
                if name in self.moments
                else _is_parameter(value)
            )
        }
        shape = {name: value for name, value in values.items() if name not in params}
        # A list's length and a moment's kind (date or datetime: the ORM converts each its own way)
        # are the shape too.
        sizes = tuple(
            sorted(
                (name, len(value) if isinstance(value, list) else type(value).__name__ if name in self.moments else 0)
                for name, value in params.items()
            )
        )
        alias = router.db_for_read(self.model)
        plans = self._plans()
        key = (alias, tuple(sorted((name, _hashable(value)) for name, value in shape.items())), sizes)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = self._plan(alias, params, shape)
            if len(plans) > self.size:
                self._prepared().pop(plans.popitem(last=False)[0], None)
        else:
            plans.move_to_end(key)
        if plan is _UNCACHEABLE:
            return list(self.build(**values))
        args = [
            constant_or_suffix if name is None else _value(params[name], index) + constant_or_suffix
            for name, index, constant_or_suffix in plan.slots
        ]
        fetched = self._fetch(connections[alias], key, plan, args)
        if plan.compiler.has_extra_select:  # columns the SQL needs but the rows do not show
            fetched = [row[: plan.compiler.col_count] for row in fetched]
        rows = list(plan.compiler.results_iter(results=[fetched], tuple_expected=True))
        if getattr(settings, "EPIGRID_CHECK_COMPILED_READS", False):
            expected = list(self.build(**values))
            if rows != expected:
                raise AssertionError(f"compiled read of {self.model.__name__} differs from the ORM's: {values!r}")
        return rows

    def _fetch(self, connection, key, plan: _Plan, args: list) -> list:
        prepared = self._prepared()
        if connection.vendor != "postgresql" or not settings.PREPARED_READS or prepared.get(key) is False:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql" and connection.timezone_name == "UTC":
                    _load_timestamps_as_psycopg(cursor.cursor)
                cursor.execute(plan.sql, args)
                return cursor.fetchall()
        if key in prepared:
            return _fetch_prepared(connection, plan.sql, args)
        # The plan's first run bound on the server: SQL the ORM wrote for client-side binding may
        # leave a parameter's type unknown to PostgreSQL. Then it is refused (in a savepoint, so a
        # transaction goes on) and this plan is read as the ORM reads, from then on.
        try:
            with transaction.atomic(using=connection.alias):
                fetched = _fetch_prepared(connection, plan.sql, args)
        except DatabaseError as error:
            # psycopg's own errors (a lost connection, a value it cannot send) have sqlstate None.
            if getattr(error.__cause__, "sqlstate", None) not in _CANNOT_BIND:
                raise  # a lock, a timeout, a lost connection: the caller's, as from any read
            prepared[key] = False
            return self._fetch(connection, key, plan, args)
        prepared[key] = True
        return fetched

    def _prepared(self) -> dict:
        """Per plan key: whether it runs as a prepared statement (absent: not yet tried)."""
        prepared = getattr(self._local, "prepared", None)
        if prepared is None:
            prepared = self._local.prepared = {}
        return prepared

    def _plans(self) -> OrderedDict:
        plans = getattr(self._local, "plans", None)
        if plans is None:
            plans = self._local.plans = OrderedDict()
        return plans

    def _plan(self, alias: str, params: dict, shape: dict):
        markers = {}  # marker -> (name, index)

        def mark(name, index):
            marker = f"\x00{len(markers)}\x00"
            markers[marker] = (name, index)
            return marker

        def mark_int(name):
            marker = _INT_MARKER - len(markers)
            markers[marker] = (name, None)
            return marker

        def mark_moment(name, value):
            step = (
                dt.timedelta(microseconds=len(markers))
                if isinstance(value, dt.datetime)
                else dt.timedelta(len(markers))
            )
            marker = (_DATETIME_MARKER if isinstance(value, dt.datetime) else _DATE_MARKER) + step
            markers[marker] = (name, None)
            return marker

        marked = {
            name: mark_int(name)
            if isinstance(value, int)
            else mark_moment(name, value)
            if isinstance(value, dt.date)
            else [mark(name, i) for i in range(len(value))]
            if isinstance(value, list)
            else mark(name, None)
            for name, value in params.items()
        }
        compiler = self.build(**marked, **shape).query.get_compiler(using=alias)
        try:
            sql, sql_params = compiler.as_sql()
        except EmptyResultSet:
            return _UNCACHEABLE
        if "\x00" in sql:  # a marker written into the SQL itself
            return _UNCACHEABLE
        slots, found = [], set()
        for param in sql_params:
            if (_is_int(param) or isinstance(param, dt.date)) and param in markers:
                # The suffix added to the call's value: its type's zero.
                slots.append((*markers[param], 0 if _is_int(param) else dt.timedelta(0)))
                found.add(param)
                continue
            if not (isinstance(param, str) and "\x00" in param):
                slots.append((None, None, param))
                continue
            marker = next(
                (m for m in markers if isinstance(m, str) and param.startswith(m) and "\x00" not in param[len(m) :]),
                None,
            )
            if marker is None:  # a marker cut, wrapped or joined: the value is looked inside
                return _UNCACHEABLE
            name, index = markers[marker]
            slots.append((name, index, param[len(marker) :]))
            found.add(marker)
        if found != set(markers):  # a parameter that changed the query without being sent
            return _UNCACHEABLE
        return _Plan(sql, tuple(slots), compiler)


class CompiledGet:
    """`Model.objects.select_related(*related).get_for(principal, capability, pk=…)`, compiled: the
    grant is resolved as `restrict` resolves it (`grant_paths`, `within` its minimal paths), the
    row and its related rows read by one compiled statement and made into instances. When no row
    is found, the ORM's own `get_for` answers (its 404, or 403 for a row in sight), so the
    decision stays in core.scoping. `related` names non-null foreign keys of the model."""

    def __init__(self, model, *, related: tuple[str, ...] = ()):
        self.model, self.related = model, related
        self.parts = parts(model, related)
        self._read = CompiledRead(model, self._rows, numbers=("pk",))

    def _rows(self, *, pk: int, paths: list[str] | None = None):
        rows = self.model.objects.all() if paths is None else self.model.objects.within(paths)
        return rows.filter(pk=pk).values_list(*selected(self.parts))

    def __call__(self, principal, capability: str, *, pk: int):
        paths = grant_paths(principal, capability)
        if paths is EVERYWHERE:
            rows = self._read(pk=pk)
        else:
            rows = self._read(pk=pk, paths=minimal_paths(paths)) if paths else []
        if not rows:
            return self.model.objects.select_related(*self.related).get_for(principal, capability, pk=pk)
        return with_related(rows[0], self.parts, self.related)[0]


def parts(model, related: tuple[str, ...] = ()) -> list:
    """The parts `selected` and `instances` take for `model` and the foreign keys `related`
    (as `select_related(*related)` names them, one level)."""
    return [(model, "", columns(model))] + [
        (model._meta.get_field(name).related_model, f"{name}__", columns(model._meta.get_field(name).related_model))
        for name in related
    ]


def with_related(row: tuple, read_parts, related: tuple[str, ...]) -> tuple:
    """The instance a row read with `selected(parts(model, related))` holds, its related instances
    set as `select_related` sets them (None for an empty foreign key), and the rest of the row."""
    (found, *others), rest = instances(row, read_parts)
    for name, other in zip(related, others, strict=True):
        setattr(found, name, other if other.pk is not None else None)
    return found, rest


def columns(model, prefix: str = "") -> list[str]:
    """Every concrete column of `model` by attname, as a `values_list` names them (`prefix`: the
    path to the model from the read's own, e.g. "person__")."""
    return [prefix + field.attname for field in model._meta.concrete_fields]


def selected(parts) -> list[str]:
    """The `values_list` names of `parts`: (model, path to it from the read's model, attnames)."""
    return [prefix + name for _, prefix, names in parts for name in names]


def instances(row: tuple, parts) -> tuple[list, tuple]:
    """The instances a row read with `selected(parts)` holds, one a part, and the rest of the row
    (the read's annotations after the parts' columns)."""
    found, start = [], 0
    for model, _, names in parts:
        found.append(instance(model, **dict(zip(names, row[start : start + len(names)], strict=True))))
        start += len(names)
    return found, row[start:]


def instance(model, **values):
    """An instance of the columns a compiled read gave (attname=value), as the ORM makes one:
    a field not read is deferred and fetched if asked for, never a default that looks like data."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(router.db_for_read(model), names, [values[name] for name in names])


def _fetch_prepared(connection, sql: str, args: list) -> list:
    """The rows of `sql` run as a prepared statement of the connection's session: parsed and
    planned once, then only bound and executed (planning a read with subqueries costs about as
    much as running it). Through Django's cursor, so the query is logged and counted like any
    other. The ORM's own cursors bind on the client and are never prepared."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    # The health check before taking the session, as connection.cursor() would do it after: a
    # session it replaces would otherwise be the one given the server-binding factory.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    session = connection.connection
    factory, threshold = session.cursor_factory, session.prepare_threshold
    session.cursor_factory = ServerBindingCursor
    try:
        cursor = connection.cursor()
    finally:
        session.cursor_factory = factory
    with cursor:
        if connection.timezone_name == "UTC":
            _load_timestamps_as_psycopg(cursor.cursor)
        session.prepare_threshold = 0  # read by the cursor as it runs: prepared from the first run
        try:
            cursor.execute(sql, args)
        finally:
            session.prepare_threshold = threshold
        return cursor.fetchall()


def _load_timestamps_as_psycopg(cursor) -> None:
    """Django reads each timestamptz through a Python loader that wraps psycopg's and sets the
    value's tzinfo to the connection's; on a session in UTC psycopg's own (C) loader already
    gives datetime.timezone.utc, in half the time (a page of 2,000 dated rows: about 1.5 ms)."""
    from psycopg.types.datetime import TimestamptzLoader

    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


def _is_moment(value) -> bool:
    if isinstance(value, dt.datetime):
        return value.tzinfo is not None
    return isinstance(value, dt.date)


def _is_parameter(value) -> bool:
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _value(value, index):
    return value if index is None else value[index]
