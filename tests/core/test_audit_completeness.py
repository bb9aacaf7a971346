"""Audit completeness (issue 9 item 12): every gate passage and every download of personal data
is in the audit chain, with counts and ids, never the personal values themselves."""

import datetime as dt
import io
import json
import uuid

import pytest
from django.test import Client
from python_calamine import CalamineWorkbook

from epigrid.core import audit
from epigrid.core.crypto import unseal
from epigrid.core.models import AuditEvent
from epigrid.gates import services
from epigrid.gates.models import HouseholdPass, Passage
from tests.factories import api


@pytest.fixture
def gate(world):
    checkpoint = services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    return checkpoint


def _pass(world):
    return HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)


def _personal(world) -> list[str]:
    values = [world.households["h1"].address]
    for key in ("p1", "p1b"):
        person = world.persons[key]
        values += [person.name, unseal(person.id_number_sealed)]
    return values


def _page(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _rows(response) -> list[list]:
    content = b"".join(response.streaming_content)
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return book.get_sheet_by_name(book.sheet_names[0]).to_python()[1:]


def test_a_scan_at_the_gate_is_audited_with_its_passage(world, gate):
    household_pass = _pass(world)
    call = api(world, "guard1")
    path = f"/api/v1/checkpoints/{gate.pk}/scan"
    answer = call("post", path, {"number": household_pass.number, "direction": "out", "temperature": 36.5})
    assert answer.status_code == 200
    passage = Passage.objects.get(pk=answer.json()["passage_id"])
    event = AuditEvent.objects.get(action="passage.record")
    assert (event.object_type, event.object_id) == ("gates.passage", str(passage.pk))
    assert event.actor == world.users["guard1"] and event.grid_path == world.nodes["S-C-G1"].path
    assert event.changes["household_pass"] == [None, household_pass.pk]
    assert event.changes["verdict"] == [None, "allowed"]
    text = json.dumps(event.changes, ensure_ascii=False)
    assert not [value for value in _personal(world) if value in text]
    # A second scan within the minute is the same passage: nothing new to record.
    again = call("post", path, {"number": household_pass.number, "direction": "out", "temperature": 36.5})
    assert again.json()["repeated"] is True
    assert AuditEvent.objects.filter(action="passage.record").count() == 1
    # By the gate page too.
    scan = _page(world, "guard1").post(
        f"/gates/{gate.pk}/scan/", {"number": household_pass.number, "direction": "in", "temperature": "36.4"}
    )
    assert scan.status_code == 200
    assert AuditEvent.objects.filter(action="passage.record").count() == 2
    assert audit.verify().ok


def test_an_offline_batch_is_audited_once_with_every_passage_it_stored(world, gate):
    number = _pass(world).number
    now = dt.datetime.now(dt.UTC)
    body = {
        "checkpoint_id": gate.pk,
        "passages": [
            {
                "number": number,
                "direction": "out",
                "at": (now - dt.timedelta(minutes=m)).isoformat(),
                "client_id": str(uuid.uuid4()),
            }
            for m in (30, 20, 10)
        ],
    }
    response = api(world, "guard1")("post", "/api/v1/passages/batch", body)
    assert response.status_code == 200 and response.json()["stored"] == 3
    event = AuditEvent.objects.get(action="passages.record")
    assert event.changes["stored"] == [None, 3]
    assert sorted(event.changes["passages"][1]) == sorted(r["passage_id"] for r in response.json()["results"])


def test_downloading_the_passage_ledger_is_audited_with_the_count(world, gate):
    number = _pass(world).number
    call = api(world, "guard1")
    for direction in ("out", "in"):
        call(
            "post",
            f"/api/v1/checkpoints/{gate.pk}/scan",
            {"number": number, "direction": direction, "temperature": 36.5},
        )
    response = _page(world, "guard1").get(f"/gates/ledger.xlsx?checkpoint={gate.pk}")
    assert response.status_code == 200 and len(_rows(response)) == 2
    event = AuditEvent.objects.get(action="ledger.export")
    assert event.actor == world.users["guard1"]
    assert (event.object_type, event.object_id) == ("gates.checkpoint", str(gate.pk))
    assert event.grid_path == world.nodes["S-C-G1"].path
    assert event.changes["kind"] == [None, "passages"] and event.changes["rows"] == [None, 2]
    assert not [value for value in _personal(world) if value in json.dumps(event.changes, ensure_ascii=False)]
    # Without a filter: all the guard sees, recorded where the guard works.
    _page(world, "guard1").get("/gates/ledger.xlsx")
    event = AuditEvent.objects.filter(action="ledger.export").latest("id")
    assert event.grid_path == world.nodes["S-C-G1"].path and event.changes["rows"] == [None, 2]


def test_downloading_a_residents_ledger_is_audited_with_the_count(world):
    response = _page(world, "staff").get("/people/export/residents/?grid=S-C-G1")
    assert response.status_code == 200
    rows = _rows(response)
    event = AuditEvent.objects.get(action="ledger.export")
    assert event.changes["kind"] == [None, "residents"] and event.changes["rows"] == [None, len(rows)] and rows


def test_printing_the_pass_cards_is_audited_with_the_count(world, gate):
    response = _page(world, "head1").get("/gates/passes/S-C-G1/sheet/")
    assert response.status_code == 200 and "<svg" in response.content.decode()
    event = AuditEvent.objects.get(action="passes.print")
    assert event.actor == world.users["head1"]
    assert event.changes["cards"] == [
        None,
        HouseholdPass.objects.filter(grid__path__startswith=world.nodes["S-C-G1"].path).count(),
    ]
    # Someone who may not print them gets no cards and leaves no record of printing.
    assert _page(world, "guard1").get("/gates/passes/S-C-G1/sheet/").status_code == 403
    assert AuditEvent.objects.filter(action="passes.print").count() == 1
