"""/healthz and /readyz (core/health.py): what a load balancer sees."""

import socket
import time

import pytest
import redis
from django.test import Client

from epigrid.core import health
from epigrid.core.tasks import heartbeat

LIVE_REDIS = "redis://127.0.0.1:6379/15"


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url(LIVE_REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nobody listens there


@pytest.fixture
def production_like(settings):
    settings.READY_NEEDS_WORKERS = True
    settings.CELERY_BROKER_URL = LIVE_REDIS
    yield settings
    if _redis_up():
        redis.Redis.from_url(LIVE_REDIS).delete(health.HEARTBEAT_KEY)


def test_healthz_answers_without_a_query(db, django_assert_num_queries):
    client = Client()
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": {"ok": True, "reason": "process up"}}}
    assert "Set-Cookie" not in response


@needs_redis
def test_readyz_200_when_everything_answers(db, production_like):
    heartbeat()  # what beat's schedule has a worker run
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "redis", "beat"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["beat"]["age_seconds"] < 5


def test_readyz_503_when_redis_is_down(db, production_like):
    production_like.CELERY_BROKER_URL = f"redis://127.0.0.1:{_dead_port()}/0"
    started = time.monotonic()
    response = Client().get("/readyz")
    assert time.monotonic() - started < 5, "a probe answers quickly, even no"
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "does not answer" in body["checks"]["redis"]["reason"]
    assert body["checks"]["beat"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


@needs_redis
def test_readyz_503_when_beat_was_not_seen_recently(db, production_like):
    production_like.READY_BEAT_MAX_AGE_SECONDS = 120
    health.stamp_heartbeat(now=time.time() - 600)
    response = Client().get("/readyz")
    assert response.status_code == 503
    beat = response.json()["checks"]["beat"]
    assert beat["ok"] is False and beat["reason"].startswith("beat last seen 6")
    assert beat["max_age_seconds"] == 120


@needs_redis
def test_readyz_503_when_beat_never_ran(db, production_like):
    redis.Redis.from_url(LIVE_REDIS).delete(health.HEARTBEAT_KEY)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert "beat never seen" in response.json()["checks"]["beat"]["reason"]


def test_demo_mode_says_workers_are_not_required(db, settings):
    settings.READY_NEEDS_WORKERS = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_dead_port()}/0"
    response = Client().get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False and checks["redis"]["required"] is False
    assert "not required" in checks["redis"]["reason"] and "not required" in checks["beat"]["reason"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"]


def test_readyz_503_when_a_migration_is_missing(db, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(app="core").order_by("-id").first().delete()
    response = Client().get("/readyz")
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["ok"] is False and migrations["pending"][0].startswith("core.")


def test_probes_skip_login_host_check_and_https_redirect(db, settings):
    settings.ALLOWED_HOSTS = ["epigrid.example.gov.cn"]
    settings.SECURE_SSL_REDIRECT = True
    settings.READY_NEEDS_WORKERS = False
    client = Client(HTTP_HOST="10.0.0.7:8000")  # a load balancer addresses the process by its IP
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/people/").status_code in (301, 400)  # a page still gets the usual treatment


def test_probes_show_nothing_of_the_data(world, settings):
    settings.READY_NEEDS_WORKERS = False
    anonymous = Client().get("/readyz")
    member = Client()
    member.force_login(world.users["member1"])
    logged_in = member.get("/readyz")
    assert anonymous.status_code == logged_in.status_code == 200
    assert anonymous.json()["checks"].keys() == logged_in.json()["checks"].keys()
    body = logged_in.content.decode()
    person = world.persons["p1"]
    assert person.name not in body and "member1" not in body


def test_beat_schedules_the_heartbeat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert entry["task"] == heartbeat.name == "epigrid.heartbeat"
    assert entry["schedule"] < settings.READY_BEAT_MAX_AGE_SECONDS
