"""Server-rendered pages: scoped like the API, masked by default, errors as pages not 500s."""

import re

import pytest
from django.test import Client

from epigrid.core.models import AuditEvent


@pytest.fixture
def as_user(world):
    def login(username):
        client = Client()
        client.force_login(world.users[username])
        return client

    return login


def test_anonymous_is_sent_to_login(world):
    response = Client().get("/grids/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_chinese_by_default_english_by_switch(world):
    client = Client()
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert 'lang="zh-hans"' in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert 'lang="en"' in client.get("/login/").content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/grids/",
        "/grids/S-C-G1/",
        "/grids/S-C-G1/?tab=households",
        "/grids/S-C-G1/?tab=persons",
        "/grids/S-C-G1/?tab=places",
        "/grids/S-C-G1/?tab=staff",
        "/grids/coverage/",
        "/grids/coverage/?grid=S-C-G1",
        "/people/",
        "/people/?q=zs",
        "/people/import/",
    ],
)
def test_pages_render_for_a_grid_member(as_user, url):
    assert as_user("member1").get(url).status_code == 200


@pytest.mark.parametrize("url", ["/grids/S-C-G2/", "/grids/coverage/?grid=S-C-G2", "/people/?grid=S-C-G2"])
def test_other_grids_are_404(as_user, url):
    assert as_user("member1").get(url).status_code == 404


def test_person_file_is_masked_and_scoped(world, as_user):
    person = world.persons["p1"]
    page = as_user("member1").get(f"/people/{person.pk}/").content.decode()
    assert person.id_number_masked in page and person.phone_masked in page
    assert re.search(r"\d{18}|\d{17}X", page) is None  # no full ID number anywhere on the page
    assert "张三" in page and "李四" in page  # the household members
    assert as_user("member2").get(f"/people/{person.pk}/").status_code == 404
    assert as_user("member1").get(f"/people/households/{world.households['h2'].pk}/").status_code == 404


def test_reveal_shows_the_full_value_and_logs_it(world, as_user):
    person = world.persons["p1"]
    response = as_user("member1").post(f"/people/{person.pk}/reveal/id_number/")
    assert response.status_code == 200
    assert re.search(r"\d{17}[\dX]", response.content.decode())
    assert AuditEvent.objects.filter(action="person.reveal", actor=world.users["member1"]).count() == 1
    assert as_user("inspector").post(f"/people/{person.pk}/reveal/id_number/").status_code == 403
    assert as_user("member1").get(f"/people/{person.pk}/reveal/id_number/").status_code == 405


def test_register_person_form(world, as_user):
    from tests.factories import make_id_number

    client = as_user("member1")
    url = f"/people/new/?household={world.households['h1'].pk}"
    bad = client.post(url, {"name": "新人", "id_number": "370102198001010016"})
    assert (bad.status_code == 400 and "check digit" in bad.content.decode()) or "校验" in bad.content.decode()
    good = client.post(url, {"name": "新人", "id_number": make_id_number(), "phone": "13700000000"})
    assert good.status_code == 302


def test_assignment_from_the_staff_tab(world, as_user):
    client = as_user("head1")
    response = client.post(
        "/grids/S-C-G1/assignments/",
        {"username": "norole", "role": "grid_member", "duties": ["party_building", "environment"]},
    )
    assert response.status_code == 302
    assert world.users["norole"].grid_assignments.get().duties == ["party_building", "environment"]
    refused = as_user("member1").post("/grids/S-C-G1/assignments/", {"username": "norole", "role": "volunteer"})
    assert refused.status_code == 403


def test_import_page_lists_bad_rows(world, as_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.people.test_ledgers import HEADER, resident_rows, xlsx

    rows = resident_rows(3, building="S-C-G1-B1")
    rows[1][4] = "370102198001010016"
    upload = SimpleUploadedFile("台账.xlsx", xlsx([HEADER, *rows]))
    # Queued as a background job: its page lists the refused rows (tests/core/test_jobs.py).
    response = as_user("staff").post("/people/import/", {"kind": "residents", "file": upload}, follow=True)
    assert response.redirect_chain[0][0].startswith("/jobs/") and response.status_code == 200
    assert 'data-status="failed"' in response.content.decode()
    assert "<td>3</td>" in response.content.decode()


def test_export_download(world, as_user):
    response = as_user("staff").get("/people/export/residents/?grid=S-C-G1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert as_user("member1").get("/people/export/residents/?grid=S-C-G1").status_code == 403


def test_api_docs_and_schema(world, as_user):
    assert as_user("member1").get("/api/v1/docs").status_code == 200
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/persons" in schema["paths"]


def test_api_bad_input_is_4xx_with_a_clear_message(world):
    from epigrid.accounts.services import api_token_issue

    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users['member1'])}"}
    client = Client()
    r = client.post("/api/v1/persons", "{not json", content_type="application/json", **headers)
    assert 400 <= r.status_code < 500
    r = client.post("/api/v1/persons", {"name": "x"}, content_type="application/json", **headers)
    assert r.status_code == 422 and r.json()["field"] == "id_number"
    r = client.post(
        "/api/v1/persons",
        {"name": "x", "id_number": "370102198001010016", "grid": "S-C-G1"},
        content_type="application/json",
        **headers,
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "id_number_checksum" and body["field"] == "id_number"
    assert "校验" in body["messages"]["zh-hans"] or body["messages"]["zh-hans"]
    r = client.get("/api/v1/persons/999999", **headers)
    assert r.status_code == 404 and r.json()["code"] == "person_not_found"
    r = client.get("/api/v1/persons?limit=abc", **headers)
    assert r.status_code == 422


def test_register_household_and_place_and_archive(world, as_user):
    from epigrid.grids.models import Place
    from epigrid.people.models import Household, Person

    client = as_user("member1")
    response = client.post("/people/households/new/?grid=S-C-G1-B1", {"number": "2-201", "address": "2单元201室"})
    assert response.status_code == 302
    assert Household.objects.filter(number="2-201", grid__code="S-C-G1-B1").exists()
    again = client.post("/people/households/new/?grid=S-C-G1-B1", {"number": "2-201", "address": "2单元201室"})
    assert again.status_code == 400  # the number is taken in this grid
    assert client.get("/people/households/new/?grid=S-C-G2-B1").status_code == 404

    response = client.post("/grids/S-C-G1/places/new/", {"name": "药店", "kind": "shop", "thematic_grid": ""})
    assert response.status_code == 302 and Place.objects.filter(name="药店").exists()
    bad = client.post("/grids/S-C-G1/places/new/", {"name": "厂", "kind": "enterprise", "credit_code": "123"})
    assert bad.status_code == 400

    person = world.persons["p1b"]
    assert client.post(f"/people/{person.pk}/archive/", {"reason": ""}).status_code == 400
    assert client.post(f"/people/{person.pk}/archive/", {"reason": "迁出"}).status_code == 302
    assert Person.objects.get(pk=person.pk).archived_at is not None


def test_breadcrumbs_link_only_what_the_user_may_open(as_user):
    page = as_user("member1").get("/grids/S-C-G1-B1/").content.decode()
    assert 'href="/grids/S-C-G1/"' in page
    assert 'href="/grids/S/"' not in page and "S name" in page


def test_a_page_that_writes_is_403_in_view_and_404_out_of_it(world, as_user):
    """The form pages and posts load their object with the right the write needs."""
    from django.utils import timezone

    from epigrid.alerts.models import Alert
    from epigrid.health import services as health

    person = world.persons["p1"]
    assert as_user("inspector").get(f"/people/{person.pk}/edit/").status_code == 403
    assert as_user("member2").get(f"/people/{person.pk}/edit/").status_code == 404
    assert as_user("member1").get(f"/people/{person.pk}/edit/").status_code == 200
    assert as_user("inspector").get("/people/households/new/?grid=S-C-G1-B1").status_code == 403
    assert as_user("inspector").post(f"/people/{person.pk}/archive/", {"reason": "迁出"}).status_code == 403
    assert as_user("member2").get("/people/export/residents/?grid=S-C-G1").status_code == 404
    assert as_user("member1").get("/people/export/residents/?grid=S-C-G1").status_code == 403

    health.temperature_reports_record(
        readings=[health.Reading(person.pk, "38.2")], source="liaison", principal=world.admin
    )
    alert = Alert.objects.get(person=person)
    assert as_user("inspector").post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert as_user("member2").post(f"/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert as_user("member1").post(f"/alerts/{alert.pk}/acknowledge/").status_code == 302

    sample = health.sample_record(
        person=person, specimen_number="PG-1", sampled_at=timezone.now(), principal=world.admin
    )
    result = {"result": "negative"}
    assert as_user("member1").post(f"/health/samples/{sample.pk}/result/", result).status_code == 403
    assert as_user("member2").post(f"/health/samples/{sample.pk}/result/", result).status_code == 404
    assert as_user("staff").post(f"/health/samples/{sample.pk}/result/", result).status_code == 302
    sample.refresh_from_db()
    assert sample.result == "negative"
