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

        # The transactional outbox: an order commits its household's hand-off (the next day's
        # service tasks) without doing it; the worker's drain task carries it out.
        queued = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings');"
            "django.setup();"
            "from epigrid.accounts.models import User;"
            "from epigrid.control import services;"
            "from epigrid.core.models import OutboxMessage;"
            "from epigrid.people.models import Household;"
            "h = Household.objects.filter(members__isnull=False)"
            ".exclude(members__control_orders__isnull=False).first();"
            "services.control_orders_start_household(household=h, kind='home_quarantine', reason='other',"
            " principal=User.objects.get(username='admin'));"
            "m = OutboxMessage.objects.get(topic='care.materialize', done_at=None); print(m.pk)"
        )
        no_inline = {**env, "EPIGRID_OUTBOX_INLINE": "0", "CELERY_BROKER_URL": "memory://"}
        made = subprocess.run([BIN / "python", "-c", queued], env=no_inline, capture_output=True, text=True, timeout=90)
        assert made.returncode == 0, made.stderr
        drained = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings');"
            "django.setup();"
            "from epigrid.config.celery import app;"
            "from epigrid.core.models import OutboxMessage;"
            f"print(app.send_task('epigrid.drain_outbox', queue='sweep-test-{os.getpid()}').get(timeout=60));"
            f"print(OutboxMessage.objects.get(pk={int(made.stdout.split()[-1])}).done_at is not None)"
        )
        result = subprocess.run([BIN / "python", "-c", drained], env=env, capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-2:] == ["1", "True"]

        # A background job (core.jobs): the community office's ledger, queued by a web process
        # whose broker message is lost, run by the worker's task; the report is on the job.
        job_queued = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings');"
            "django.setup();"
            "from epigrid.accounts.models import User;"
            "from epigrid.accounts.permissions import console_verified;"
            "from epigrid.grids.models import GridNode;"
            "from epigrid.people import ledgers;"
            "u = console_verified(User.objects.get(username='community'));"
            "out, _ = ledgers.ledger_export(kind='residents', node=GridNode.objects.get(code='JZXC-HYL'), principal=u);"
            "job = ledgers.ledger_import_start(data=out.read(), file_name='a.xlsx', kind='residents', principal=u);"
            "print(job.pk, job.status)"
        )
        celery_jobs = {**no_inline, "EPIGRID_JOBS_RUNNER": "celery"}
        made = subprocess.run([BIN / "python", "-c", job_queued], env=celery_jobs, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        job_id, status = made.stdout.split()[-2:]
        assert status == "queued"
        ran = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings');"
            "django.setup();"
            "from epigrid.config.celery import app;"
            "from epigrid.core.models import Job;"
            f"print(app.send_task('epigrid.run_job', args=[{int(job_id)}], queue='sweep-test-{os.getpid()}')"
            ".get(timeout=120));"
            f"j = Job.objects.get(pk={int(job_id)}); print(j.result['created'], j.result['unchanged'] > 200)"
        )
        result = subprocess.run([BIN / "python", "-c", ran], env=env, capture_output=True, text=True, timeout=150)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-3:] == ["done", "0", "True"]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    time.sleep(0)
