"""A write a role may not make answers 403 where the object is visible to the user, and 404
where it is not (docs/architecture.md "Who may do what"): the handler loads the object
with the right the write needs (`get_for`), so the refusal comes before anything is written."""

import datetime as dt

import pytest

from epigrid.alerts.models import Alert
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel
from epigrid.health import services as health
from epigrid.people import services as people_services
from tests.factories import api, make_id_number


@pytest.fixture
def alerts(world):
    """A fever alert in 第1网格 and one in another subdistrict, outside even the inspector's area."""
    admin = world.admin
    node = None
    for code, level in (("T", GridLevel.SUBDISTRICT), ("T-C", GridLevel.COMMUNITY), ("T-C-G1", GridLevel.GRID)):
        node = grid_services.grid_node_create(parent=node, code=code, name=code, level=level, principal=admin)
    household = people_services.household_create(grid=node, number="1-101", address="T 1-101", principal=admin)
    stranger = people_services.person_create(
        name="孙八", id_number=make_id_number(), household=household, principal=admin
    )
    now = dt.datetime.now(dt.UTC)
    health.temperature_reports_record(
        readings=[health.Reading(p.pk, "38.2", now) for p in (world.persons["p1"], stranger)],
        source="liaison",
        principal=admin,
    )
    return Alert.objects.get(person=world.persons["p1"]), Alert.objects.get(person=stranger)


def test_acknowledging_an_alert_is_403_in_view_and_404_out_of_it(world, alerts):
    here, elsewhere = alerts
    inspector = api(world, "inspector")  # sees the whole subdistrict S, handles nothing
    refused = inspector("post", f"/api/v1/alerts/{here.pk}/acknowledge")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert inspector("post", f"/api/v1/alerts/{elsewhere.pk}/acknowledge").status_code == 404
    assert inspector("post", f"/api/v1/alerts/{here.pk}/resolve", {"resolution": "已处理"}).status_code == 403
    # member2 may handle alerts, but only in 第2网格: 第1网格's alert does not exist for them.
    unseen = api(world, "member2")("post", f"/api/v1/alerts/{here.pk}/acknowledge")
    assert (unseen.status_code, unseen.json()["code"]) == (404, "alert_not_found")
    here.refresh_from_db()
    assert here.acknowledged_at is None
    assert api(world, "member1")("post", f"/api/v1/alerts/{here.pk}/acknowledge").status_code == 200


def test_archiving_a_person_is_403_in_view_and_404_out_of_it(world):
    person = world.persons["p1b"]
    body = {"reason": "迁出"}
    assert api(world, "inspector")("post", f"/api/v1/persons/{person.pk}/archive", body).status_code == 403
    unseen = api(world, "member2")("post", f"/api/v1/persons/{person.pk}/archive", body)
    assert (unseen.status_code, unseen.json()["code"]) == (404, "person_not_found")
    person.refresh_from_db()
    assert person.archived_at is None


def test_editing_a_place_is_403_in_view_and_404_out_of_it(world):
    clinic = world.places["clinic"]  # 第1网格, filed under the medical thematic grid too
    body = {"address": "新地址"}
    assert api(world, "inspector")("patch", f"/api/v1/places/{clinic.pk}", body).status_code == 403
    assert api(world, "member2")("patch", f"/api/v1/places/{clinic.pk}", body).status_code == 404
    assert api(world, "member1")("patch", f"/api/v1/places/{clinic.pk}", body).status_code == 200


def test_ending_an_assignment_is_403_in_view_and_404_out_of_it(world):
    assignment = world.users["member1"].grid_assignments.get()
    # member1 sees 第1网格's staff but may not assign them; head2 does not see 第1网格.
    assert api(world, "member1")("post", f"/api/v1/assignments/{assignment.pk}/end").status_code == 403
    unseen = api(world, "head2")("post", f"/api/v1/assignments/{assignment.pk}/end")
    assert (unseen.status_code, unseen.json()["code"]) == (404, "assignment_not_found")
    assignment.refresh_from_db()
    assert assignment.ended_at is None


def test_exporting_a_ledger_is_403_in_view_and_404_out_of_it(world):
    assert api(world, "member1")("get", "/api/v1/exports/residents?grid=S-C-G1").status_code == 403
    unseen = api(world, "member2")("get", "/api/v1/exports/residents?grid=S-C-G1")
    assert (unseen.status_code, unseen.json()["code"]) == (404, "grid_not_found")
    assert api(world, "staff")("get", "/api/v1/exports/residents?grid=S-C-G1").status_code == 200
    assert api(world, "member1")("get", "/api/v1/ledgers/orders?grid=S-C-G1").status_code == 403
    assert api(world, "member2")("get", "/api/v1/ledgers/orders?grid=S-C-G1").status_code == 404
