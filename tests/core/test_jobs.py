"""Background jobs (core.jobs): a ledger import queued from the page or the API runs as a job,
reports its progress and its per-row report, can be cancelled (writing nothing), and is seen only
by whoever started it (and by readers of the audit log over its grids)."""

import pytest
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.core import jobs
from epigrid.core.errors import Conflict, Forbidden, NotFound
from epigrid.core.models import AuditEvent, ImportBatch, Job, JobStatus
from epigrid.people import ledgers
from epigrid.people.models import Household, Person
from tests.people.test_ledgers import HEADER, resident_rows, xlsx


@pytest.fixture
def g3(world):
    from epigrid.grids import services as grid_services
    from epigrid.grids.choices import GridLevel

    grid = grid_services.grid_node_create(
        parent=world.nodes["S-C"], code="S-C-G3", name="第3网格", level=GridLevel.GRID, principal=world.admin
    )
    return grid_services.grid_node_create(
        parent=grid, code="S-C-G3-B1", name="3号楼", level=GridLevel.BUILDING, principal=world.admin
    )


def start(world, rows, user="staff", name="台账.xlsx") -> Job:
    return ledgers.ledger_import_start(
        data=xlsx([HEADER, *rows]), file_name=name, kind="residents", principal=world.users[user]
    )


def test_an_import_job_runs_to_its_report(world, g3):
    rows = resident_rows(7)
    job = start(world, rows)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert (job.rows_total, job.rows_checked, job.rows_written) == (7, 7, 7)
    assert job.started_at and job.finished_at and job.percent == 100
    result = job.result
    assert (result["created"], result["updated"], result["unchanged"], result["refused"]) == (7, 0, 0, 0)
    assert [r["row"] for r in result["rows"]] == list(range(2, 9))  # sorted by row number
    assert Person.objects.filter(pk__in=[r["person_id"] for r in result["rows"]]).count() == 7
    assert ImportBatch.objects.get(pk=result["batch"]).row_count == 7
    assert not job.upload  # the uploaded file (personal data) is gone once the job ended
    events = AuditEvent.objects.filter(object_type="core.job", object_id=str(job.pk))
    actions = list(events.values_list("action", "actor_label"))
    assert actions == [("job.running", "system:jobs"), ("job.done", "system:jobs")]


def test_a_refused_file_fails_the_job_with_every_bad_row_and_writes_nothing(world, g3):
    rows = resident_rows(5)
    rows[2][4] = "110101199001011234"  # a bad check digit
    rows[4][0] = "NOPE"
    persons = Person.objects.count()
    job = start(world, rows)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error["code"] == "import_rejected" and job.error["refused"] == 2
    assert [r["row"] for r in job.error["rows"]] == [4, 6]
    assert job.rows_written == 0 and Person.objects.count() == persons
    assert not job.upload


def test_cancel_between_chunks_leaves_no_rows(world, g3, monkeypatch):
    monkeypatch.setattr(ledgers, "CHUNK", 10)
    rows = resident_rows(35)
    persons, households = Person.objects.count(), Household.objects.count()
    batches = ImportBatch.objects.count()
    seen = []
    step = jobs.Progress.step

    def the_user_presses_cancel(self, *, checked, written):
        seen.append((checked, written))
        if len(seen) == 2:  # after the second chunk was written
            jobs.job_cancel(job=self.job, principal=world.users["staff"])
        return step(self, checked=checked, written=written)

    monkeypatch.setattr(jobs.Progress, "step", the_user_presses_cancel)
    job = start(world, rows)
    job.refresh_from_db()
    assert seen == [(10, 10), (20, 20)]  # it wrote two chunks, then stopped at the flag
    assert job.status == JobStatus.CANCELLED and job.finished_at
    assert job.rows_written == 0 and job.result == {}
    assert (Person.objects.count(), Household.objects.count()) == (persons, households)
    assert ImportBatch.objects.count() == batches  # not even the batch record
    assert not job.upload


def test_a_queued_job_is_cancelled_at_once_and_never_runs(world, g3, settings):
    settings.JOBS_RUNNER = "thread"  # a test's transaction never commits: it stays queued
    job = start(world, resident_rows(3))
    assert job.status == JobStatus.QUEUED and job.upload
    job = jobs.job_cancel(job=job, principal=world.users["staff"])
    assert job.status == JobStatus.CANCELLED and not job.upload
    persons = Person.objects.count()
    jobs.run(job.pk)
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED and Person.objects.count() == persons
    with pytest.raises(Conflict):
        jobs.job_cancel(job=job, principal=world.users["staff"])


def test_progress_is_written_while_the_job_runs(world, g3, monkeypatch):
    """Between chunks the row (or, inside an open SQLite transaction, the cache) has the counts."""
    monkeypatch.setattr(ledgers, "CHUNK", 10)
    seen = []
    step = jobs.Progress.step

    def look(self, *, checked, written):
        step(self, checked=checked, written=written)
        job = jobs.live(Job.objects.get(pk=self.job.pk))
        seen.append((job.status, job.rows_total, job.rows_checked, job.rows_written))

    monkeypatch.setattr(jobs.Progress, "step", look)
    start(world, resident_rows(25))
    assert seen == [("running", 25, 10, 10), ("running", 25, 20, 20), ("running", 25, 25, 25)]


def test_who_sees_a_job(world, g3):
    job = start(world, resident_rows(2))
    staff, staff_job = world.users["staff"], Job.objects.get(pk=job.pk)
    assert staff_job.grid_path == world.nodes["S-C"].path  # where staff may import
    assert jobs.job_get(user=staff, pk=job.pk).pk == job.pk
    # A reader of the audit log over 建新社区 sees it, may not cancel it.
    inspector = world.users["inspector"]
    assert jobs.job_get(user=inspector, pk=job.pk).pk == job.pk
    assert not jobs.may_cancel(inspector, staff_job)
    # Nobody else: a grid member of that community, a user without a role.
    for name in ("member1", "norole", "head1"):
        with pytest.raises(NotFound):
            jobs.job_get(user=world.users[name], pk=job.pk)
        assert not jobs.job_list(user=world.users[name]).exists()
    with pytest.raises(NotFound):
        jobs.job_get(user=staff, pk="x")


def test_only_the_starter_cancels(world, g3, settings):
    settings.JOBS_RUNNER = "thread"
    job = start(world, resident_rows(2))
    with pytest.raises(Forbidden):
        jobs.job_cancel(job=job, principal=world.users["inspector"])
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


# ---------------------------------------------------------------- pages


def _login(world, name):
    client = Client()
    client.force_login(world.users[name])
    return client


def test_the_page_uploads_and_the_job_page_shows_the_report(world, g3):
    client = _login(world, "staff")
    page = client.get("/people/import/")
    assert b"data-busy-form" in page.content and b"epigrid/busy.js" in page.content
    upload = _file([HEADER, *resident_rows(4)])
    response = client.post("/people/import/", {"kind": "residents", "file": upload})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in page and 'data-count="created">4<' in page
    assert "hx-trigger" not in page  # ended: no more polling
    assert page.count('data-outcome="created"') == 4
    # The poll answers the progress card alone.
    card = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert card.startswith('<section class="card" id="job-progress"') and "<html" not in card
    listing = client.get("/jobs/").content.decode()
    assert f'href="/jobs/{job.pk}/"' in listing
    # The import page lists it among the user's recent imports.
    assert f'href="/jobs/{job.pk}/"' in client.get("/people/import/").content.decode()


def test_a_running_job_page_polls_and_offers_cancel(world, g3, settings):
    settings.JOBS_RUNNER = "thread"
    job = start(world, resident_rows(2))
    client = _login(world, "staff")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and f'action="/jobs/{job.pk}/cancel/"' in page
    # The inspector follows it but gets no cancel button, and a cancel is refused.
    inspector = _login(world, "inspector")
    page = inspector.get(f"/jobs/{job.pk}/").content.decode()
    assert "hx-trigger" in page and "/cancel/" not in page
    assert inspector.post(f"/jobs/{job.pk}/cancel/").status_code == 403
    assert _login(world, "member1").get(f"/jobs/{job.pk}/").status_code == 404
    response = client.post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    # An ended job: back to its page with the reason.
    again = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert again.status_code == 200 and "这项任务已经结束。" in again.content.decode()


def test_a_refused_file_shows_its_rows_on_the_job_page(world, g3):
    rows = resident_rows(3)
    rows[1][0] = "NOPE"
    client = _login(world, "staff")
    response = client.post("/people/import/", {"kind": "residents", "file": _file([HEADER, *rows])})
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="failed"' in page and 'data-count="refused">1<' in page and "<td>3</td>" in page


def test_a_file_refused_before_its_rows_is_answered_on_the_form(world):
    client = _login(world, "staff")
    upload = _file([HEADER], name="台账.txt")
    response = client.post("/people/import/", {"kind": "residents", "file": upload})
    assert response.status_code == 400 and not Job.objects.exists()
    assert (
        _login(world, "member1").post("/people/import/", {"kind": "residents", "file": _file([HEADER])}).status_code
        == 403
    )
    assert not Job.objects.exists()


def _file(rows, name="台账.xlsx"):
    import io

    upload = io.BytesIO(xlsx(rows))
    upload.name = name
    return upload


# ---------------------------------------------------------------- API


def _api(world, name):
    client = Client()
    token = api_token_issue(user=world.users[name])
    return client, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_api_answers_202_with_the_job_and_follows_it(world, g3):
    client, auth = _api(world, "staff")
    response = client.post("/api/v1/imports", {"kind": "residents", "file": _file([HEADER, *resident_rows(3)])}, **auth)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "ledger_import" and job["params"] == {"kind": "residents", "file_name": "台账.xlsx"}
    got = client.get(f"/api/v1/jobs/{job['id']}", **auth).json()
    assert got["status"] == "done" and got["result"]["created"] == 3 and got["rows_total"] == 3
    assert [r["row"] for r in got["result"]["rows"]] == [2, 3, 4]
    listing = client.get("/api/v1/jobs?mine=true", **auth).json()
    assert [j["id"] for j in listing["items"]] == [job["id"]]
    cancel = client.post(f"/api/v1/jobs/{job['id']}/cancel", **auth)
    assert cancel.status_code == 409 and cancel.json()["code"] == "job_finished"
    # Another user: not found, and not listed.
    other, other_auth = _api(world, "member1")
    assert other.get(f"/api/v1/jobs/{job['id']}", **other_auth).status_code == 404
    assert other.post(f"/api/v1/jobs/{job['id']}/cancel", **other_auth).status_code == 404
    assert other.get("/api/v1/jobs", **other_auth).json()["items"] == []
    # The inspector reads it, may not cancel it.
    reader, reader_auth = _api(world, "inspector")
    assert reader.get(f"/api/v1/jobs/{job['id']}", **reader_auth).status_code == 200
    assert reader.post(f"/api/v1/jobs/{job['id']}/cancel", **reader_auth).status_code == 403


def test_the_api_refuses_a_file_before_queuing_it(world):
    client, auth = _api(world, "staff")
    response = client.post("/api/v1/imports", {"kind": "residents", "file": _file([HEADER], name="a.txt")}, **auth)
    assert response.status_code == 400 and response.json()["code"] == "file_type"
    client, auth = _api(world, "member1")
    response = client.post("/api/v1/imports", {"kind": "residents", "file": _file([HEADER])}, **auth)
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_a_job_left_queued_is_handed_out_again_by_the_sweep_and_runs_once(world, g3, settings):
    import datetime as dt

    from django.utils import timezone

    settings.JOBS_RUNNER = "thread"  # never dispatched: a test's transaction does not commit
    job = start(world, resident_rows(3))
    settings.JOBS_RUNNER = "inline"
    assert jobs.jobs_redispatch() == 0  # not late yet
    later = timezone.now() + dt.timedelta(minutes=3)
    assert jobs.jobs_redispatch(now=later) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result["created"] == 3
    assert jobs.jobs_redispatch(now=later) == 0
    jobs.run(job.pk)  # delivered once more: nothing happens twice
    assert AuditEvent.objects.filter(action="job.running", object_id=str(job.pk)).count() == 1
