"""The mobilization ledgers' imports run as background jobs (issue 14 §3), as the residents'
ledger does: what refuses the file before a row is read is answered at the request (4xx, nothing
queued); else the page redirects to the job's page, which shows the report or every refused row,
and the API answers 202 with the job."""

import io

from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.core.models import AuditEvent, Job
from epigrid.mobilization import team_ledgers
from epigrid.mobilization.models import PartyMember, PartyOrg, ReportingUnit, UnitMember
from tests.factories import api
from tests.mobilization.test_chain import _ledger
from tests.mobilization.test_team_ledgers import _xlsx
from tests.mobilization.world import add_units

UNITS = [c.header for c in team_ledgers.ledger_columns("units")]


def _upload(data: bytes, name: str):
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def _units_file(bad: bool = False) -> bytes:
    rows = [
        UNITS,
        ["单位", "S-C", "建新供电所", "驻区单位", "冯主任", "", "", ""],  # on file: unchanged or updated
        ["单位", "S-C", "新单位", "驻区单位", "甲", "13900000041", "", "4"],
        ["党员", "S-C", "新单位", "", "乙", "13900000044", "", "2"],
    ]
    if bad:
        rows.append(["党员", "S-C", "无此单位", "", "丙", "", "", ""])
    return _xlsx(rows)


def _auth(world, username) -> str:
    return f"Bearer {api_token_issue(user=world.users[username])}"


def _counts():
    return (ReportingUnit.objects.count(), UnitMember.objects.count())


def test_the_units_page_queues_a_job_whose_page_shows_each_row(world):
    add_units(world)
    client = Client()
    client.force_login(world.users["staff"])
    page = client.post("/mobilization/ledgers/units/", {"file": _upload(_units_file(), "units.xlsx")})
    assert page.status_code == 302 and page["Location"].startswith("/jobs/")
    job = Job.objects.get(kind="mobilization_ledger_import")
    assert job.status == "done" and job.params["kind"] == "units" and job.rows_checked == 3
    text = client.get(page["Location"]).content.decode()
    assert 'data-count="created">2<' in text
    assert text.count('data-outcome="created"') == 2 and ReportingUnit.objects.filter(name="新单位").exists()


def test_the_chain_page_queues_a_job_whose_page_shows_the_counts(world):
    client = Client()
    client.force_login(world.users["commander"])
    page = client.post("/mobilization/chain/import/", {"file": _upload(_ledger(world), "chain.xlsx")}, follow=True)
    assert page.redirect_chain[0][0].startswith("/jobs/")
    text = page.content.decode()
    assert 'data-count="orgs">4<' in text and 'data-count="members">2<' in text
    assert PartyOrg.objects.count() == 4 and AuditEvent.objects.filter(action="chain.import").count() == 1


def test_the_api_answers_202_and_the_job_ends_done_with_the_report(world):
    add_units(world)
    call = api(world, "staff")
    response = Client().post(
        "/api/v1/mobilization/ledgers/units/import",
        {"file": _upload(_units_file(), "units.xlsx")},
        HTTP_AUTHORIZATION=_auth(world, "staff"),
    )
    assert response.status_code == 202, response.content
    job = call("get", f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["status"] == "done" and job["params"]["kind"] == "units"
    result = job["result"]
    assert (result["created"], result["row_count"]) == (2, 3)
    assert [r["row"] for r in result["rows"]] == [2, 3, 4]
    response = Client().post(
        "/api/v1/mobilization/chain/import",
        {"file": _upload(_ledger(world), "chain.xlsx")},
        HTTP_AUTHORIZATION=_auth(world, "commander"),
    )
    assert response.status_code == 202, response.content
    job = api(world, "commander")("get", f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["status"] == "done" and job["result"]["row_count"] == 7 and job["result"]["kind"] == "chain"


def test_a_bad_row_fails_the_job_listing_the_row_and_nothing_is_written(world):
    add_units(world)
    before = _counts()
    response = Client().post(
        "/api/v1/mobilization/ledgers/units/import",
        {"file": _upload(_units_file(bad=True), "units.xlsx")},
        HTTP_AUTHORIZATION=_auth(world, "staff"),
    )
    assert response.status_code == 202
    job = api(world, "staff")("get", f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["status"] == "failed" and job["rows_written"] == 0
    assert [(r["row"], r["code"]) for r in job["error"]["rows"]] == [(5, "unit_unknown")]
    assert _counts() == before and not AuditEvent.objects.filter(action="team_ledger.import").exists()
    # The chain: the page's job fails, its page lists the row, nothing of the file stays.
    client = Client()
    client.force_login(world.users["commander"])
    upload = _upload(_ledger(world, bad=True), "c.xlsx")
    page = client.post("/mobilization/chain/import/", {"file": upload}, follow=True)
    assert page.redirect_chain[0][0].startswith("/jobs/")
    assert 'data-row="8"' in page.content.decode()
    assert not PartyOrg.objects.exists() and not PartyMember.objects.exists()


def test_what_refuses_the_file_before_a_row_is_read_is_answered_at_the_request(world):
    client = Client()
    client.force_login(world.users["staff"])
    bad_header = _xlsx([["类型", "社区编码"], ["单位", "S-C"]])
    page = client.post("/mobilization/ledgers/units/", {"file": _upload(bad_header, "units.xlsx")})
    assert page.status_code == 400 and "单位名称" in page.content.decode()
    page = client.post("/mobilization/chain/import/", {"file": _upload(b"x", "chain.txt")})
    assert page.status_code == 400
    response = Client().post(
        "/api/v1/mobilization/ledgers/hours/import",
        {"file": _upload(bad_header, "hours.xlsx")},
        HTTP_AUTHORIZATION=_auth(world, "staff"),
    )
    assert response.status_code == 400 and response.json()["code"] == "header_missing"
    member = Client()
    member.force_login(world.users["member1"])
    assert member.post("/mobilization/ledgers/units/", {"file": _upload(_units_file(), "u.xlsx")}).status_code == 403
    assert not Job.objects.exists()
