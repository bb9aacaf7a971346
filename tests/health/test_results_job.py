"""A lab's results file is read at the request (a bad file or a badly written row: 4xx at once,
nothing queued) and stored by a background job, whose page and API say what it stored."""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.core.models import Job
from epigrid.health import services
from epigrid.health.models import Case
from tests.people.test_ledgers import xlsx

T = dt.datetime(2020, 2, 4, 2, 0, tzinfo=dt.UTC)
HEADER = ["样本编号", "检测结果", "报告时间", "检测机构"]


def _post(world, rows, name="results.xlsx"):
    token = api_token_issue(user=world.users["staff"])
    return Client().post(
        "/api/v1/results/import",
        {"file": SimpleUploadedFile(name, xlsx([HEADER, *rows]))},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_positive_result_through_the_job_makes_a_suspected_case(world):
    person = world.persons["p1"]
    services.sample_record(person=person, specimen_number="S-21", sampled_at=T, principal=world.admin)
    response = _post(world, [["S-21", "阳性", "2020-02-06 10:00", "济南市疾控中心"]])
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "done" and job.result == {"stored": 1, "unchanged": 0, "positive": 1}
    assert Case.objects.get(person=person).status == "suspected"
    staff = Client()
    staff.force_login(world.users["staff"])
    page = staff.get(job.get_absolute_url()).content.decode()
    assert 'id="import-report"' in page


def test_a_badly_written_row_is_refused_at_once_and_nothing_is_queued(world):
    response = _post(world, [["S-22", "阳性", "昨天", ""]])
    assert response.status_code == 422
    assert response.json()["rows"][0]["row"] == 2
    assert not Job.objects.exists()


def test_an_unknown_specimen_fails_the_job_and_stores_nothing(world):
    response = _post(world, [["NOPE-1", "阴性", "2020-02-06 10:00", ""]])
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and job.error["rows"][0]["code"] == "specimen_unknown"
    assert not Case.objects.exists()
