"""The resident's personal link page: whom to call (the grid member's name and phone), and a
reading that jumps from the one just before it is confirmed before it is stored."""

import datetime as dt

import time_machine
from django.test import Client
from django.utils import timezone

from epigrid.core.crypto import seal
from epigrid.health import services
from epigrid.health.models import MonitoringPolicy, TemperatureReport

PHONE = "13912345678"


def _link(world):
    person = world.persons["p1"]
    return person, services.resident_link_issue(person=person, principal=world.users["member1"])


def test_the_page_shows_the_grid_member_and_a_tel_link(world):
    member = world.users["member1"]
    member.phone_sealed, member.phone_masked = seal(PHONE), "139****5678"
    member.save()
    _person, token = _link(world)
    page = Client().get(f"/r/{token}/").content.decode()
    assert str(member) in page
    assert f'href="tel:{PHONE}"' in page


def test_a_jump_asks_for_confirmation_before_it_is_stored(world):
    person, token = _link(world)
    client = Client(enforce_csrf_checks=False)
    assert client.post(f"/r/{token}/", {"value": "36.4"}).status_code == 200
    assert TemperatureReport.objects.filter(person=person).count() == 1
    # 39.1 a minute later: the confirm step, nothing stored.
    page = client.post(f"/r/{token}/", {"value": "39.1"})
    text = page.content.decode()
    assert page.status_code == 200 and 'data-testid="confirm"' in text
    assert "36.4" in text and "39.1" in text
    assert TemperatureReport.objects.filter(person=person).count() == 1
    # Confirmed: stored (and a fever).
    page = client.post(f"/r/{token}/", {"value": "39.1", "confirm": "1"})
    assert 'data-testid="confirm"' not in page.content.decode()
    assert list(TemperatureReport.objects.filter(person=person).order_by("id").values_list("value", flat=True)) == [
        services.parse_temperature("36.4"),
        services.parse_temperature("39.1"),
    ]


def test_small_changes_and_late_jumps_are_stored_at_once(world):
    person, token = _link(world)
    client = Client()
    client.post(f"/r/{token}/", {"value": "36.4"})
    client.post(f"/r/{token}/", {"value": "37.8"})  # 1.4 °C: plausible
    assert TemperatureReport.objects.filter(person=person).count() == 2
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=11)):
        client.post(f"/r/{token}/", {"value": "39.5"})  # 1.7 °C, but 11 minutes later
    assert TemperatureReport.objects.filter(person=person).count() == 3


def test_the_api_answers_409_then_stores_when_confirmed(world):
    person, token = _link(world)
    client = Client()
    url = f"/api/v1/resident/{token}/temperature"
    assert client.post(url, {"value": "36.4"}, content_type="application/json").status_code == 200
    refused = client.post(url, {"value": 39.1}, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["code"] == "temperature_confirm"
    assert refused.json()["messages"]["zh-hans"].startswith("请确认")
    assert TemperatureReport.objects.filter(person=person).count() == 1
    stored = client.post(url, {"value": 39.1, "confirm": True}, content_type="application/json")
    assert stored.status_code == 200 and stored.json()["stored"] and stored.json()["fever"]
    assert TemperatureReport.objects.filter(person=person).count() == 2


def test_a_link_stops_when_it_is_replaced_or_its_person_moves_away(world):
    """A replaced link, and the link of a person archived since (moved away), answer 404
    `link_not_found` and store nothing; the new link reports, with the days left of the order."""
    from epigrid.control import services as control
    from epigrid.people import services as people

    person, old = _link(world)
    control.control_order_start(person=person, kind="home_quarantine", reason="other", principal=world.admin)
    new = services.resident_link_issue(person=person, principal=world.users["member1"])
    client = Client()
    url = "/api/v1/resident/{}/temperature"
    refused = client.post(url.format(old), {"value": "36.4"}, content_type="application/json")
    assert refused.status_code == 404 and refused.json()["code"] == "link_not_found"
    answer = client.post(url.format(new), {"value": "36.4"}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["stored"] and answer.json()["days_left"] == 14
    people.person_archive(person=person, reason="搬去外地女儿家", principal=world.admin)
    gone = client.post(url.format(new), {"value": "36.5"}, content_type="application/json")
    assert gone.status_code == 404 and gone.json()["code"] == "link_not_found"
    assert TemperatureReport.objects.filter(person=person).count() == 1


def test_a_jump_is_found_under_the_next_days_slot(world):
    """The check reads only the days a reading of the last minutes can be filed under (its slot's
    day: a day either side of the day it was measured). With a slot at midnight, 36.4 at 23:55 is
    filed under the next day; 39.1 at 23:59 is still a jump from it."""
    MonitoringPolicy.objects.update_or_create(pk=1, defaults={"slot_times": ["00:00", "08:00", "14:00", "20:00"]})
    person, token = _link(world)
    url = f"/api/v1/resident/{token}/temperature"
    late = timezone.make_aware(dt.datetime.combine(timezone.localdate() - dt.timedelta(days=1), dt.time(23, 55)))
    with time_machine.travel(late, tick=False):
        assert Client().post(url, {"value": 36.4}, content_type="application/json").status_code == 200
    assert TemperatureReport.objects.get(person=person).local_date == late.date() + dt.timedelta(days=1)
    with time_machine.travel(late + dt.timedelta(minutes=4), tick=False):
        refused = Client().post(url, {"value": 39.1}, content_type="application/json")
        assert refused.status_code == 409 and refused.json()["code"] == "temperature_confirm"
        assert TemperatureReport.objects.filter(person=person).count() == 1
        assert Client().post(url, {"value": 39.1, "confirm": True}, content_type="application/json").status_code == 200
    assert TemperatureReport.objects.filter(person=person).count() == 2
