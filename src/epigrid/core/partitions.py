"""Monthly partitions of the high-volume tables (PostgreSQL; docs/scaling.md "Partitions").

Temperature readings (partitioned by `local_date`) and gate passages (by `at`) are declaratively
range-partitioned by month on PostgreSQL: a migration rebuilds the table as a partitioned one
(`partition_table`), `partitions_ensure` (Celery beat, daily) creates the coming months ahead,
and the retention purge drops whole months (`partition_drop`) instead of deleting their rows.
SQLite keeps plain tables behind the same models: every function here does nothing there.

A partitioned table's primary key and unique constraints must include the key: on PostgreSQL the
primary key is (id, key) while the model keeps `id` as its pk, and the models declare their
client-id uniqueness with the key (for both backends). Months are local months (Asia/Shanghai),
named `<table>_pYYYYMM`; rows of a month without a partition go to `<table>_default`.

Creating and dropping tables is DDL, which the least-privilege application role (core/dbroles.py)
may not run. So both go through two functions a migration creates as the owner, SECURITY DEFINER
(`FUNCTIONS`): `epigrid_partition_month` creates one month of a partitioned table and
`epigrid_partition_drop` drops one monthly partition, and nothing else: a table that is not a
monthly partition of a partitioned table of the schema is refused. `epigrid dbroles` grants the
application role EXECUTE on them, so beat's daily task and the purge work under it; a role
without that grant creates and drops nothing (rows of a month without a partition still land in
the default one, and the purge's DELETE removes old rows).
"""

import datetime as dt
import logging
import re
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)
MONTH_NAME = re.compile(r"_p(\d{4})(\d{2})$")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def enabled() -> bool:
    return connection.vendor == "postgresql"


def _bound(kind: str, month: dt.date):
    """The partition bound of a local month, as a value for the key's type."""
    if kind == "date":
        return month
    return timezone.make_aware(dt.datetime.combine(month, dt.time()))  # local midnight


def _literal(value) -> str:
    """A bound as an SQL literal (DDL takes no parameters)."""
    return f"'{value.isoformat()}'"


def partitioned_tables() -> dict[str, tuple[str, str]]:
    """{table: (key column, key type)} of the partitioned tables in the current schema."""
    if not enabled():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0] "
            "WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1"
        )
        return {table: (column, "date" if kind == "date" else "timestamptz") for table, column, kind in cursor}


def may_manage() -> bool:
    """Whether this connection's role may create and drop monthly partitions (EXECUTE on the
    owner's functions: the owner, and the application role after `epigrid dbroles --apply`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regprocedure(%s) IS NOT NULL AND has_function_privilege(%s, 'EXECUTE') "
            "AND has_function_privilege(%s, 'EXECUTE')",
            [MONTH_FUNCTION, MONTH_FUNCTION, DROP_FUNCTION],
        )
        return bool(cursor.fetchone()[0])


def partitions(table: str) -> dict[dt.date, str]:
    """{first day of the month: partition name} of the table's monthly partitions."""
    if not enabled():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table],
        )
        found = {}
        for (name,) in cursor:
            match = MONTH_NAME.search(name)
            if match and name.startswith(table):
                found[dt.date(int(match[1]), int(match[2]), 1)] = name
        return found


def partitions_ensure(*, months_ahead: int = 3, today: dt.date | None = None) -> list[str]:
    """Create the missing monthly partitions of every partitioned table, from the current local
    month to `months_ahead` months after it; idempotent. Returns the partitions created. A month's
    rows already in the default partition move into the new one (`epigrid_partition_month`)."""
    if not enabled():
        return []
    if not may_manage():
        # Rows of a month without a partition go to the default one: nothing is lost.
        log.warning("partitions_ensure: this role may not create partitions (run `epigrid dbroles --apply`)")
        return []
    this_month = month_start(today or timezone.localdate())
    zone = timezone.get_current_timezone_name()
    created = []
    for table in partitioned_tables():
        have = partitions(table)
        for n in range(months_ahead + 1):
            month = add_months(this_month, n)
            if month in have:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT epigrid_partition_month(%s::regclass, %s, %s)", [table, month, zone])
                name = cursor.fetchone()[0]
            if name:  # None: another process made it meanwhile
                created.append(name)
    return created


def partitions_drop_before(table: str, before, *, keep: Callable[[object, object], bool] | None = None) -> dict:
    """Drop the table's monthly partitions that end on or before `before` (a date for a date key,
    a datetime for a timestamp key), except those of which `keep(low, high)` says some row must
    stay. Returns {"partitions": dropped, "rows": their rows}. Call it inside the purge's
    transaction: a rollback brings the months back."""
    dropped = {"partitions": 0, "rows": 0}
    tables = partitioned_tables()
    if table not in tables or not may_manage():
        return dropped  # the caller's DELETE removes the rows
    _, kind = tables[table]
    with connection.cursor() as cursor:
        for month, name in sorted(partitions(table).items()):
            low, high = _bound(kind, month), _bound(kind, add_months(month, 1))
            if high > before:
                break
            if keep is not None and keep(low, high):
                continue
            cursor.execute("SELECT epigrid_partition_drop(%s::regclass)", [name])
            dropped["partitions"] += 1
            dropped["rows"] += cursor.fetchone()[0]
    return dropped


# ---------------------------------------------------------------- the owner's functions

MONTH_FUNCTION = "epigrid_partition_month(regclass, date, text)"
DROP_FUNCTION = "epigrid_partition_drop(regclass)"

# Both run as their owner (the migration's role) whoever calls them, so each checks its argument
# itself: only a range-partitioned table of the function's own schema, only `<table>_pYYYYMM`
# partitions of one. search_path is pinned and every name is quoted (format %I/%L). {schema} is the
# schema migrated into, as a literal.
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION epigrid_partition_month(parent regclass, month date, zone text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  ns text; tbl text; key text; kind text; part text; low text; high text; first date; moving boolean;
BEGIN
  SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) INTO ns, tbl, key, kind
    FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
   WHERE p.partrelid = parent AND p.partstrat = 'r'
     AND n.nspname = {schema};
  IF NOT FOUND THEN
    RAISE EXCEPTION 'epigrid_partition_month: % is not a partitioned table of ours', parent
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- One creator at a time; a month made meanwhile is not made twice.
  EXECUTE format('LOCK TABLE %I.%I IN SHARE ROW EXCLUSIVE MODE', ns, tbl);
  first := date_trunc('month', month)::date;
  part := tbl || '_p' || to_char(first, 'YYYYMM');
  IF to_regclass(format('%I.%I', ns, part)) IS NOT NULL THEN
    RETURN NULL;
  END IF;
  IF kind = 'date' THEN
    low := format('%L', first);
    high := format('%L', (first + interval '1 month')::date);
  ELSE  -- local midnights of the month's first days
    low := format('%L', first::timestamp AT TIME ZONE zone);
    high := format('%L', (first + interval '1 month')::timestamp AT TIME ZONE zone);
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I >= %s AND %I < %s)',
                 ns, tbl || '_default', key, low, key, high) INTO moving;
  IF moving THEN  -- the month's rows in the default partition move into the new one
    EXECUTE format('ALTER TABLE %I.%I DETACH PARTITION %I.%I', ns, tbl, ns, tbl || '_default');
  END IF;
  EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%s) TO (%s)', ns, part, ns, tbl, low, high);
  IF moving THEN
    EXECUTE format('INSERT INTO %I.%I SELECT * FROM %I.%I WHERE %I >= %s AND %I < %s',
                   ns, part, ns, tbl || '_default', key, low, key, high);
    EXECUTE format('DELETE FROM %I.%I WHERE %I >= %s AND %I < %s', ns, tbl || '_default', key, low, key, high);
    EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I DEFAULT', ns, tbl, ns, tbl || '_default');
  END IF;
  RETURN part;
END
$fn$;

CREATE OR REPLACE FUNCTION epigrid_partition_drop(partition regclass) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  ns text; tbl text; part text; found_rows bigint;
BEGIN
  SELECT n.nspname, parent.relname, c.relname INTO ns, tbl, part
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class parent ON parent.oid = i.inhparent
    JOIN pg_partitioned_table p ON p.partrelid = parent.oid
    JOIN pg_namespace n ON n.oid = parent.relnamespace
   WHERE i.inhrelid = partition
     AND n.nspname = {schema};
  IF NOT FOUND OR left(part, length(tbl) + 2) <> tbl || '_p'
     OR substr(part, length(tbl) + 3) !~ '^[0-9]{6}$' THEN
    RAISE EXCEPTION 'epigrid_partition_drop: % is not a monthly partition of ours', partition
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('SELECT count(*) FROM %I.%I', ns, part) INTO found_rows;
  EXECUTE format('DROP TABLE %I.%I', ns, part);
  RETURN found_rows;
END
$fn$;

REVOKE ALL ON FUNCTION epigrid_partition_month(regclass, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION epigrid_partition_drop(regclass) FROM PUBLIC;
"""

DROP_FUNCTIONS = f"DROP FUNCTION IF EXISTS {MONTH_FUNCTION}; DROP FUNCTION IF EXISTS {DROP_FUNCTION};"


def create_functions(schema_editor) -> None:
    """The migration's step (PostgreSQL only)."""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT quote_literal(current_schema())")
            schema = cursor.fetchone()[0]
        schema_editor.execute(FUNCTIONS.replace("{schema}", schema), params=None)


def drop_functions(schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTIONS, params=None)


# ---------------------------------------------------------------- the migration's rebuild


def partition_table(schema_editor, *, table: str, key: str, months_ahead: int = 2) -> None:
    """Rebuild `table` as partitioned by month on `key` (PostgreSQL only; a migration's RunPython):
    a default partition, a partition for every month with rows and the current and next
    `months_ahead` months, the rows moved, indexes, constraints and foreign keys made again on the
    parent (the primary key becomes (id, key)), the id's sequence owned by the new table."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [table])
        if cursor.fetchone():
            return
        kind = _key_kind(cursor, table, key)
        new, saved = _rebuild(cursor, table, f"PARTITION BY RANGE ({_q(key)})")
        cursor.execute(f"CREATE TABLE {_q(table + '_default')} PARTITION OF {_q(new)} DEFAULT")
        month_of = (
            f"date_trunc('month', {_q(key)})::date"
            if kind == "date"
            else (f"date_trunc('month', {_q(key)} AT TIME ZONE %s)::date")
        )
        cursor.execute(
            f"SELECT DISTINCT {month_of} FROM {_q(table)}",
            [] if kind == "date" else [timezone.get_current_timezone_name()],
        )
        months = {row[0] for row in cursor}
        this_month = month_start(timezone.localdate())
        months |= {add_months(this_month, n) for n in range(months_ahead + 1)}
        for month in sorted(months):
            low, high = _bound(kind, month), _bound(kind, add_months(month, 1))
            cursor.execute(
                f"CREATE TABLE {_q(f'{table}_p{month:%Y%m}')} PARTITION OF {_q(new)} "
                f"FOR VALUES FROM ({_literal(low)}) TO ({_literal(high)})"
            )
        _swap(cursor, table, new, saved, primary=("id", key))


def unpartition_table(schema_editor, *, table: str) -> None:
    """The reverse: a plain table again, with its rows (PostgreSQL only)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [table])
        if not cursor.fetchone():
            return
        new, saved = _rebuild(cursor, table, "")
        _swap(cursor, table, new, saved, primary=("id",))


def _key_kind(cursor, table, key) -> str:
    cursor.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        [table, key],
    )
    return "date" if cursor.fetchone()[0] == "date" else "timestamptz"


def _rebuild(cursor, table: str, partition_by: str) -> tuple[str, tuple]:
    """A new empty table shaped like `table` (columns, defaults, checks), to be filled and swapped in."""
    new = f"{table}_rebuilt"
    # What goes on the new table once its rows are in: the constraints (but checks, copied by
    # LIKE) and the indexes that no constraint makes.
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        f"CREATE TABLE {_q(new)} (LIKE {_q(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE INCLUDING COMMENTS) {partition_by}"
    )
    cursor.execute(f"ALTER TABLE {_q(new)} ALTER COLUMN id DROP DEFAULT")  # the old sequence goes
    return new, (constraints, indexes)


def _swap(cursor, table: str, new: str, saved: tuple, *, primary) -> None:
    constraints, indexes = saved
    sequence = f"{table}_id_seq"
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {_q(table)}")
    top = cursor.fetchone()[0]
    columns = ", ".join(_q(c) for c in _columns(cursor, table))
    cursor.execute(f"INSERT INTO {_q(new)} ({columns}) SELECT {columns} FROM {_q(table)}")
    # The old id's sequence (an identity's or an owned one) goes with the old table.
    cursor.execute("SELECT attidentity FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id'", [table])
    drop = "DROP IDENTITY" if cursor.fetchone()[0] else "DROP DEFAULT"
    cursor.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN id {drop}")
    cursor.execute(f"DROP TABLE {_q(table)}")  # nothing refers to it (no foreign key): no CASCADE
    cursor.execute(f"DROP SEQUENCE IF EXISTS {_q(sequence)}")
    cursor.execute(f"ALTER TABLE {_q(new)} RENAME TO {_q(table)}")
    cursor.execute(f"CREATE SEQUENCE {_q(sequence)} AS bigint OWNED BY {_q(table)}.id")
    cursor.execute("SELECT setval(%s, %s, %s)", [sequence, max(top, 1), top > 0])
    cursor.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN id SET DEFAULT nextval('{sequence}'::regclass)")
    for name, kind, definition in constraints:
        if kind == "p":
            definition = f"PRIMARY KEY ({', '.join(_q(c) for c in primary)})"
        cursor.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} {definition}")
    for _name, definition in indexes:
        cursor.execute(definition)


def _columns(cursor, table) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        [table],
    )
    return [row[0] for row in cursor]
