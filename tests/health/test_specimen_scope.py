"""Security issue item 13, specimens: a specimen number already used outside the caller's area is
refused without saying whose it is, or even that it is taken; the refusal is logged."""

import datetime as dt
import json

from epigrid.core.models import AuditEvent
from epigrid.health import services as health
from epigrid.health.models import Sample
from tests.factories import api

SAMPLES = "/api/v1/samples"


def _text(response) -> str:
    """What the answer says, as a reader sees it (JSON decoded: no \\u escapes to hide behind)."""
    if response.get("Content-Type", "").startswith("application/json"):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.content.decode()


def _sample(world, username, person, number):
    return api(world, username)(
        "post",
        SAMPLES,
        {"person_id": person.pk, "specimen_number": number, "sampled_at": "2020-02-04T10:00:00+08:00"},
    )


def _taken(world):
    """张三 (第1网格) sampled as MX-1."""
    health.sample_record(
        person=world.persons["p1"], specimen_number="MX-1", sampled_at=dt.datetime.now(dt.UTC), principal=world.admin
    )


def test_a_specimen_number_used_outside_the_area_names_no_one(world):
    _taken(world)
    p1, p2 = world.persons["p1"], world.persons["p2"]
    response = _sample(world, "member2", p2, "mx-1")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "specimen_unavailable"
    body = _text(response)
    for shown in (p1.name, p1.grid.code, p1.grid.name, p1.id_number_masked, "another person", "其他人"):
        assert shown not in body, shown
    assert not Sample.objects.filter(person=p2).exists()
    logged = AuditEvent.objects.get(action="sample.duplicate_outside_scope")
    assert (logged.object_id, logged.grid_path, logged.actor) == (str(p2.pk), p2.grid.path, world.users["member2"])
    assert "MX-1" not in json.dumps(logged.changes)


def test_a_specimen_number_used_in_the_area_says_so(world):
    _taken(world)
    response = _sample(world, "member1", world.persons["p1b"], "MX-1")
    assert response.status_code == 409
    assert response.json()["code"] == "specimen_taken"
    assert not AuditEvent.objects.filter(action="sample.duplicate_outside_scope").exists()
    # The same person again is the same sample (idempotent), not a conflict.
    assert _sample(world, "member1", world.persons["p1"], "MX-1").status_code == 201


def test_specimen_refusals_outside_the_area_are_throttled(world, settings):
    settings.DUPLICATE_PROBE_LIMIT = 1
    _taken(world)
    p2 = world.persons["p2"]
    assert _sample(world, "member2", p2, "MX-1").status_code == 409
    refused = _sample(world, "member2", p2, "MX-NEW-1")  # a free number: refused all the same
    assert refused.status_code == 429 and refused.json()["code"] == "duplicate_probes"
    assert not Sample.objects.filter(person=p2).exists()
