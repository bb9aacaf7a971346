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

Creating and dropping tables is DDL: the database role running beat and the purge must own the
tables (the migration's role); under the least-privilege application role (core/dbroles.py)
`epigrid partitions` runs `partitions_ensure` as the owner.
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


def may_alter(table: str) -> bool:
    """Whether this connection's role owns the table (creating and dropping partitions is DDL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", [table]
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


def _create_month(cursor, table: str, key: str, kind: str, month: dt.date) -> str:
    """Create the month's partition; rows of that month already in the default partition move
    into it (detach the default, create, move, attach again: one transaction)."""
    name = f"{table}_p{month:%Y%m}"
    default = f"{table}_default"
    low, high = _bound(kind, month), _bound(kind, add_months(month, 1))
    create = f"CREATE TABLE {_q(name)} PARTITION OF {_q(table)} FOR VALUES FROM ({_literal(low)}) TO ({_literal(high)})"
    in_month = f"{_q(key)} >= %s AND {_q(key)} < %s"
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {_q(default)} WHERE {in_month})", [low, high])
    if not cursor.fetchone()[0]:
        cursor.execute(create)
        return name
    cursor.execute(f"ALTER TABLE {_q(table)} DETACH PARTITION {_q(default)}")
    cursor.execute(create)
    cursor.execute(f"INSERT INTO {_q(name)} SELECT * FROM {_q(default)} WHERE {in_month}", [low, high])
    cursor.execute(f"DELETE FROM {_q(default)} WHERE {in_month}", [low, high])
    cursor.execute(f"ALTER TABLE {_q(table)} ATTACH PARTITION {_q(default)} DEFAULT")
    return name


def partitions_ensure(*, months_ahead: int = 3, today: dt.date | None = None) -> list[str]:
    """Create the missing monthly partitions of every partitioned table, from the current local
    month to `months_ahead` months after it; idempotent. Returns the partitions created."""
    if not enabled():
        return []
    this_month = month_start(today or timezone.localdate())
    created = []
    for table, (key, kind) in partitioned_tables().items():
        if not may_alter(table):
            # The least-privilege application role: rows of a month without a partition go to
            # the default one (nothing lost); `epigrid partitions ensure` as the owner makes them.
            log.warning("partitions_ensure: role may not create partitions of %s", table)
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_q(table)} IN SHARE ROW EXCLUSIVE MODE")  # one creator at a time
            have = partitions(table)
            for n in range(months_ahead + 1):
                month = add_months(this_month, n)
                if month not in have:
                    created.append(_create_month(cursor, table, key, kind, month))
    return created


def partitions_drop_before(table: str, before, *, keep: Callable[[object, object], bool] | None = None) -> dict:
    """Drop the table's monthly partitions that end on or before `before` (a date for a date key,
    a datetime for a timestamp key), except those of which `keep(low, high)` says some row must
    stay. Returns {"partitions": dropped, "rows": their rows}. Call it inside the purge's
    transaction: a rollback brings the months back."""
    dropped = {"partitions": 0, "rows": 0}
    tables = partitioned_tables()
    if table not in tables or not may_alter(table):
        return dropped  # the caller's DELETE removes the rows (the application role owns no table)
    _, kind = tables[table]
    with connection.cursor() as cursor:
        for month, name in sorted(partitions(table).items()):
            low, high = _bound(kind, month), _bound(kind, add_months(month, 1))
            if high > before:
                break
            if keep is not None and keep(low, high):
                continue
            cursor.execute(f"SELECT count(*) FROM {_q(name)}")
            rows = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {_q(name)}")
            dropped["partitions"] += 1
            dropped["rows"] += rows
    return dropped


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
