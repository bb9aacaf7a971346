"""Verification lists from above (核查名单, issue 13 §5): matched by keyed hash, each match a task
of its grid member with the deadline, non-matches placed by the community, the feedback .xlsx."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from python_calamine import CalamineWorkbook

from epigrid.accounts.services import api_token_issue
from epigrid.core.crypto import unseal
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound, RowErrors
from epigrid.core.models import Job
from epigrid.oversight import verification
from epigrid.oversight.models import VerificationEntry, VerificationList
from tests.factories import api, make_id_number
from tests.oversight.world import add_verification, verification_xlsx


@pytest.fixture
def pushed(world):
    world.extra = add_verification(world)
    return world


def test_rows_are_matched_by_hash_and_become_their_grid_members_tasks(pushed):
    world = pushed
    checked = VerificationList.objects.get()
    assert (checked.rows, checked.matched) == (2, 1)
    matched = VerificationEntry.objects.get(pk=world.extra["entry_matched"])
    assert matched.person == world.persons["p1"] and matched.owner == world.users["member1"]
    assert matched.id_number_masked.startswith("3701") and "*" in matched.id_number_masked
    unmatched = VerificationEntry.objects.get(pk=world.extra["entry_unmatched"])
    assert unmatched.grid == world.nodes["S-C"] and unmatched.owner is None
    # The member sees their row (and the list), not the community's unmatched one.
    assert list(verification.entries_for(world.users["member1"])) == [matched]
    assert verification.list_get(user=world.users["member1"], pk=checked.pk) == checked
    with pytest.raises(NotFound):
        verification.list_get(user=world.users["member2"], pk=checked.pk)


def test_a_phone_matches_only_when_one_resident_has_it(world):
    p2 = world.persons["p2"]
    data = verification_xlsx([["王五", "", unseal(p2.phone_sealed), ""]])
    checked = verification.list_import(
        node=world.nodes["S"],
        name="电话名单",
        source="",
        data=data,
        file_name="l.xlsx",
        due_hours=12,
        principal=world.users["commander"],
    )
    assert checked.entries.get().person == p2


def test_a_bad_row_refuses_the_file_and_lists_every_bad_row(world):
    data = verification_xlsx(
        [["甲", "110101199003071234", "", ""], ["乙", "", "", ""], ["丙", make_id_number(), "", ""]]
    )
    with pytest.raises(RowErrors) as exc:
        verification.list_import(
            node=world.nodes["S-C"],
            name="名单",
            source="",
            data=data,
            file_name="l.xlsx",
            due_hours=24,
            principal=world.users["staff"],
        )
    assert [r["row"] for r in exc.value.rows] == [2, 3]
    assert not VerificationList.objects.exists()
    with pytest.raises(DomainError):
        verification.list_import(
            node=world.nodes["S-C"],
            name="名单",
            source="",
            data=verification_xlsx([]),
            file_name="l.xlsx",
            due_hours=24,
            principal=world.users["staff"],
        )
    with pytest.raises(Forbidden):
        verification.list_import(
            node=world.nodes["S-C-G1"],
            name="名单",
            source="",
            data=data,
            file_name="l.xlsx",
            due_hours=24,
            principal=world.users["member1"],
        )


def test_the_member_verifies_the_community_places_and_the_feedback_tells_all(pushed):
    world = pushed
    matched = VerificationEntry.objects.get(pk=world.extra["entry_matched"])
    unmatched = VerificationEntry.objects.get(pk=world.extra["entry_unmatched"])
    verification.entry_verify(entry=matched, outcome="at_home", note="在家", principal=world.users["member1"])
    with pytest.raises(Conflict):
        verification.entry_verify(entry=unmatched, outcome="at_home", note="", principal=world.users["staff"])
    with pytest.raises(NotFound):
        verification.entry_get(user=world.users["member2"], pk=matched.pk)
    with pytest.raises(DomainError):
        verification.entry_place(entry=unmatched, grid=world.nodes["S-C"], principal=world.users["staff"])
    placed = verification.entry_place(entry=unmatched, grid=world.nodes["S-C-G2"], principal=world.users["staff"])
    assert placed.owner == world.users["member2"]
    client = Client()
    client.force_login(world.users["member2"])
    assert "未登记" in client.get("/health/today/").content.decode()  # the task reaches the day page
    client.force_login(world.users["staff"])
    response = client.get(f"/verification/{matched.verification_list_id}/feedback.xlsx")
    rows = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content))).get_sheet_by_index(0)
    rows = rows.to_python()
    assert [(r[0], r[1]) for r in rows[1:]] == [("2", "张三"), ("3", "未登记")]
    assert rows[1][6] in ("Found at home", "在家") and rows[1][7] and rows[2][7] == ""
    assert "*" in rows[1][2]  # masked, never the full number


def test_a_new_arrival_goes_on_to_the_tip_form(pushed):
    world = pushed
    client = Client()
    client.force_login(world.users["member1"])
    response = client.post(f"/verification/entries/{world.extra['entry_matched']}/verify/", {"outcome": "new_arrival"})
    assert response.status_code == 302
    assert response["Location"] == f"/control/tips/new/?person={world.persons['p1'].pk}"


def test_importing_on_the_page_runs_a_job_whose_page_links_the_list(world):
    client = Client()
    client.force_login(world.users["staff"])
    data = verification_xlsx([["张三", unseal(world.persons["p1"].id_number_sealed), "", ""]])
    response = client.post(
        "/verification/",
        {"grid": "S-C", "name": "名单一", "due_hours": "24", "file": SimpleUploadedFile("l.xlsx", data)},
    )
    assert response.status_code == 302 and response["Location"].startswith("/jobs/")
    job_page = client.get(response["Location"]).content.decode()
    created = VerificationList.objects.get()
    assert f'href="/verification/{created.pk}/"' in job_page
    page = client.get(f"/verification/{created.pk}/").content.decode()
    assert "名单一" in page and "张三" in page
    # A bad row: the job fails, its page lists the row, and nothing is written.
    bad = client.post(
        "/verification/",
        {
            "grid": "S-C",
            "name": "名单二",
            "due_hours": "24",
            "file": SimpleUploadedFile("l.xlsx", verification_xlsx([["x", "123", "", ""]])),
        },
    )
    assert bad.status_code == 302
    refused = client.get(bad["Location"]).content.decode()
    assert 'id="import-refused"' in refused and "<td>2</td>" in refused
    assert VerificationList.objects.count() == 1
    # What refuses the file before a row is read is answered at once, without a job.
    wrong_type = client.post(
        "/verification/",
        {"grid": "S-C", "name": "名单三", "due_hours": "24", "file": SimpleUploadedFile("l.pdf", b"%PDF")},
    )
    assert wrong_type.status_code == 302 and wrong_type["Location"] == "/verification/"
    assert Job.objects.count() == 2


def test_the_api_queues_the_import_and_the_job_tells_the_list(world):
    call = api(world, "staff")
    client_data = verification_xlsx([["张三", unseal(world.persons["p1"].id_number_sealed), "", ""]])
    token = api_token_issue(user=world.users["staff"])  # multipart: the test client with a bearer token
    response = Client().post(
        "/api/v1/verification-lists",
        {"grid": "S-C", "name": "名单", "due_hours": "24", "file": SimpleUploadedFile("l.xlsx", client_data)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 202, response.content
    job = call("get", f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["status"] == "done" and job["result"]["rows"] == 1 and job["result"]["matched"] == 1
    assert VerificationList.objects.get(pk=job["result"]["list"]).name == "名单"
    too_long = Client().post(
        "/api/v1/verification-lists",
        {"grid": "S-C", "name": "名单", "due_hours": "999", "file": SimpleUploadedFile("l.xlsx", client_data)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert too_long.status_code == 400 and too_long.json()["code"] == "due_hours"


def test_the_api_answers_4xx_to_odd_input(pushed):

    call = api(pushed, "staff")
    assert call("get", "/api/v1/verification-lists/9223372036854775808").status_code == 404
    assert call("get", "/api/v1/verification-lists/241797153484161438218885072420864/entries").status_code == 404
    assert call("get", "/api/v1/reports?day=0").status_code == 422
    assert call("get", "/api/v1/reports?day=2020-02-06").status_code == 200
