"""The health and mobilization ledgers exported as background jobs: the residents' ledger's one
export job (people.ledgers `ledger_export`, the "ledger_exports" its apps contribute) writes each
of them; its starter downloads a real .xlsx; the rows are counted as it goes; a caller without
`import_export` there is refused at the start (403 in sight, 404 out of sight) and nothing is queued."""

import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.accounts.services import api_token_issue
from epigrid.control import services as control
from epigrid.core.models import AuditEvent, Job, JobStatus
from epigrid.health import services as health
from epigrid.people.ledgers import ledger_exports
from tests.mobilization.test_chain import build_chain
from tests.mobilization.world import add_units, add_volunteers


def _login(world, name):
    client = Client()
    client.force_login(world.users[name])
    return client


def _bearer(world, name) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users[name])}"}


def _sheet(job: Job) -> list[list[str]]:
    with job.result_file.open("rb") as handle:
        data = handle.read()
    assert data[:2] == b"PK"  # an .xlsx is a zip
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return [[str(c) for c in row] for row in book.get_sheet_by_index(0).to_python()]


def _downloaded(client, job, **extra) -> list[list[str]]:
    response = client.get(f"/jobs/{job.pk}/download/", **extra)
    assert response.status_code == 200, response.content
    body = b"".join(response.streaming_content)
    book = CalamineWorkbook.from_filelike(io.BytesIO(body))
    return [[str(c) for c in row] for row in book.get_sheet_by_index(0).to_python()]


@pytest.fixture
def health_data(world):
    person = world.persons["p1"]
    control.control_order_start(
        person=person,
        kind="home_quarantine",
        reason="other",
        starts_at=timezone.now() - dt.timedelta(days=2),
        principal=world.admin,
    )
    health.temperature_reports_record(
        readings=[health.Reading(person.pk, "36.5")], source="liaison", principal=world.admin
    )
    health.sample_record(person=person, specimen_number="L-1", sampled_at=timezone.now(), principal=world.admin)
    control.tip_record(
        persons=[person],
        reported_at=timezone.now(),
        reporter="x",
        origin_code="420600",
        travel_mode="train",
        principal=world.admin,
    )
    return person


def test_every_ledger_is_one_the_export_job_writes():
    assert set(ledger_exports()) == {
        "residents",
        "places",
        "key_persons",
        "orders",
        "temperatures",
        "samples",
        "chain",
        "units",
        "volunteers",
        "hours",
    }


@pytest.mark.parametrize(
    ("name", "title"),
    [("key_persons", "重点人员台账"), ("orders", "隔离台账"), ("temperatures", "体温台账"), ("samples", "核酸台账")],
)
def test_the_node_page_queues_a_health_ledger_and_its_starter_downloads_it(world, health_data, name, title):
    client = _login(world, "staff")
    page = client.get("/grids/S-C/").content.decode()
    assert f'action="/health/ledgers/{name}/job/"' in page
    response = client.post(f"/health/ledgers/{name}/job/", {"grid": "S-C"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.DONE and job.kind == "ledger_export" and job.params["kind"] == name
    assert job.result["rows"] == 1 and job.result["file_name"].startswith(f"{title}-S-C-")
    assert (job.rows_total, job.rows_checked, job.rows_written) == (1, 1, 1)
    rows = _downloaded(client, job)
    assert len(rows) == 2 and "张三" in rows[1]
    assert rows == _sheet(job)
    export = AuditEvent.objects.get(action="ledger.export")
    assert export.actor_id == world.users["staff"].pk and export.changes["kind"] == [None, name]


def test_a_health_ledger_job_is_refused_at_the_start_without_the_right(world, health_data):
    assert _login(world, "member1").post("/health/ledgers/orders/job/", {"grid": "S-C-G1"}).status_code == 403
    assert _login(world, "head2").post("/health/ledgers/orders/job/", {"grid": "S-C-G1"}).status_code == 404
    assert _login(world, "staff").post("/health/ledgers/nonsense/job/", {"grid": "S-C"}).status_code == 400
    assert _login(world, "staff").get("/health/ledgers/orders/job/?grid=S-C").status_code == 405
    assert not Job.objects.exists()


def test_the_api_queues_a_health_ledger_with_202(world, health_data):
    client, auth = Client(), _bearer(world, "staff")
    response = client.post(
        "/api/v1/ledgers/temperatures/jobs", {"grid": "S-C"}, content_type="application/json", **auth
    )
    assert response.status_code == 202, response.content
    job = client.get(f"/api/v1/jobs/{response.json()['id']}", **auth).json()
    assert job["status"] == "done" and job["result"]["rows"] == 1 and job["rows_total"] == 1
    download = client.get(job["download_url"], **auth)
    assert download.status_code == 200
    other = _bearer(world, "member1")
    refused = client.post(
        "/api/v1/ledgers/temperatures/jobs", {"grid": "S-C-G1"}, content_type="application/json", **other
    )
    assert refused.status_code == 403
    unknown = client.post("/api/v1/ledgers/nonsense/jobs", {"grid": "S-C"}, content_type="application/json", **auth)
    assert unknown.status_code == 400 and unknown.json()["code"] == "ledger_unknown"
    assert Job.objects.count() == 1


def test_the_chain_ledger_as_a_job_from_its_page_and_the_api(world):
    build_chain(world)
    client = _login(world, "commander")
    page = client.get("/mobilization/chain/?grid=S").content.decode()
    assert 'action="/mobilization/chain/export/job/"' in page
    response = client.post("/mobilization/chain/export/job/", {"grid": "S"})
    job = Job.objects.get()
    assert response.status_code == 302 and job.status == JobStatus.DONE and job.params["kind"] == "chain"
    rows = _downloaded(client, job)
    assert len(rows) == 1 + 6 + 4 + 2 and rows[0][0] == "类型"
    assert (job.rows_total, job.rows_written, job.result["rows"]) == (12, 12, 12)
    assert AuditEvent.objects.get(action="ledger.export").changes["kind"] == [None, "party_chain"]

    api = Client()
    answer = api.post(
        "/api/v1/mobilization/chain/export/jobs",
        {"grid": "S"},
        content_type="application/json",
        **_bearer(world, "commander"),
    )
    assert answer.status_code == 202 and answer.json()["params"]["kind"] == "chain"
    for user, status in (("member1", 403), ("head2", 404)):
        refused = api.post(
            "/api/v1/mobilization/chain/export/jobs",
            {"grid": "S-C-G1"},
            content_type="application/json",
            **_bearer(world, user),
        )
        assert refused.status_code == status, user
    assert Job.objects.count() == 2


@pytest.mark.parametrize("kind", ["units", "volunteers"])
def test_the_units_and_volunteers_ledgers_as_jobs(world, kind):
    add_units(world)
    add_volunteers(world)
    client = _login(world, "staff")
    page = client.get(f"/mobilization/ledgers/{kind}/").content.decode()
    assert f'action="/mobilization/ledgers/{kind}/export/job/"' in page
    response = client.post(f"/mobilization/ledgers/{kind}/export/job/", {"grid": "S-C"})
    job = Job.objects.get()
    assert response.status_code == 302 and job.status == JobStatus.DONE
    sheet = _downloaded(client, job)
    # The job writes what the page's own download gives.
    direct = client.get(f"/mobilization/ledgers/{kind}/export/?grid=S-C")
    same = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(direct.streaming_content))).get_sheet_by_index(0)
    assert sheet == [[str(c) for c in row] for row in same.to_python()] and len(sheet) > 1
    assert job.rows_total == job.rows_written == job.result["rows"] == len(sheet) - 1

    api = Client()
    answer = api.post(
        f"/api/v1/mobilization/ledgers/{kind}/export/jobs",
        {"grid": "S-C"},
        content_type="application/json",
        **_bearer(world, "staff"),
    )
    assert answer.status_code == 202
    assert (
        api.post(
            f"/api/v1/mobilization/ledgers/{kind}/export/jobs",
            {"grid": "S-C-G1"},
            content_type="application/json",
            **_bearer(world, "head2"),
        ).status_code
        == 404
    )
    assert (
        _login(world, "member1").post(f"/mobilization/ledgers/{kind}/export/job/", {"grid": "S-C-G1"}).status_code
        == 403
    )
    assert _login(world, "staff").post("/mobilization/ledgers/nonsense/export/job/", {"grid": "S-C"}).status_code == 404
    assert Job.objects.count() == 2


def test_the_residents_page_starts_only_its_own_ledgers(world, health_data):
    """Each ledger starts from its own app's page: the residents' export page refuses a health
    ledger's name (400), and nothing is queued."""
    response = _login(world, "staff").post("/people/export/temperatures/job/", {"grid": "S-C"})
    assert response.status_code == 400
    assert not Job.objects.exists()
    assert _login(world, "staff").post("/people/export/residents/job/", {"grid": "S-C"}).status_code == 302
