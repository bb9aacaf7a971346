"""The retention purge from a page and the API (issue 14 §3): the operator sees the retention
settings and what the last dry run found, starts a dry run at once and the purge only after the
confirm step, each leading to its job's page; `POST /api/v1/purge` answers 202 with the job; no
one else may start either (403) and nothing is queued for them."""

import pytest
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.core.models import AuditEvent, Job, JobStatus
from epigrid.people import services as people_services
from epigrid.people.models import Person


@pytest.fixture
def due(world, settings):
    """李四 moved away, and the retention is over at once."""
    settings.RETENTION_DAYS = 0
    return people_services.person_archive(person=world.persons["p1b"], reason="搬去外地女儿家", principal=world.admin)


def _operator(world) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def test_the_operator_runs_a_dry_run_then_the_purge_after_confirming(world, due):
    client = _operator(world)
    page = client.get("/retention/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-setting="retention_days">0' in page and "data-no-dry-run" in page
    assert 'data-purge="dry-run"' in page and 'data-purge="purge"' in page

    # A dry run starts at once, counts, erases nothing; the page then shows its counts.
    response = client.post("/retention/start/", {"dry_run": "1"})
    dry = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{dry.pk}/"
    assert dry.status == JobStatus.DONE and dry.params["dry_run"] is True and dry.result["counts"]["persons"] == 1
    assert Person.objects.get(pk=due.pk).erased_at is None
    page = client.get("/retention/").content.decode()
    assert 'id="purge-report"' in page and 'data-count="persons">1<' in page and "李四" not in page

    # The purge asks first: the first post queues nothing and re-posts with confirm=1.
    ask = client.post("/retention/start/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = ask.content.decode()
    assert ask.status_code == 200 and 'data-testid="confirm-step"' in text and 'name="confirm" value="1"' in text
    assert "无法撤销" in text and Job.objects.count() == 1 and Person.objects.get(pk=due.pk).erased_at is None
    response = client.post("/retention/start/", {"confirm": "1"})
    purge = Job.objects.exclude(pk=dry.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{purge.pk}/"
    assert purge.status == JobStatus.DONE and purge.params["dry_run"] is False
    assert Person.objects.get(pk=due.pk).erased_at is not None
    assert AuditEvent.objects.filter(action="retention.purge").count() == 1


@pytest.mark.parametrize("name", ["commander", "secretary", "member1", "inspector", "norole"])
def test_no_one_else_sees_the_page_or_starts_a_purge(world, due, name):
    client = Client()
    client.force_login(world.users[name])
    assert client.get("/retention/").status_code == 403
    assert client.post("/retention/start/", {"dry_run": "1"}).status_code == 403
    assert client.post("/retention/start/").status_code == 403  # not even the confirm step
    assert client.post("/retention/start/", {"confirm": "1"}).status_code == 403
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users[name])}"}
    refused = Client().post("/api/v1/purge", {"dry_run": True}, content_type="application/json", **auth)
    assert refused.status_code == 403 and refused.json()["code"] == "purge_forbidden"
    assert not Job.objects.exists() and Person.objects.get(pk=due.pk).erased_at is None


def test_the_api_answers_202_with_the_job(world, due):
    from epigrid.accounts.permissions import console_verified

    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=console_verified(world.admin))}"}
    dry = client.post("/api/v1/purge", {"dry_run": True}, content_type="application/json", **auth)
    assert dry.status_code == 202, dry.content
    body = dry.json()
    assert body["kind"] == "retention_purge" and body["params"]["dry_run"] is True
    job = client.get(f"/api/v1/jobs/{body['id']}", **auth).json()
    assert job["status"] == "done" and job["result"]["counts"]["persons"] == 1
    assert Person.objects.get(pk=due.pk).erased_at is None
    purge = client.post("/api/v1/purge", {}, content_type="application/json", **auth)
    assert purge.status_code == 202 and purge.json()["params"]["dry_run"] is False
    assert Person.objects.get(pk=due.pk).erased_at is not None
    assert client.post("/api/v1/purge", {"dry": True}, content_type="application/json", **auth).status_code == 422


def test_the_rules_page_links_the_operator_alone_to_the_purge(world):
    operator = Client()
    operator.force_login(world.admin)
    page = operator.get("/health/rules/").content.decode()
    assert 'data-testid="rules-retention"' in page and 'href="/retention/"' in page
    commander = Client()
    commander.force_login(world.users["commander"])
    page = commander.get("/health/rules/")
    assert page.status_code == 200 and 'data-testid="rules-retention"' not in page.content.decode()
