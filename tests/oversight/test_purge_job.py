"""The retention purge as a background job (issue 14 §3): started by the operator, followed on its
job page (persons checked and erased of the total), ending with the counts; only the operator may
start it, and a dry run erases nothing."""

import pytest
from django.core.management import call_command
from django.test import Client

from epigrid.accounts.permissions import console_verified
from epigrid.core.errors import Forbidden
from epigrid.core.models import AuditEvent, Job
from epigrid.oversight import retention
from epigrid.people import services as people_services
from epigrid.people.models import Person


def _leave(world, key="p1b"):
    person = world.persons[key]
    return people_services.person_archive(person=person, reason="搬去外地女儿家", principal=world.admin)


@pytest.fixture
def due(world, settings):
    """李四 moved away, and the retention is over at once."""
    settings.RETENTION_DAYS = 0
    return _leave(world)


def test_the_purge_job_erases_and_reports_the_counts_with_its_progress(world, due):
    job = retention.purge_start(principal=console_verified(world.admin))
    job.refresh_from_db()
    assert job.status == "done", job.error
    assert job.result["dry_run"] is False and job.result["counts"]["persons"] == 1
    assert (job.rows_total, job.rows_checked, job.rows_written, job.percent) == (1, 1, 1, 100)
    assert Person.objects.get(pk=due.pk).erased_at is not None
    assert AuditEvent.objects.filter(action="retention.purge").count() == 1
    assert AuditEvent.objects.filter(action="job.done", object_id=str(job.pk)).exists()
    client = Client()
    client.force_login(world.admin)
    page = client.get(job.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="purge-report"' in page and 'data-count="persons">1<' in page
    assert "已清除的人员" in page and "李四" not in page


def test_a_dry_run_job_counts_and_erases_nothing(world, due):
    audited = AuditEvent.objects.filter(action="retention.purge").count()
    job = retention.purge_start(principal=console_verified(world.admin), dry_run=True)
    job.refresh_from_db()
    assert job.status == "done" and job.result["dry_run"] is True
    assert job.result["counts"]["persons"] == 1 and job.percent == 100
    assert Person.objects.get(pk=due.pk).erased_at is None
    assert AuditEvent.objects.filter(action="retention.purge").count() == audited


def test_only_the_operator_may_start_it(world, due):
    for user in (world.users["secretary"], world.users["member1"]):
        with pytest.raises(Forbidden):
            retention.purge_start(principal=user)
    assert not Job.objects.filter(kind="retention_purge").exists()
    assert Person.objects.get(pk=due.pk).erased_at is None


def test_the_command_starts_it_in_the_background_and_names_the_job(world, due, capsys):
    call_command("purge", "--background", "--user", world.admin.username)
    out = capsys.readouterr().out
    job = Job.objects.get(kind="retention_purge")
    assert out.strip() == f"job {job.pk} done: /jobs/{job.pk}/" and "李四" not in out
    assert Person.objects.get(pk=due.pk).erased_at is not None
