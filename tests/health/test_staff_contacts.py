"""走访: a staff member's contacts with a person (visit, phone, video) — recorded by the service,
read back through the API and shown on the person file; refused with a clear 4xx."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.core.errors import DomainError, Forbidden
from epigrid.core.models import AuditEvent
from epigrid.health import selectors, services
from epigrid.health.models import StaffContact
from tests.factories import api


def _contacts(world, username, person):
    return api(world, username)("get", f"/api/v1/persons/{person.pk}/contacts")


def test_a_contact_is_recorded_as_the_callers_on_the_local_day_and_audited_without_its_note(world):
    p1 = world.persons["p1"]
    at = timezone.make_aware(dt.datetime(2020, 1, 27, 23, 30))  # Asia/Shanghai: the 27th, UTC the 27th 15:30
    contact = services.staff_contact_record(
        person=p1, kind="phone", at=at, note="电话询问 咳嗽", principal=world.users["member1"]
    )
    assert (contact.staff, contact.grid, contact.local_date) == (world.users["member1"], p1.grid, dt.date(2020, 1, 27))
    event = AuditEvent.objects.get(action="staff_contact.record")
    assert event.grid_path == p1.grid.path
    assert "咳嗽" not in str(event.changes)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "letter"}, "contact_kind_invalid"),
        ({"kind": "visit", "at": timezone.now() + dt.timedelta(hours=2)}, "contact_time_invalid"),
        ({"kind": "visit", "at": dt.datetime(2019, 1, 1, tzinfo=dt.UTC)}, "contact_time_invalid"),
        ({"kind": "visit", "note": "长" * 301}, "note_too_long"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(world, kwargs, code):
    with pytest.raises(DomainError) as refused:
        services.staff_contact_record(person=world.persons["p1"], principal=world.users["member1"], **kwargs)
    assert refused.value.code == code
    assert not StaffContact.objects.exists()


def test_an_inspector_may_read_but_not_record(world):
    p1 = world.persons["p1"]
    with pytest.raises(Forbidden):
        services.staff_contact_record(person=p1, kind="visit", principal=world.users["inspector"])
    services.staff_contact_record(person=p1, kind="visit", principal=world.users["member1"])
    assert selectors.staff_contact_list(user=world.users["inspector"], person=p1).count() == 1
    assert selectors.staff_contact_list(user=world.users["member2"]).count() == 0


def test_the_api_records_and_lists_contacts_latest_first(world):
    p1 = world.persons["p1"]
    call = api(world, "member1")
    first = call("post", f"/api/v1/persons/{p1.pk}/contacts", {"kind": "visit", "at": "2020-01-27T10:00:00"})
    second = call("post", f"/api/v1/persons/{p1.pk}/contacts", {"kind": "video", "note": "视频问诊"})
    assert (first.status_code, second.status_code) == (201, 201), first.content
    assert first.json()["at"].startswith("2020-01-27T10:00:00") and first.json()["local_date"] == "2020-01-27"
    listed = _contacts(world, "inspector", p1).json()["items"]
    assert [c["kind"] for c in listed] == ["video", "visit"]
    assert listed[0]["note"] == "视频问诊"
    day = call("get", f"/api/v1/persons/{p1.pk}/contacts?date=2020-01-27").json()["items"]
    assert [c["kind"] for c in day] == ["visit"]


def test_the_api_refuses_bad_input_with_a_4xx(world):
    p1 = world.persons["p1"]
    call = api(world, "member1")
    assert call("post", f"/api/v1/persons/{p1.pk}/contacts", {"kind": "letter"}).status_code == 422
    future = (timezone.localtime() + dt.timedelta(days=1)).isoformat()
    assert call("post", f"/api/v1/persons/{p1.pk}/contacts", {"kind": "visit", "at": future}).status_code == 422
    long_note = call("post", f"/api/v1/persons/{p1.pk}/contacts", {"kind": "visit", "note": "长" * 301})
    assert long_note.status_code == 400 and long_note.json()["code"] == "note_too_long"
    assert call("post", f"/api/v1/persons/{world.persons['p2'].pk}/contacts", {"kind": "visit"}).status_code == 404
    assert not StaffContact.objects.exists()


def test_the_person_file_shows_contacts_and_takes_a_new_one(world):
    p1 = world.persons["p1"]
    client = Client()
    client.force_login(world.users["member1"])
    page = client.get(f"/people/{p1.pk}/")
    assert page.status_code == 200 and 'data-testid="staff-contact-form"' in page.content.decode()
    assert 'data-testid="staff-contacts"' not in page.content.decode()
    response = client.post(f"/health/persons/{p1.pk}/contacts/", {"kind": "phone", "note": "电话询问"}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "电话询问" in body and 'data-testid="staff-contacts"' in body
    refused = client.post(f"/health/persons/{p1.pk}/contacts/", {"kind": "letter"}, follow=True)
    assert refused.status_code == 200
    assert StaffContact.objects.count() == 1


def test_the_demo_records_staff_contacts_for_the_family_it_monitors(db):
    from epigrid.demo import scenario
    from epigrid.health.models import TemperatureReport

    scenario.load(live=True)
    monitored = set(TemperatureReport.objects.values_list("person_id", flat=True))
    contacted = set(StaffContact.objects.values_list("person_id", flat=True))
    assert monitored and monitored <= contacted
    assert set(StaffContact.objects.values_list("kind", flat=True)) >= {"visit", "phone"}
