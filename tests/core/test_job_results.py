"""A background job's file (core.jobs.result_keep / job_result_open): the residents' ledger
exported as a job (people.ledgers.ledger_export_start) ends with an .xlsx that its starter alone
downloads, from the job's page or the API, until it expires; then the download says it expired
and the sweep deletes the file (personal data)."""

import datetime as dt
import io
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.accounts.services import api_token_issue
from epigrid.core import extensions, jobs
from epigrid.core.errors import Gone, NotFound
from epigrid.core.models import AuditEvent, Job, JobStatus
from epigrid.people import ledgers


def _cells(content: bytes) -> str:
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    sheet = book.get_sheet_by_name(book.sheet_names[0]).to_python()
    return "\n".join("\t".join(str(cell) for cell in row) for row in sheet)


def _login(world, name):
    client = Client()
    client.force_login(world.users[name])
    return client


def _export(world, code="S-C", user="staff") -> Job:
    job = ledgers.ledger_export_start(kind="residents", node=world.nodes[code], principal=world.users[user])
    return Job.objects.get(pk=job.pk)


def _download(client, job, **extra):
    response = client.get(f"/jobs/{job.pk}/download/", **extra)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_the_export_job_ends_with_a_file_its_starter_downloads_from_the_job_page(world):
    job = _export(world)
    assert job.status == JobStatus.DONE and job.kind == "ledger_export"
    assert job.result["rows"] == 3 and job.result["file_name"].endswith(".xlsx")
    assert (job.rows_total, job.rows_written) == (3, 3)
    assert job.result_file and job.result_expires_at > timezone.now() + dt.timedelta(hours=23)
    export_audit = AuditEvent.objects.get(action="ledger.export", object_id=str(world.nodes["S-C"].pk))
    assert export_audit.actor_id == world.users["staff"].pk  # the export is audited as its starter's

    client = _login(world, "staff")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'data-status="done"' in page and f'href="/jobs/{job.pk}/download/"' in page
    assert job.result["file_name"] in page

    response, body = _download(client, job)
    assert response.status_code == 200
    assert quote(job.result["file_name"]) in response["Content-Disposition"]
    cells = _cells(body)
    assert "张三" in cells and "李四" in cells and "王五" in cells
    download = AuditEvent.objects.filter(action="job.download", object_id=str(job.pk))
    assert list(download.values_list("actor_id", flat=True)) == [world.users["staff"].pk]


def test_nobody_else_downloads_it_not_even_a_reader_of_the_audit_log(world):
    job = _export(world)
    before = AuditEvent.objects.count()
    # The inspector follows the job (reads the audit log over 建新社区) but gets no file.
    inspector = _login(world, "inspector")
    page = inspector.get(f"/jobs/{job.pk}/").content.decode()
    assert page and "/download/" not in page and "只有任务发起人可以下载它的文件。" in page
    for name in ("inspector", "secretary", "member1", "norole"):
        response, body = _download(_login(world, name), job)
        assert response.status_code == 404, name
        assert "张三" not in body.decode(errors="replace")
        with pytest.raises(NotFound):
            jobs.job_result_open(user=world.users[name], pk=job.pk)
    assert AuditEvent.objects.count() == before  # a refused download writes nothing
    anonymous = Client().get(f"/jobs/{job.pk}/download/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_a_job_without_a_file_has_no_download(world):
    from tests.people.test_ledgers import HEADER, resident_rows, xlsx

    job = ledgers.ledger_import_start(
        data=xlsx([HEADER, *resident_rows(1, building="S-C-G1-B1")]),
        file_name="台账.xlsx",
        kind="residents",
        principal=world.users["staff"],
    )
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and not job.result_file
    response, _body = _download(_login(world, "staff"), job)
    assert response.status_code == 404
    assert "/download/" not in _login(world, "staff").get(f"/jobs/{job.pk}/").content.decode()


def test_an_expired_file_is_refused_and_the_sweep_deletes_it(world):
    job = _export(world)
    storage, name = job.result_file.storage, job.result_file.name
    # Not yet past its time: the sweep leaves it.
    assert jobs.jobs_results_expire() == 0 and storage.exists(name)
    Job.objects.filter(pk=job.pk).update(result_expires_at=timezone.now() - dt.timedelta(minutes=1))
    client = _login(world, "staff")
    response, body = _download(client, job)
    assert response.status_code == 410
    assert "这个文件已过期并已删除" in body.decode()
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "data-job-expired" in page and f"/jobs/{job.pk}/download/" not in page
    # The sweep (through the "sweeps" extension point) deletes the file, once.
    sweep = dict(extensions.get("sweeps"))["job_results_expired"]
    assert sweep(now=timezone.now()) == 1
    assert not storage.exists(name)
    job.refresh_from_db()
    assert not job.result_file and job.result_expires_at is not None
    assert AuditEvent.objects.filter(action="job.results_expired").count() == 1
    assert sweep(now=timezone.now()) == 0
    # After the sweep it still says so (not a bare 404).
    response, body = _download(client, job)
    assert response.status_code == 410 and "这个文件已过期并已删除" in body.decode()
    assert "data-job-expired" in client.get(f"/jobs/{job.pk}/").content.decode()


def test_a_file_deleted_before_its_time_says_it_is_gone(world):
    job = _export(world)
    job.result_file.storage.delete(job.result_file.name)
    with pytest.raises(Gone):
        jobs.job_result_open(user=world.users["staff"], pk=job.pk)


def test_a_cancelled_export_keeps_no_file(world, monkeypatch):
    monkeypatch.setattr(ledgers, "CHUNK", 1)
    step = jobs.Progress.step

    def the_user_presses_cancel(self, *, checked, written):
        if checked == 2:
            jobs.job_cancel(job=self.job, principal=world.users["staff"])
        return step(self, checked=checked, written=written)

    monkeypatch.setattr(jobs.Progress, "step", the_user_presses_cancel)
    job = _export(world)
    assert job.status == JobStatus.CANCELLED
    assert not job.result_file and job.result_expires_at is None
    assert not AuditEvent.objects.filter(action="ledger.export").exists()
    assert _download(_login(world, "staff"), job)[0].status_code == 404


def test_an_export_job_is_refused_before_it_is_queued_where_the_user_may_not_export(world):
    for name in ("member1", "norole"):
        response = _login(world, name).post("/people/export/residents/job/", {"grid": "S-C"})
        assert response.status_code in (403, 404), name
    assert not Job.objects.exists()


def test_the_grid_page_offers_the_export_job_and_it_leads_to_the_job_page(world):
    client = _login(world, "staff")
    page = client.get(world.nodes["S-C"].get_absolute_url()).content.decode()
    assert 'action="/people/export/residents/job/"' in page and 'data-export-job="residents"' in page
    response = client.post("/people/export/residents/job/", {"grid": "S-C-G1"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.params["grid"] == "S-C-G1" and job.grid_path == world.nodes["S-C-G1"].path
    cells = _cells(_download(client, job)[1])
    assert "张三" in cells and "王五" not in cells  # 第1网格's residents only


# ---------------------------------------------------------------- API


def _api(world, name):
    token = api_token_issue(user=world.users[name])
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_api_answers_202_and_the_job_offers_its_download_to_its_starter_alone(world):
    client, auth = _api(world, "staff")
    response = client.post("/api/v1/exports/residents/jobs", {"grid": "S-C"}, content_type="application/json", **auth)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["kind"] == "ledger_export" and answer["params"]["grid"] == "S-C"
    got = client.get(f"/api/v1/jobs/{answer['id']}", **auth).json()
    assert got["status"] == "done" and got["download_url"] == f"/api/v1/jobs/{answer['id']}/download"
    assert got["result_expires_at"] and got["result_expired"] is False
    download = client.get(got["download_url"], **auth)
    assert download.status_code == 200
    assert "张三" in _cells(b"".join(download.streaming_content))
    # The inspector reads the job, gets no file; another user not even the job.
    reader, reader_auth = _api(world, "inspector")
    assert reader.get(f"/api/v1/jobs/{answer['id']}", **reader_auth).json()["status"] == "done"
    assert reader.get(got["download_url"], **reader_auth).status_code == 404
    other, other_auth = _api(world, "member1")
    assert other.get(got["download_url"], **other_auth).status_code == 404
    # Past its time: 410 with a bilingual message.
    Job.objects.filter(pk=answer["id"]).update(result_expires_at=timezone.now() - dt.timedelta(seconds=1))
    gone = client.get(got["download_url"], **auth)
    assert gone.status_code == 410 and gone.json()["code"] == "job_result_expired"
    assert client.get(f"/api/v1/jobs/{answer['id']}", **auth).json()["result_expired"] is True


def test_the_api_refuses_an_export_job_where_the_caller_may_not_export(world):
    client, auth = _api(world, "member1")
    response = client.post("/api/v1/exports/residents/jobs", {"grid": "S-C"}, content_type="application/json", **auth)
    assert response.status_code in (403, 404)
    client, auth = _api(world, "staff")
    response = client.post("/api/v1/exports/residents/jobs", {"grid": "NOPE"}, content_type="application/json", **auth)
    assert response.status_code == 404
    assert not Job.objects.exists()


def test_the_places_ledger_exports_as_a_job_too(world):
    job = ledgers.ledger_export_start(kind="places", node=world.nodes["S-C"], principal=world.users["staff"])
    response, body = _download(_login(world, "staff"), job)
    assert response.status_code == 200
    cells = _cells(body)
    assert "卫生室" in cells and "超市" in cells


def test_a_starter_whose_role_ended_before_the_job_ran_gets_no_file(world, settings):
    from epigrid.accounts.models import GridAssignment
    from epigrid.accounts.services import grid_assignment_end

    settings.JOBS_RUNNER = "thread"  # queued: it runs after the commit, which a test never makes
    job = _export(world)
    assert job.status == JobStatus.QUEUED
    assignment = GridAssignment.objects.get(user=world.users["staff"], ended_at__isnull=True)
    grid_assignment_end(assignment=assignment, principal=world.admin)
    job = jobs.run(job.pk)
    assert job.status == JobStatus.FAILED and not job.result_file and job.result_expires_at is None
    assert not AuditEvent.objects.filter(action="ledger.export").exists()
    assert _download(_login(world, "staff"), job)[0].status_code == 404
