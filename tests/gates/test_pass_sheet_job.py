"""The print sheet of all of a grid's pass cards as a background job (gates.ledgers.pass_sheet_start):
its starter downloads one file with every card's QR code; nobody else does; the printing is audited."""

import pytest
from django.test import Client
from django.urls import reverse

from epigrid.accounts.services import api_token_issue
from epigrid.core.models import AuditEvent, Job, JobStatus
from epigrid.gates import services as gates
from epigrid.gates.models import HouseholdPass


@pytest.fixture
def passes(world):
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    gates.passes_issue(grid=world.nodes["S-C-G2"], principal=world.admin)
    return {
        code: HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True)
        for key, code in (("h1", "S-C-G1"), ("h2", "S-C-G2"))
    }


def _login(world, name):
    client = Client()
    client.force_login(world.users[name])
    return client


def _body(response) -> str:
    return (b"".join(response.streaming_content) if response.streaming else response.content).decode()


def test_the_passes_page_queues_the_whole_sheet_and_its_starter_downloads_it(world, passes):
    client = _login(world, "head1")
    page = client.get(reverse("gates:passes", args=["S-C-G1"])).content.decode()
    assert f'action="{reverse("gates:pass_sheet_job", args=["S-C-G1"])}"' in page
    response = client.post(reverse("gates:pass_sheet_job", args=["S-C-G1"]))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.DONE and job.kind == "pass_sheet"
    assert job.result["cards"] == 1 and job.result["file_name"].endswith(".html")
    printed = AuditEvent.objects.get(action="passes.print")
    assert printed.actor_id == world.users["head1"].pk and printed.changes["page"] == [None, "all"]
    assert f'href="/jobs/{job.pk}/download/"' in client.get(f"/jobs/{job.pk}/").content.decode()
    download = client.get(f"/jobs/{job.pk}/download/")
    sheet = _body(download)
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert passes["S-C-G1"].number in sheet and sheet.count("<svg") == 1 and "@page" in sheet
    assert passes["S-C-G2"].number not in sheet  # 第2网格's card is not 第1网格's to print
    # Nobody else gets the file (its cards carry the tokens).
    for name in ("head2", "member1", "inspector"):
        assert _login(world, name).get(f"/jobs/{job.pk}/download/").status_code == 404, name


def test_who_may_not_issue_passes_queues_nothing(world, passes):
    assert _login(world, "member1").post(reverse("gates:pass_sheet_job", args=["S-C-G1"])).status_code == 403
    assert _login(world, "head2").post(reverse("gates:pass_sheet_job", args=["S-C-G1"])).status_code == 404
    assert not Job.objects.exists()


def test_the_api_answers_202_and_the_job_serves_the_sheet(world, passes):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users['head1'])}"}
    response = client.post("/api/v1/passes/sheet-jobs", {"grid": "S-C-G1"}, content_type="application/json", **auth)
    assert response.status_code == 202, response.content
    job = client.get(f"/api/v1/jobs/{response.json()['id']}", **auth).json()
    assert job["status"] == "done" and job["result"]["cards"] == 1
    download = client.get(job["download_url"], **auth)
    assert download.status_code == 200 and passes["S-C-G1"].number in _body(download)
    other = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users['member2'])}"}
    assert (
        client.post(
            "/api/v1/passes/sheet-jobs", {"grid": "S-C-G1"}, content_type="application/json", **other
        ).status_code
        == 404
    )
    assert client.get(job["download_url"], **other).status_code == 404
