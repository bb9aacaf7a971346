"""返乡申报 by QR: a compound's poster (a random, regenerable token, its QR printed) opens a public
form; what an arriving resident sends lands as a tip with the compound's grid member, never as a
person; the form is throttled per address, CSRF-protected, and tells nothing of who is
registered."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.control import services
from epigrid.control.models import RegistrationPoster, SelfRegistration, Tip
from epigrid.core.crypto import unseal
from epigrid.core.models import AuditEvent
from epigrid.people.models import Person
from tests.factories import make_id_number, make_phone


def _staff(world, username="member1"):
    client = Client()
    client.force_login(world.users[username])
    return client


@pytest.fixture
def token(world):
    return services.poster_issue(grid=world.nodes["S-C-G1"], principal=world.users["member1"])


def _form(**changes):
    data = {
        "name": "孙小美",
        "id_number": make_id_number(),
        "phone": make_phone(),
        "origin_code": "420000",
        "origin_detail": "襄阳市",
        "travel_mode": "train",
        "arrival_date": timezone.localdate().isoformat(),
        "address": "1号楼2单元301",
    }
    return {**data, **changes}


def test_the_poster_page_shows_a_real_qr_and_can_be_made_anew(world):
    client = _staff(world)
    page = client.get("/control/grids/S-C-G1/poster/")
    assert page.status_code == 200 and "<svg" not in page.content.decode()  # no poster yet
    assert client.post("/control/grids/S-C-G1/poster/").status_code == 302
    first = services.poster_token(grid=world.nodes["S-C-G1"])
    text = client.get("/control/grids/S-C-G1/poster/").content.decode()
    assert "<svg" in text and "返乡人员请扫码申报" in text
    # The QR is one for the form's URL (segno makes the same symbol for it).
    import segno

    link = f"http://testserver/control/join/{first}/"
    assert segno.make(link, error="m").svg_inline(scale=6, omitsize=True) in text
    client.post("/control/grids/S-C-G1/poster/")
    second = services.poster_token(grid=world.nodes["S-C-G1"])
    assert second != first and len(second) >= 24
    assert Client().get(f"/control/join/{first}/").status_code == 404
    assert Client().get(f"/control/join/{second}/").status_code == 200
    assert RegistrationPoster.objects.filter(revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="poster.issue").count() == 2


def test_only_the_compounds_staff_reach_the_poster(world):
    assert _staff(world, "member2").get("/control/grids/S-C-G1/poster/").status_code == 404
    assert _staff(world, "inspector").get("/control/grids/S-C-G1/poster/").status_code == 403
    assert Client().get("/control/grids/S-C-G1/poster/").status_code == 302  # to the login


def test_a_registration_lands_as_a_tip_with_the_grid_member(world, token):
    services.risk_area_save(code="420000", name="湖北省", principal=world.admin)
    persons = Person.objects.count()
    data = _form()
    page = Client().post(f"/control/join/{token}/", data)
    assert page.status_code == 200 and 'data-testid="registered"' in page.content.decode()
    tip = Tip.objects.get(source="self")
    assert tip.grid == world.nodes["S-C-G1"] and tip.owner == world.users["member1"]
    assert tip.created_by is None and tip.risk_area.name == "湖北省"
    registration = tip.self_registration
    assert unseal(registration.id_number_sealed) == data["id_number"]
    assert registration.id_number_masked != data["id_number"] and registration.address == "1号楼2单元301"
    assert Person.objects.count() == persons and not tip.key_persons.exists()
    logged = AuditEvent.objects.get(action="tip.self_register")
    assert data["id_number"] not in str(logged.changes) and data["phone"] not in str(logged.changes)
    # The grid member sees it to check, masked; another compound's does not.
    text = _staff(world).get("/control/self-registrations/").content.decode()
    assert "孙小美" in text and registration.id_number_masked in text and data["id_number"] not in text
    assert "孙小美" not in _staff(world, "member2").get("/control/self-registrations/").content.decode()
    assert "孙小美" in _staff(world).get("/health/today/").content.decode()  # on the grid member's day
    assert _staff(world).post(f"/control/self-registrations/{tip.pk}/check/").status_code == 302
    assert AuditEvent.objects.filter(action="tip.check", object_id=str(tip.pk)).count() == 1
    assert "孙小美" not in _staff(world).get("/control/self-registrations/").content.decode()


def test_sending_twice_makes_one_tip(world, token):
    data = _form()
    client = Client()
    client.post(f"/control/join/{token}/", data)
    client.post(f"/control/join/{token}/", data)
    assert SelfRegistration.objects.count() == 1


def test_a_registered_number_gets_the_same_answer_as_a_new_one(world, token):
    """The form never looks at who is registered: a resident's own number, or anyone's, answers
    alike and registers nobody."""
    registered = unseal(world.persons["p1"].id_number_sealed)
    known = Client().post(f"/control/join/{token}/", _form(id_number=registered, name="张三"))
    new = Client().post(f"/control/join/{token}/", _form(name="张三"))
    assert known.status_code == new.status_code == 200
    assert known.content == new.content  # byte for byte
    assert Person.objects.filter(name="张三").count() == 1  # the registered one, nobody added


def test_bad_input_is_refused_in_both_languages(world, token):
    number = make_id_number()
    bad = number[:-1] + ("0" if number[-1] != "0" else "1")
    page = Client().post(f"/control/join/{token}/", _form(id_number=bad, phone="1234"))
    text = page.content.decode()
    assert page.status_code == 400
    assert "校验" in text or "身份证" in text
    assert not Tip.objects.exists()
    page = Client().post(
        f"/control/join/{token}/", _form(arrival_date=(timezone.localdate() + dt.timedelta(days=90)).isoformat())
    )
    assert page.status_code == 400 and "30" in page.content.decode()
    assert "Give an arrival date within 30 days of today." in page.content.decode()


def test_the_form_is_csrf_protected_and_throttled(world, token, settings):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/control/join/{token}/", _form()).status_code == 403
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "self_registration": "2/h"}
    client = Client()
    assert client.post(f"/control/join/{token}/", _form()).status_code == 200
    assert client.post(f"/control/join/{token}/", _form()).status_code == 200
    refused = client.post(f"/control/join/{token}/", _form())
    assert refused.status_code == 429 and "Too many forms" in refused.content.decode()
    assert SelfRegistration.objects.count() == 2
    # Another address is not held back.
    assert Client(REMOTE_ADDR="10.0.0.9").post(f"/control/join/{token}/", _form()).status_code == 200


def test_an_unknown_token_is_not_found(world):
    assert Client().get("/control/join/not-a-real-token/").status_code == 404
    assert Client().post("/control/join/not-a-real-token/", _form()).status_code == 404
    assert not Tip.objects.exists()
