"""Probes for load balancers and orchestrators: GET /healthz and GET /readyz (docs/deploy.md).

- /healthz: the process is up and answers. No database query, no Redis: a load balancer that
  restarts on a failing liveness probe must not restart every web process because the database
  is down.
- /readyz: the process can serve: the database answers, every migration is applied, Redis (the
  Celery broker) answers and Celery beat was seen recently (the heartbeat task below, run by a
  worker on beat's schedule, so a fresh heartbeat means beat, the broker and a worker all work).

Both answer JSON — each check with ok true/false and a reason, never personal data — with 200
when every required check is ok, else 503. They are answered by `HealthCheckMiddleware`, first in
MIDDLEWARE, before any other middleware runs: no login, no session cookie, no HTTPS redirect, no
host check (a probe addresses the process by its IP), no request log line (probes every few
seconds would drown the real lines).

Redis and beat are required where background work is expected (settings.READY_NEEDS_WORKERS,
EPIGRID_READY_NEEDS_WORKERS; by default when the outbox is drained by a worker, i.e. in
production). In the demo and in development the sweeps run in-process and nothing needs Redis:
the checks are still made, reported with "required": false, and do not fail the probe.
"""

import json
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
HEARTBEAT_KEY = "epigrid:beat:heartbeat"
_REDIS_TIMEOUT = 1.0  # seconds, connect and read: a probe must answer quickly, even "no"
_REDIS_SCHEMES = ("redis", "rediss", "unix")

# Once every migration was found applied, this process need not look again: migrations are only
# ever added by a deployment, which starts new processes with the new code.
_migrations_applied = False


def _redis_client():
    import redis

    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=_REDIS_TIMEOUT, socket_timeout=_REDIS_TIMEOUT
    )


def _broker_is_redis() -> bool:
    return urlsplit(settings.CELERY_BROKER_URL).scheme in _REDIS_SCHEMES


def stamp_heartbeat(now: float | None = None) -> float:
    """Writes the beat heartbeat (a Unix time) into Redis at the broker's address. Kept a day, so
    a stale stamp says how long ago beat was last seen rather than nothing at all."""
    now = time.time() if now is None else now
    _redis_client().set(HEARTBEAT_KEY, repr(now), ex=86400)
    return now


def _check(ok: bool, reason: str, **extra) -> dict:
    return {"ok": ok, "reason": reason, **extra}


def check_database() -> dict:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # whatever the driver raises: the probe answers, never a 500
        return _check(False, f"database does not answer: {type(error).__name__}")
    return _check(True, "database answers")


def check_migrations() -> dict:
    global _migrations_applied
    if _migrations_applied:
        return _check(True, "all migrations applied")
    try:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return _check(False, f"migration state unreadable: {type(error).__name__}")
    if pending:
        names = sorted({f"{migration.app_label}.{migration.name}" for migration, _backwards in pending})
        return _check(False, f"{len(names)} migration(s) not applied: run `epigrid migrate`", pending=names[:20])
    _migrations_applied = True
    return _check(True, "all migrations applied")


def check_redis() -> dict:
    if not _broker_is_redis():
        return _check(True, "the Celery broker is not Redis: not checked")
    try:
        _redis_client().ping()
    except Exception as error:  # redis.RedisError, OSError, a bad URL
        return _check(False, f"Redis (the Celery broker) does not answer: {type(error).__name__}")
    return _check(True, "Redis (the Celery broker) answers")


def check_beat(now: float | None = None) -> dict:
    max_age = settings.READY_BEAT_MAX_AGE_SECONDS
    if not _broker_is_redis():
        return _check(True, "the Celery broker is not Redis: beat's heartbeat not checked")
    try:
        raw = _redis_client().get(HEARTBEAT_KEY)
    except Exception as error:
        return _check(False, f"beat's heartbeat unreadable, Redis does not answer: {type(error).__name__}")
    if raw is None:
        reason = "beat never seen: no heartbeat in Redis (are `celery beat` and a worker running?)"
        return _check(False, reason, max_age_seconds=max_age)
    try:
        age = max(0.0, (time.time() if now is None else now) - float(raw))
    except ValueError:
        return _check(False, "beat's heartbeat is not a time", max_age_seconds=max_age)
    age_seconds = round(age, 1)
    if age > max_age:
        return _check(
            False, f"beat last seen {age_seconds:.0f} s ago", age_seconds=age_seconds, max_age_seconds=max_age
        )
    return _check(True, "beat seen recently", age_seconds=age_seconds, max_age_seconds=max_age)


def readiness() -> tuple[bool, dict]:
    """(ready, the checks): ready when every required check is ok."""
    needs_workers = settings.READY_NEEDS_WORKERS
    checks = {"database": check_database()}
    checks["migrations"] = (
        check_migrations() if checks["database"]["ok"] else _check(False, "not checked: the database does not answer")
    )
    for name, check in (("redis", check_redis), ("beat", check_beat)):
        result = check()
        result["required"] = needs_workers
        if not needs_workers:
            result["reason"] += " (not required: EPIGRID_READY_NEEDS_WORKERS is off, the sweeps run in-process)"
        checks[name] = result
    ready = all(check["ok"] for check in checks.values() if check.get("required", True))
    return ready, checks


def _json(body: dict, status: int) -> HttpResponse:
    response = HttpResponse(json.dumps(body), content_type="application/json", status=status)
    response["Cache-Control"] = "no-store"
    return response


def healthz() -> HttpResponse:
    return _json({"status": "ok", "checks": {"process": _check(True, "process up")}}, 200)


def readyz() -> HttpResponse:
    ready, checks = readiness()
    return _json({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers GET/HEAD /healthz and /readyz before anything else runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            if request.path_info == HEALTH_PATH:
                return healthz()
            if request.path_info == READY_PATH:
                return readyz()
        return self.get_response(request)
