"""The periodic sweep runs in a real Celery worker on Redis, against a real database file."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

BIN = Path(sys.executable).parent


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_celery_worker_runs_the_sweep(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"EPIGRID_VAR_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/15"})
    subprocess.run([BIN / "epigrid", "demo"], env=env, check=True, capture_output=True, timeout=300)
    worker = subprocess.Popen(
        [
            BIN / "celery",
            "-A",
            "epigrid.config.celery",
            "worker",
            "-P",
            "solo",
            "--loglevel",
            "WARNING",
            "-Q",
            f"sweep-test-{os.getpid()}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        script = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings');"
            "django.setup();"
            "from epigrid.config.celery import app;"
            f"r = app.send_task('epigrid.sweep', queue='sweep-test-{os.getpid()}');"
            "print(r.get(timeout=60))"
        )
        result = subprocess.run([BIN / "python", "-c", script], env=env, capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr
        assert "missed_slot_alerts" in result.stdout and "escalated_alerts" in result.stdout
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    time.sleep(0)
