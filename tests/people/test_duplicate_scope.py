"""Security issue item 13: a duplicate ID number must not confirm that a person exists outside
the caller's area.

Registered where the caller sees: the conflict says so and points to the file (they can open it
anyway). Registered elsewhere: one generic conflict that names no one and does not even say
"already registered", logged at the caller's grid for the community office. Refusals that tell
the caller something they may not read are counted, and after a few the caller may not register
for a while, so a stream of candidate numbers cannot sort them into taken and free.
"""

import json

import pytest
from django.test import Client

from epigrid.accounts import services as account_services
from epigrid.core.crypto import unseal
from epigrid.core.errors import RowErrors, Throttled
from epigrid.core.models import AuditEvent
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode
from epigrid.people import ledgers
from epigrid.people.models import Person
from tests.factories import api, make_id_number, make_user
from tests.people.test_ledgers import HEADER, xlsx

PERSONS = "/api/v1/persons"


def _id(person) -> str:
    return unseal(person.id_number_sealed)


def _create(world, username, household, number, name="新人"):
    return api(world, username)(
        "post", PERSONS, {"name": name, "id_number": number, "household_id": world.households[household].pk}
    )


def _nothing_of(world, body: str, *persons) -> None:
    """The answer names none of these persons, their grids or files, nor says they are registered."""
    for person in persons:
        for shown in (person.name, person.grid.code, person.grid.name, person.id_number_masked, _id(person)):
            assert shown not in body, shown
        assert f'"person_id": {person.pk}' not in body
    assert "already" not in body and "已登记" not in body


def _text(response) -> str:
    """What the answer says, as a reader sees it (JSON decoded: no \\u escapes to hide behind)."""
    if response.get("Content-Type", "").startswith("application/json"):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.content.decode()


def _audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("object_id", "grid_path", "changes")), default=str)


def test_an_id_registered_outside_the_area_gets_a_conflict_that_names_no_one(world):
    """member2 (第2网格) registers numbers that 张三 and 李四 (第1网格) hold: the same answer for
    both, with nothing about them; the attempt is logged at member2's grid, without the number."""
    p1, p1b = world.persons["p1"], world.persons["p1b"]
    answers = []
    for holder in (p1, p1b):
        response = _create(world, "member2", "h2", _id(holder))
        assert response.status_code == 409, response.content
        body = _text(response)
        assert response.json()["code"] == "id_number_unavailable"
        assert response.json()["field"] == "id_number"
        assert set(response.json()["messages"]) == {"zh-hans", "en"}
        _nothing_of(world, body, p1, p1b)
        answers.append(response.json())
    assert answers[0] == answers[1]
    assert not Person.objects.filter(name="新人").exists()
    logged = AuditEvent.objects.filter(action="person.duplicate_outside_scope")
    assert logged.count() == 2
    h2_grid = world.households["h2"].grid
    assert {(e.grid_path, e.object_type, e.object_id) for e in logged} == {
        (h2_grid.path, "grids.gridnode", str(h2_grid.pk))
    }
    assert all(e.actor == world.users["member2"] for e in logged)
    assert _id(p1) not in _audit_text() and _id(p1b) not in _audit_text()


def test_an_id_registered_in_the_area_points_to_the_file(world):
    """member1 registers 李四's number again: 李四 is in member1's grid, so the answer says so and
    gives the file to open. member1 may unmask 李四: nothing new learnt, nothing logged."""
    p1b = world.persons["p1b"]
    response = _create(world, "member1", "h1", _id(p1b))
    assert response.status_code == 409
    assert response.json()["code"] == "id_number_duplicate"
    assert response.json()["person_id"] == p1b.pk
    assert _id(p1b) not in _text(response)
    assert not AuditEvent.objects.filter(action__startswith="person.duplicate").exists()


def test_confirming_a_visible_persons_number_without_the_unmask_right_is_logged(world):
    """A building head sees 张三 masked and may register people, not unmask: the refusal confirms
    张三's full number, so it is logged on 张三's file (and counted)."""
    p1 = world.persons["p1"]
    response = _create(world, "bhead1", "h1", _id(p1))
    assert response.status_code == 409
    assert response.json()["code"] == "id_number_duplicate" and response.json()["person_id"] == p1.pk
    logged = AuditEvent.objects.get(action="person.duplicate")
    assert (logged.object_type, logged.object_id, logged.actor) == ("people.person", str(p1.pk), world.users["bhead1"])
    assert _id(p1) not in _audit_text()


def test_changing_an_id_to_one_registered_elsewhere_is_the_same_generic_conflict(world):
    p1, p2 = world.persons["p1"], world.persons["p2"]
    before = p2.id_number_hash
    response = api(world, "member2")("patch", f"{PERSONS}/{p2.pk}", {"id_number": _id(p1)})
    assert response.status_code == 409
    assert response.json()["code"] == "id_number_unavailable"
    _nothing_of(world, _text(response), p1)
    p2.refresh_from_db()
    assert p2.id_number_hash == before
    assert AuditEvent.objects.filter(action="person.duplicate_outside_scope").count() == 1


def test_refusals_that_confirm_a_number_are_throttled(world, settings):
    """After the allowance, the user may not register at all for a while: the 429 comes for a
    free number too, so it says nothing about the number sent."""
    settings.DUPLICATE_PROBE_LIMIT = 2
    p1, p1b = world.persons["p1"], world.persons["p1b"]
    assert _create(world, "member2", "h2", _id(p1)).status_code == 409
    assert _create(world, "member2", "h2", _id(p1b)).status_code == 409
    refused = _create(world, "member2", "h2", make_id_number())
    assert refused.status_code == 429, refused.content
    assert refused.json()["code"] == "duplicate_probes"
    assert _create(world, "member2", "h2", _id(p1)).status_code == 429
    assert not Person.objects.filter(name="新人").exists()
    # Refusals the user could read anyway are not counted, and others keep their allowance.
    assert _create(world, "member1", "h1", _id(p1b)).status_code == 409
    assert _create(world, "member1", "h1", make_id_number()).status_code == 201


def test_the_person_form_answers_the_generic_conflict(world):
    client = Client()
    client.force_login(world.users["member2"])
    p1 = world.persons["p1"]
    response = client.post(
        f"/people/new/?household={world.households['h2'].pk}", {"name": "新人", "id_number": _id(p1)}
    )
    page = _text(response)
    assert response.status_code == 400
    assert "cannot be registered here" in page or "无法在此登记" in page
    assert f"/people/{p1.pk}/" not in page and p1.name not in page and p1.id_number_masked not in page
    # In the area: the form links the file.
    client.force_login(world.users["member1"])
    page = client.post(
        f"/people/new/?household={world.households['h1'].pk}", {"name": "新人", "id_number": _id(p1)}
    ).content.decode()
    assert f"/people/{p1.pk}/" in page


# ---------------------------------------------------------------- the ledger import


@pytest.fixture
def staff2(world):
    """Community staff of another community (S-D): sees nothing of S-C."""
    community = grid_services.grid_node_create(
        parent=world.nodes["S"], code="S-D", name="另一社区", level=GridLevel.COMMUNITY, principal=world.admin
    )
    grid = grid_services.grid_node_create(
        parent=community, code="S-D-G1", name="D第1网格", level=GridLevel.GRID, principal=world.admin
    )
    grid_services.grid_node_create(
        parent=grid, code="S-D-G1-B1", name="D1号楼", level=GridLevel.BUILDING, principal=world.admin
    )
    user = make_user("staff2")
    account_services.grid_assignment_create(node=community, user=user, role="community_staff", principal=world.admin)
    return user


def _row(number, name="钱七"):
    return ["S-D-G1-B1", "1-101", "1单元101", name, number, "", "", ""]


def test_import_rows_registered_outside_the_area_name_no_one(world, staff2):
    p1 = world.persons["p1"]
    rows = [_row(make_id_number()), _row(_id(p1), name="孙八")]
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="x.xlsx", kind="residents", principal=staff2)
    assert [(r["row"], r["code"]) for r in excinfo.value.rows] == [(3, "id_number_unavailable")]
    assert "person_id" not in excinfo.value.rows[0]
    _nothing_of(world, json.dumps(excinfo.value.as_dict(), ensure_ascii=False), p1)
    logged = AuditEvent.objects.get(action="person.duplicate_outside_scope")
    assert logged.grid_path == GridNode.objects.get(code="S-D-G1-B1").path  # where staff2 registered
    assert logged.changes["source"] == [None, "import"] and logged.changes["count"] == [None, 1]
    assert "import_batch" in logged.changes
    assert _id(p1) not in _audit_text()


def test_import_rows_registered_in_the_area_update_the_file(world):
    p2 = world.persons["p2"]
    rows = [["S-C-G1-B1", "1-101", "1单元101", "钱七", _id(p2), "", "", ""]]
    batch = ledgers.ledger_import(
        data=xlsx([HEADER, *rows]), file_name="x.xlsx", kind="residents", principal=world.users["staff"]
    )
    assert batch.report["rows"] == [{"row": 2, "outcome": "updated", "person_id": p2.pk}]
    assert not AuditEvent.objects.filter(action__startswith="person.duplicate").exists()


def test_import_rows_registered_in_view_but_not_editable_point_to_the_file(world, staff2):
    """A person the importer sees but may not import into is not changed: the row points to the
    file, as the person form does."""
    account_services.grid_assignment_create(node=world.nodes["S"], user=staff2, role="inspector", principal=world.admin)
    p2 = world.persons["p2"]
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(
            data=xlsx([HEADER, _row(_id(p2))]), file_name="x.xlsx", kind="residents", principal=staff2
        )
    assert [(r["row"], r["code"], r.get("person_id")) for r in excinfo.value.rows] == [
        (2, "id_number_duplicate", p2.pk)
    ]
    p2.refresh_from_db()
    assert p2.name == "王五"


def test_a_file_of_candidate_numbers_beyond_the_allowance_lists_no_rows(world, staff2, settings):
    """A file cannot test more numbers than the allowance: beyond it the import is refused (429)
    without its rows, so the taken numbers are not singled out."""
    settings.DUPLICATE_PROBE_LIMIT = 1
    p1, p2 = world.persons["p1"], world.persons["p2"]
    rows = [_row(_id(p1)), _row(make_id_number()), _row(_id(p2), name="孙八")]
    with pytest.raises(Throttled) as excinfo:
        ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="x.xlsx", kind="residents", principal=staff2)
    assert "rows" not in excinfo.value.as_dict()
    assert excinfo.value.code == "duplicate_probes"
    assert AuditEvent.objects.get(action="person.duplicate_outside_scope").changes["count"] == [None, 2]
    # And the next file is refused before it is read.
    with pytest.raises(Throttled):
        ledgers.ledger_import(
            data=xlsx([HEADER, _row(make_id_number())]), file_name="y.xlsx", kind="residents", principal=staff2
        )
