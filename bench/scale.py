"""More processes on one machine (issue 15 §5): the gate scan and the resident's personal-link
report, each closed loop from 50 clients, against gunicorn with 1, 2 and 4 workers, while two
Celery worker processes run the periodic sweep over and over on the same database. Each figure is
the throughput at that worker count and its ratio to one worker; the CPU seconds that gunicorn,
PostgreSQL and Celery spent meanwhile (read from /proc) say where the ceiling is on this machine.

Small mode sends 150 requests per figure, full 3,000.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import redis
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from epigrid.accounts.models import User
from epigrid.accounts.permissions import console_verified
from epigrid.accounts.services import api_token_issue
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass
from epigrid.grids.models import GridNode
from epigrid.health import services as health
from epigrid.people.models import Person

from .city import ROOT_CODE, grid_code
from .gates import DEADLINE_SECONDS, WARMUP, _free_port, _hammer, _request, _start_server, _stop_server, _wait_ready
from .report import line, ms, note

WORKER_COUNTS = (1, 2, 4)
REQUESTS = {"small": 150, "full": 3_000}
SWEEP_QUEUE = f"bench-sweeps-{os.getpid()}"
SWEEP_REDIS = "redis://127.0.0.1:6379/14"
TICKS = os.sysconf("SC_CLK_TCK")
SWEEP_EVERY = 10.0  # seconds: twelve times as often as production's beat (EPIGRID_SWEEP_SECONDS=120)


def _cpu_seconds(name_part: str) -> float:
    """User+system CPU seconds of every process whose command line contains `name_part`."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if name_part not in cmdline:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return total / TICKS


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / TICKS


def _cpu_snapshot() -> dict[str, float]:
    database = connection.settings_dict["NAME"]
    return {
        "gunicorn": _cpu_seconds("epigrid.config.wsgi"),
        # The backends of the bench database only ("postgres: user db host(port) state").
        "postgres": _cpu_seconds(f" {database} "),
        "celery": _cpu_seconds(SWEEP_QUEUE),
        "machine": _machine_busy_seconds(),
    }


def _start_sweeps(log) -> tuple[subprocess.Popen | None, threading.Event]:
    """Two Celery worker processes on a queue of their own, sent the sweep every SWEEP_EVERY s."""
    stop = threading.Event()
    try:
        redis.Redis.from_url(SWEEP_REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        note("scale: Redis is not running on 127.0.0.1:6379: no Celery workers meanwhile")
        return None, stop
    env = {**os.environ, "REDIS_URL": SWEEP_REDIS}
    worker = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "epigrid.config.celery",
            "worker",
            "-c",
            "2",
            "-Q",
            SWEEP_QUEUE,
            "--loglevel",
            "WARNING",
            "-n",
            f"{SWEEP_QUEUE}@%h",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def send():
        from celery import Celery

        app = Celery(broker=SWEEP_REDIS)
        while not stop.wait(SWEEP_EVERY):
            app.send_task("epigrid.sweep", queue=SWEEP_QUEUE)

    threading.Thread(target=send, daemon=True).start()
    return worker, stop


def run(scale, raw: psycopg.Connection) -> None:
    count = REQUESTS[scale.name]
    commander = User.objects.get(username=f"cmd-{ROOT_CODE}")
    # A token issued at the console with the commander's device counts as verified (as in gates).
    TOTPDevice.objects.get_or_create(user=commander, name="bench", defaults={"confirmed": True})
    commander = console_verified(commander)
    compound = GridNode.objects.get(code=grid_code(1, 2))
    checkpoint = services.checkpoint_open(grid=compound, name="南门", principal=commander)
    services.passes_issue(grid=compound, principal=commander)
    numbers = list(
        HouseholdPass.objects.filter(grid__path__startswith=compound.path, revoked_at__isnull=True).values_list(
            "number", flat=True
        )
    )
    token = api_token_issue(user=commander)
    residents = Person.objects.current().filter(grid__path__startswith=compound.path).order_by("pk")[:200]
    links = [health.resident_link_issue(person=person, principal=commander) for person in residents]
    path = f"/api/v1/checkpoints/{checkpoint.pk}/scan"

    def scan(i: int) -> bool:
        body = {"number": numbers[i % len(numbers)], "direction": "in" if i % 2 else "out", "temperature": 36.5}
        return _request(port, "POST", path, token, body)[0] == 200

    def report(i: int) -> bool:
        return (
            _request(port, "POST", f"/api/v1/resident/{links[i % len(links)]}/temperature", "", {"value": "36.5"})[0]
            == 200
        )

    results: dict[int, dict] = {}
    with tempfile.TemporaryFile() as celery_log:
        sweeps, stop = _start_sweeps(celery_log)
        try:
            for workers in WORKER_COUNTS:
                port = _free_port()
                with tempfile.TemporaryFile() as log:
                    server = _start_server(port, log, workers)
                    try:
                        _wait_ready(server, port, token, log)
                        for i in range(WARMUP):  # a failure here is not counted: the figure is below
                            for warm in (scan, report):
                                try:
                                    warm(i)
                                except OSError:
                                    pass
                        before, wall = _cpu_snapshot(), time.perf_counter()
                        scans, scan_errors, scan_done, scan_seconds = _hammer(
                            count, time.monotonic() + DEADLINE_SECONDS, scan
                        )
                        reports, report_errors, report_done, report_seconds = _hammer(
                            count, time.monotonic() + DEADLINE_SECONDS, report
                        )
                        after, wall = _cpu_snapshot(), time.perf_counter() - wall
                    finally:
                        _stop_server(server)
                results[workers] = {
                    "scans": scan_done / scan_seconds,
                    "scan_p99": scans.p99,
                    "reports": report_done / report_seconds,
                    "report_p99": reports.p99,
                    "errors": scan_errors + report_errors,
                    "cpu": {k: (after[k] - before[k]) / wall for k in after},
                    # CPU time per request, which load elsewhere on the machine hardly changes:
                    # the figure to size a city's processes with (docs/scaling.md).
                    "per_request": {
                        k: (after[k] - before[k]) / max(1, scan_done + report_done) for k in ("gunicorn", "postgres")
                    },
                }
        finally:
            stop.set()
            if sweeps is not None:
                _stop_server(sweeps)
                if sweeps.returncode not in (0, -15, 1):
                    celery_log.seek(0)
                    note(f"celery exited {sweeps.returncode}: {celery_log.read().decode()[-800:]}")

    one = results[WORKER_COUNTS[0]]
    for workers, r in results.items():
        cpu = r["cpu"]
        line(
            f"scale.workers={workers} cores={os.cpu_count()} scans={r['scans']:.0f} req/s "
            f"(x{r['scans'] / one['scans']:.2f} of 1 worker, p99={ms(r['scan_p99'])}) reports={r['reports']:.0f} req/s "
            f"(x{r['reports'] / one['reports']:.2f}, p99={ms(r['report_p99'])}) errors={r['errors']} "
            f"cpu_cores_busy: gunicorn={cpu['gunicorn']:.2f} postgres={cpu['postgres']:.2f} "
            f"celery={cpu['celery']:.2f} machine={cpu['machine']:.2f} "
            f"cpu_per_request: web={ms(r['per_request']['gunicorn'])} db={ms(r['per_request']['postgres'])} "
            f"{'OK' if r['errors'] == 0 else 'ERRORS'}"
        )
    busiest = max(results.values(), key=lambda r: r["scans"])["cpu"]
    ours = busiest["gunicorn"] + busiest["postgres"] + busiest["celery"]
    others = max(0.0, busiest["machine"] - ours)  # this client's threads, and anything else running
    share = {k: busiest[k] / max(ours, 1e-9) for k in ("gunicorn", "postgres", "celery")}
    cores = os.cpu_count() or 1
    if busiest["machine"] < 0.85 * cores:
        ceiling = "not the CPU (waiting: locks, I/O or the clients)"
    elif others > 0.25 * cores:
        ceiling = f"the CPU, shared with other work ({others:.2f} cores not the server's): re-run on a quiet machine"
    else:
        ceiling = "the CPU: " + ("PostgreSQL" if share["postgres"] > share["gunicorn"] else "the web workers (Python)")
    line(
        f"scale.ceiling cores={cores} machine_busy={busiest['machine']:.2f} server={ours:.2f} cores "
        f"(gunicorn {share['gunicorn']:.0%}, postgres {share['postgres']:.0%}, celery {share['celery']:.0%}) "
        f"others={others:.2f} ceiling={ceiling} OK"
    )
