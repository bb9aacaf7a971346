"""Four temperature reports a day, at city scale (issue: control and monitoring).

- ingest: one day of readings (4 per monitored person) through `temperature_reports_record` in
  batches of 5,000 (the API's batch cap), against a raw COPY of the same rows into the same table.
- sweep: the missed-slot sweep of one slot (`missed_slot_alerts_raise`) against the
  hand-written INSERT … SELECT doing the same work.
"""

import datetime as dt
import time
import uuid
from decimal import Decimal

import psycopg
from django.utils import timezone

from epigrid.accounts.models import User
from epigrid.alerts.models import Alert
from epigrid.health import services as health
from epigrid.health.models import TemperatureReport

from .report import line, note, verdict

MONITORED = {"small": 2_000, "full": 200_000}
BATCH = 5_000
INGEST_TARGET = 0.40  # ours at least 40 % of raw COPY's rate (issue 15 §2)
SWEEP_RATIO, SWEEP_SECONDS = 1.5, 5.0

RAW_SWEEP_SQL = """
INSERT INTO alerts_alert (kind, severity, status, dedup_key, person_id, grid_id, detail, owner_id, level,
                          raised_at, due_at, resolution)
SELECT 'missed_slot', 'normal', 'open', 'raw:' || o.person_id, o.person_id, o.grid_id, '{}'::jsonb,
       COALESCE(l.user_id, m.user_id), 0, %(now)s, %(due)s, ''
  FROM control_controlorder o
  JOIN people_person p ON p.id = o.person_id
  JOIN grids_gridnode g ON g.id = o.grid_id
  LEFT JOIN LATERAL (SELECT tm.user_id FROM control_teammember tm JOIN control_householdteam t ON t.id = tm.team_id
                      WHERE t.household_id = p.household_id AND tm.role = 'liaison' AND tm.ended_at IS NULL
                      ORDER BY tm.id LIMIT 1) l ON true
  LEFT JOIN LATERAL (SELECT a.user_id FROM accounts_gridassignment a JOIN grids_gridnode n ON n.id = a.node_id
                      WHERE n.path = substr(g.path, 1, 12) AND a.role = 'grid_member' AND a.ended_at IS NULL
                      ORDER BY a.id LIMIT 1) m ON true
 WHERE o.status IN ('active', 'release_proposed')
   AND o.kind IN ('home_quarantine', 'centralized_quarantine', 'health_monitoring')
   AND o.starts_at <= %(at)s
   AND NOT EXISTS (SELECT 1 FROM health_temperaturereport r
                    WHERE r.person_id = o.person_id AND r.local_date = %(day)s AND r.slot = %(slot)s)
ON CONFLICT (dedup_key) DO NOTHING
"""


def _monitor(raw: psycopg.Connection, n: int, starts_at: dt.datetime) -> list[int]:
    """Put the first n current persons under an order (set-based, as a city's would be)."""
    creator = User.objects.order_by("id").values_list("id", flat=True).first()
    raw.execute(
        """
        INSERT INTO control_controlorder (person_id, grid_id, kind, reason, status, site, transport, starts_at,
                                          days, ends_at, requires_negative_test, created_by_id, created_at)
        SELECT id, grid_id, CASE WHEN id %% 4 = 0 THEN 'health_monitoring' ELSE 'home_quarantine' END,
               'risk_area_arrival', 'active', '', '', %(starts)s, 14, %(starts)s + interval '14 days', false,
               %(creator)s, now()
          FROM people_person WHERE archived_at IS NULL ORDER BY id LIMIT %(n)s
        """,
        {"starts": starts_at, "creator": creator, "n": n},
    )
    raw.execute("ANALYZE control_controlorder")
    return [
        r[0]
        for r in raw.execute(
            "SELECT person_id FROM control_controlorder WHERE status = 'active' ORDER BY person_id"
        ).fetchall()
    ]


def run(scale, raw: psycopg.Connection) -> None:
    n = MONITORED[scale.name]
    pol = health.policy()
    day = timezone.localdate() - dt.timedelta(days=1)
    moments = [health.slot_moment(day, slot, pol) for slot in range(len(pol.slot_times))]
    now = moments[-1] + dt.timedelta(hours=3)
    note(f"monitoring: {n} persons under orders, {n * len(moments)} readings for {day}")
    person_ids = _monitor(raw, n, moments[0] - dt.timedelta(days=2))
    member = User.objects.filter(username__startswith="cmd-").first()  # the commander: whole city in scope

    readings = [
        (pid, f"36.{(pid + slot) % 9}", at + dt.timedelta(minutes=(pid % 60) - 30))
        for slot, at in enumerate(moments)
        for pid in person_ids
    ]
    grid_of = dict(raw.execute("SELECT id, grid_id FROM people_person WHERE id = ANY(%s)", [person_ids]).fetchall())

    # Raw: COPY the same rows, computed beforehand (the floor), then empty the table again.
    raw_rows = []
    for pid, value, at in readings:
        local_day, slot = health.slot_of(at, pol)
        raw_rows.append(
            (pid, grid_of[pid], Decimal(value), False, at, now, local_day, slot, "device", uuid.uuid4(), member.pk)
        )
    columns = ", ".join(health.READING_COLUMNS)
    start = time.perf_counter()
    with raw.cursor() as cursor, cursor.copy(f"COPY health_temperaturereport ({columns}) FROM STDIN") as copy:
        for row in raw_rows:
            copy.write_row(row)
    raw_seconds = time.perf_counter() - start
    raw.execute("TRUNCATE health_temperaturereport")

    start = time.perf_counter()
    stored = 0
    for i in range(0, len(readings), BATCH):
        batch = [health.Reading(pid, value, at, uuid.uuid4()) for pid, value, at in readings[i : i + BATCH]]
        stored += health.temperature_reports_record(readings=batch, source="device", principal=member, now=now).stored
    ours_seconds = time.perf_counter() - start
    ours_rate, raw_rate = len(readings) / ours_seconds, len(readings) / raw_seconds
    share = ours_rate / raw_rate
    complete = stored == len(readings)
    line(
        f"temperatures.ingest readings={len(readings)} stored={stored} batch={BATCH} ours={ours_rate:.0f} rows/s "
        f"raw_copy={raw_rate:.0f} rows/s ratio={share * 100:.1f}% target>={INGEST_TARGET * 100:.0f}%"
        f"{'' if complete else ' MISMATCH'} {verdict(share >= INGEST_TARGET and complete)}"
    )

    # Sweep: make every 10th person miss the 12:00 slot, then raise that slot's alerts.
    slot = 1
    raw.execute(
        "DELETE FROM health_temperaturereport WHERE local_date = %s AND slot = %s AND person_id %% 10 = 0", [day, slot]
    )
    raw.execute("ANALYZE health_temperaturereport")
    params = {"now": now, "due": now + dt.timedelta(minutes=30), "at": moments[slot], "day": day, "slot": slot}
    start = time.perf_counter()
    raw_count = raw.execute(RAW_SWEEP_SQL, params).rowcount
    raw_sweep = time.perf_counter() - start
    raw.execute("DELETE FROM alerts_alert")
    start = time.perf_counter()
    ours_count = health.missed_slot_alerts_raise(day=day, slot=slot, now=now)
    ours_sweep = time.perf_counter() - start
    ratio = ours_sweep / raw_sweep
    ok = ratio <= SWEEP_RATIO and ours_sweep < SWEEP_SECONDS and ours_count == raw_count
    line(
        f"temperatures.sweep monitored={n} missed={ours_count} ours={ours_sweep:.3f}s raw_sql={raw_sweep:.3f}s "
        f"ratio={ratio:.2f}x target<={SWEEP_RATIO:g}x,<{SWEEP_SECONDS:g}s"
        f"{'' if ours_count == raw_count else f' MISMATCH raw={raw_count}'} {verdict(ok)}"
    )
    # A rerun adds nothing (idempotent by dedup key) and is the cheap case.
    start = time.perf_counter()
    again = health.missed_slot_alerts_raise(day=day, slot=slot, now=now)
    line(f"temperatures.sweep_rerun added={again} seconds={time.perf_counter() - start:.3f}s {verdict(again == 0)}")
    assert Alert.objects.count() == ours_count and TemperatureReport.objects.exists()
