"""Retention by partition (issue 15 §4): two equal months of temperature readings (full 2,000,000
rows each, small 100,000), then one month dropped with its partition as the retention purge does
(`core.partitions.partitions_drop_before`: the exact row count for the audit, then DROP TABLE)
against a `DELETE FROM health_temperaturereport WHERE local_date in the other month` (the set-based
DELETE the purge runs on SQLite and for the cutoff's own month). Both commit; the emptied month's
partition is dropped afterwards, outside the clock. `BENCH_PARTITIONS_ROWS` sets another size.
"""

import datetime as dt
import os
import time

import psycopg

from epigrid.core import partitions

from .report import line, note, verdict

ROWS = {"small": 100_000, "full": 2_000_000}
TARGET = 10.0  # the drop at least 10x faster than the DELETE of the same rows
TABLE = "health_temperaturereport"
DROPPED, DELETED = dt.date(2025, 1, 1), dt.date(2025, 3, 1)  # 31 days each


def _fill(raw: psycopg.Connection, month: dt.date, rows: int) -> None:
    """`rows` readings spread over the month's days and the city's persons, in one INSERT … SELECT."""
    raw.execute(
        f"""
        WITH p AS (SELECT id, grid_id, row_number() OVER (ORDER BY id) - 1 AS k FROM people_person),
             n AS (SELECT count(*) AS c FROM p),
             g AS (SELECT i, %(month)s::date + (i %% 31) AS day FROM generate_series(0, %(rows)s - 1) i)
        INSERT INTO {TABLE} (person_id, grid_id, value, is_fever, measured_at, received_at, local_date,
                             slot, source, client_id, reported_by_id)
        SELECT p.id, p.grid_id, 36.5, false, (g.day + time '08:00') AT TIME ZONE 'Asia/Shanghai',
               (g.day + time '08:01') AT TIME ZONE 'Asia/Shanghai', g.day, 0, 'device', gen_random_uuid(), NULL
        FROM g, n, p WHERE p.k = g.i %% n.c
        """,
        {"month": month, "rows": rows},
    )


def _wal(raw: psycopg.Connection) -> int:
    return int(raw.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0])


def run(scale, raw: psycopg.Connection) -> None:
    rows = int(os.environ.get("BENCH_PARTITIONS_ROWS", ROWS[scale.name]))
    started = time.perf_counter()
    created = partitions.partitions_ensure(months_ahead=2, today=DROPPED)  # Jan, Feb, Mar 2025
    note(f"partitions: created {', '.join(created)}")
    for month in (DROPPED, DELETED):
        _fill(raw, month, rows)
    raw.execute(f"ANALYZE {TABLE}")
    note(f"partitions: two months of {rows} readings filled in {time.perf_counter() - started:.0f}s")

    raw.execute("CHECKPOINT")  # the months as if written long ago: nothing of them dirty
    lsn = _wal(raw)
    start = time.perf_counter()
    with raw.transaction():
        deleted = raw.execute(
            f"DELETE FROM {TABLE} WHERE local_date >= %s AND local_date < %s",
            [DELETED, partitions.add_months(DELETED, 1)],
        ).rowcount
    delete_seconds = time.perf_counter() - start
    delete_wal = _wal(raw) - lsn
    # What the DELETE leaves: dead rows a VACUUM must clear (autovacuum, later; timed here).
    start = time.perf_counter()
    raw.execute(f"VACUUM {TABLE}_p{DELETED:%Y%m}")
    vacuum_seconds = time.perf_counter() - start

    # The exact count the purge audits is part of the drop; timed once alone as well.
    start = time.perf_counter()
    raw.execute(f"SELECT count(*) FROM {TABLE}_p{DROPPED:%Y%m}").fetchone()
    count_seconds = time.perf_counter() - start

    lsn = _wal(raw)
    start = time.perf_counter()
    dropped = partitions.partitions_drop_before(TABLE, partitions.add_months(DROPPED, 1))
    drop_seconds = time.perf_counter() - start
    drop_wal = _wal(raw) - lsn

    partitions.partitions_drop_before(TABLE, partitions.add_months(DELETED, 1))  # Feb (empty) and Mar, now empty
    ok = dropped["rows"] == deleted == rows and dropped["partitions"] == 1
    ratio = delete_seconds / drop_seconds if drop_seconds else float("inf")
    line(
        f"retention.drop_month rows={rows} drop={drop_seconds * 1000:.1f}ms "
        f"(count alone={count_seconds * 1000:.1f}ms) "
        f"delete={delete_seconds * 1000:.1f}ms (then vacuum={vacuum_seconds * 1000:.1f}ms) "
        f"wal drop={drop_wal / 1e6:.2f}MB delete={delete_wal / 1e6:.1f}MB "
        f"ratio={ratio:.1f}x (delete/drop, target >= {TARGET:.0f}x)"
        f"{'' if ok else f' MISMATCH(dropped={dropped} deleted={deleted})'} {verdict(ok and ratio >= TARGET)}"
    )
