"""Concurrent audited writers (issue 15 §5: the audit log must not be the serial point).

Every service write appends to the hash chain under its one locked head row. Processes (not
threads: one process runs one thread of Python at a time) each send a grid member's temperature
reports, one reading a call, for a fixed time: writes/s and p99 with 1 process and with 8. The raw
side runs the same statements a write needs through bare psycopg in 8 processes — the reading's
INSERT, then the chain's append (lock the head, insert the row with its HMAC, move the head) on
tables of its own — the floor of a design with one head row.
"""

import hashlib
import hmac
import json
import multiprocessing
import time
import uuid

import psycopg
from django.db import connections
from django.utils import timezone

from epigrid.people.models import Person

from .imports import _reporter
from .report import Samples, line, ms, note, verdict

PROCESSES = 8
# The head is not the serial point while the raw writers, with the same lock, reach at least
# twice what ours reach: our writers are held by their own work, not by the chain.
HEADROOM = 2.0
RAW_TABLES = """
CREATE TABLE IF NOT EXISTS bench_chain_event (LIKE core_auditevent INCLUDING DEFAULTS);
CREATE TABLE IF NOT EXISTS bench_chain_head (id int PRIMARY KEY, last_id bigint NOT NULL, last_hash text NOT NULL);
INSERT INTO bench_chain_head VALUES (1, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
"""
READING = """
INSERT INTO health_temperaturereport (person_id, grid_id, value, is_fever, measured_at, received_at, local_date,
  slot, source, client_id, reported_by_id)
VALUES (%s, %s, 36.6, false, now(), now(), current_date, NULL, 'liaison', %s, NULL)
"""
APPEND = """
INSERT INTO bench_chain_event (id, occurred_at, actor_id, actor_label, action, object_type, object_id, grid_path,
  changes, remote_addr, request_id, channel, prev_hash, hash, key_version)
VALUES (%s, now(), NULL, 'bench', 'temperatures.record', 'health.temperaturereport', '', '',
  %s, NULL, '', '', %s, %s, 1)
"""


def _ours(index: int, seconds: float, out) -> None:
    connections.close_all()  # the parent's connections are not this process's
    write = _reporter(grid=1 + index % 10)
    write()
    took, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        took.append(write())
    out.put(took)


def _raw(index: int, seconds: float, dsn: str, person: tuple[int, int], out) -> None:
    changes = json.dumps({"stored": [None, 1], "source": [None, "liaison"], "fevers": [None, 0]})
    key = b"bench-audit-key"
    took = []
    with psycopg.connect(dsn) as conn:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(READING, [person[0], person[1], uuid.uuid4()])
                cursor.execute("SELECT last_id, last_hash FROM bench_chain_head WHERE id = 1 FOR UPDATE")
                last_id, last_hash = cursor.fetchone()
                digest = hmac.new(key, f"{last_id + 1}{changes}{last_hash}".encode(), hashlib.sha256).hexdigest()
                cursor.execute(APPEND, [last_id + 1, changes, last_hash, digest])
                cursor.execute(
                    "UPDATE bench_chain_head SET last_id = %s, last_hash = %s WHERE id = 1", [last_id + 1, digest]
                )
            took.append(time.perf_counter() - start)
    out.put(took)


def _run(target, processes: int, args: tuple) -> tuple[float, Samples]:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    connections.close_all()
    workers = [context.Process(target=target, args=(i, *args, out)) for i in range(processes)]
    for worker in workers:
        worker.start()
    took = Samples()
    for _ in workers:
        took.seconds.extend(out.get())
    for worker in workers:
        worker.join()
    return len(took.seconds), took


def run(scale, raw_conn) -> None:
    seconds = 20.0 if scale.name == "full" else 5.0
    with raw_conn.cursor() as cursor:
        cursor.execute(RAW_TABLES)
    person = Person.objects.filter(archived_at__isnull=True).values_list("pk", "grid_id").first()
    figures = {}
    for label, target, processes, args in (
        ("ours_1", _ours, 1, (seconds,)),
        ("ours_8", _ours, PROCESSES, (seconds,)),
        ("raw_8", _raw, PROCESSES, (seconds, raw_conn.info.dsn, person)),
    ):
        note(f"audit: {label} for {seconds:g} s")
        started = timezone.now()
        count, took = _run(target, processes, args)
        figures[label] = (count / seconds, took)
        note(f"audit: {label} {count} writes since {started:%H:%M:%S}")
    one, eight, raw = (figures[k] for k in ("ours_1", "ours_8", "raw_8"))
    headroom = raw[0] / eight[0]
    line(
        f"audit.concurrent processes=1 writes/s={one[0]:.0f} p99={ms(one[1].p99)} "
        f"processes={PROCESSES} writes/s={eight[0]:.0f} p50={ms(eight[1].p50)} p99={ms(eight[1].p99)} "
        f"scaling={eight[0] / one[0]:.2f}x head_ceiling(raw_{PROCESSES})={raw[0]:.0f}/s p99={ms(raw[1].p99)} "
        f"headroom={headroom:.1f}x target>={HEADROOM:g}x {verdict(headroom >= HEADROOM)}"
    )
