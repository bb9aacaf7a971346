"""Re-importing a residents ledger: rows are matched to registered persons by ID number and
updated (or left unchanged); new numbers are registered; the report says what became of each
row; one refused row still writes nothing."""

import io

import pytest
from django.core.management import call_command
from django.test import Client

from epigrid.accounts.models import User
from epigrid.accounts.permissions import console_verified
from epigrid.accounts.services import api_token_issue
from epigrid.core.crypto import lookup_hash, unseal
from epigrid.core.errors import RowErrors
from epigrid.core.models import AuditEvent
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode
from epigrid.people import ledgers
from epigrid.people.models import Household, Person
from tests.factories import make_id_number, make_phone
from tests.people.test_ledgers import HEADER, read_xlsx, resident_rows, xlsx

PHONE = 5  # column of 联系电话


@pytest.fixture
def g3(world):
    grid = grid_services.grid_node_create(
        parent=world.nodes["S-C"], code="S-C-G3", name="第3网格", level=GridLevel.GRID, principal=world.admin
    )
    return grid_services.grid_node_create(
        parent=grid, code="S-C-G3-B1", name="3号楼", level=GridLevel.BUILDING, principal=world.admin
    )


@pytest.fixture
def demo(db):
    from epigrid.demo import scenario

    scenario.load(live=False)
    community = console_verified(User.objects.get(username="community"))
    node = GridNode.objects.get(code="JZXC-HYL")
    out, _name = ledgers.ledger_export(kind="residents", node=node, principal=community)
    return community, read_xlsx(out.read())


def test_the_demo_export_imports_again_as_unchanged(demo, tmp_path, capsys):
    _community, rows = demo
    persons = Person.objects.count()
    assert len(rows) - 1 == persons > 200
    path = tmp_path / "居民台账.xlsx"
    path.write_bytes(xlsx(rows))
    # The console command, as a community office would run it.
    call_command("ledger", "import", str(path), "--kind", "residents", "--user", "community")
    out = capsys.readouterr().out
    assert f"created 0, updated 0, unchanged {persons}, refused 0" in out
    assert Person.objects.count() == persons
    assert not AuditEvent.objects.filter(action__in=["person.update", "person.import"]).exists()


def test_a_changed_phone_updates_that_row_and_the_audit_has_it(demo):
    community, rows = demo
    persons, households = Person.objects.count(), Household.objects.count()
    new_phone = make_phone()
    rows[7][PHONE] = new_phone
    batch = ledgers.ledger_import(data=xlsx(rows), file_name="台账.xlsx", kind="residents", principal=community)
    report = batch.report
    assert (report["created"], report["updated"], report["unchanged"], report["refused"]) == (0, 1, persons - 1, 0)
    assert [r["row"] for r in report["rows"]] == list(range(2, persons + 2))  # sorted by row number
    changed = next(r for r in report["rows"] if r["outcome"] == "updated")
    assert changed["row"] == 8
    person = Person.objects.get(pk=changed["person_id"])
    assert unseal(person.phone_sealed) == new_phone and person.phone_hash == lookup_hash("phone", new_phone)
    assert person.phone_masked.endswith(new_phone[-4:])
    # Audited like an edit on the file: the phone changed, its value not in the log.
    event = AuditEvent.objects.get(action="person.update", object_id=str(person.pk))
    assert set(event.changes) == {"phone", "import_batch", "row"}
    assert new_phone not in str(event.changes)
    assert event.changes["import_batch"] == [None, batch.pk]
    assert (Person.objects.count(), Household.objects.count()) == (persons, households)


def test_new_and_changed_rows_in_one_file(world, g3):
    staff = world.users["staff"]
    rows = resident_rows(6)
    ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="a.xlsx", kind="residents", principal=staff)
    rows[1][3] = "居民一改名"  # name
    rows[2][6] = "配偶"  # relationship
    rows[3][2] = "3号楼新地址"  # the household's address (rows 3..5 are one household)
    rows[4][2] = rows[5][2] = "3号楼新地址"
    rows.append(["S-C-G3-B1", "9-901", "9单元901", "新居民", make_id_number(), "", "", ""])
    batch = ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="b.xlsx", kind="residents", principal=staff)
    outcomes = {r["row"]: r["outcome"] for r in batch.report["rows"]}
    assert outcomes == {
        2: "unchanged",
        3: "updated",
        4: "updated",
        5: "unchanged",
        6: "unchanged",
        7: "unchanged",
        8: "created",
    }
    renamed = Person.objects.get(pk=batch.report["rows"][1]["person_id"])
    assert renamed.name == "居民一改名" and renamed.name_pinyin.startswith("juminyi")
    assert Household.objects.get(grid=g3, number=rows[3][1]).address == "3号楼新地址"
    assert AuditEvent.objects.filter(action="household.update").count() == 1
    assert AuditEvent.objects.filter(action="person.update").count() == 2


def test_a_file_without_the_phone_column_keeps_the_phones(world, g3):
    staff = world.users["staff"]
    rows = resident_rows(3)
    ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="a.xlsx", kind="residents", principal=staff)
    narrow = [[c for i, c in enumerate(row) if i != PHONE] for row in [HEADER, *rows]]
    batch = ledgers.ledger_import(data=xlsx(narrow), file_name="b.xlsx", kind="residents", principal=staff)
    assert batch.report["unchanged"] == 3
    assert Person.objects.filter(grid=g3, phone_hash="").count() == 0


def test_a_person_registered_in_the_area_is_moved_to_the_rows_household(world, g3):
    p2 = world.persons["p2"]
    rows = resident_rows(2)
    rows[1][4] = unseal(p2.id_number_sealed)
    batch = ledgers.ledger_import(
        data=xlsx([HEADER, *rows]), file_name="dup.xlsx", kind="residents", principal=world.users["staff"]
    )
    assert [(r["row"], r["outcome"]) for r in batch.report["rows"]] == [(2, "created"), (3, "updated")]
    p2.refresh_from_db()
    assert p2.grid == g3 and p2.household.number == rows[1][1] and p2.name == rows[1][3]
    event = AuditEvent.objects.get(action="person.update", object_id=str(p2.pk))
    assert event.grid_path == g3.path and "grid" in event.changes and "household" in event.changes


def test_one_refused_row_writes_no_update(world, g3):
    staff = world.users["staff"]
    rows = resident_rows(3)
    ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="a.xlsx", kind="residents", principal=staff)
    rows[0][PHONE] = make_phone()
    rows[2][PHONE] = "1234"
    rows[2][6] = "表哥"
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="b.xlsx", kind="residents", principal=staff)
    error = excinfo.value
    assert [r["row"] for r in error.rows] == [4, 4] and error.as_dict()["refused"] == 1
    assert "%(" not in error.render() and "2" in error.render()
    person = Person.objects.get(id_number_hash=lookup_hash("id", rows[0][4]))
    assert unseal(person.phone_sealed) != rows[0][PHONE]
    assert not AuditEvent.objects.filter(action="person.update").exists()


def test_the_rows_are_reported_in_row_order_across_checks(world, g3):
    """Problems found in the row pass and in the registered-number check come out by row."""
    p2 = world.persons["p2"]
    rows = resident_rows(3)
    rows[0][6] = "表哥"
    rows[1][4] = unseal(p2.id_number_sealed)
    archived = world.persons["p1b"]
    archived.archived_at = archived.created_at
    archived.save()
    rows[1][4] = unseal(archived.id_number_sealed)
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(
            data=xlsx([HEADER, *rows]), file_name="x.xlsx", kind="residents", principal=world.users["staff"]
        )
    assert [(r["row"], r["code"]) for r in excinfo.value.rows] == [(2, "relationship_unknown"), (3, "person_archived")]


def test_the_page_and_the_api_show_the_counts(world, g3):
    staff = world.users["staff"]
    rows = resident_rows(4)
    ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="a.xlsx", kind="residents", principal=staff)
    rows[0][PHONE] = make_phone()
    rows.append(["S-C-G3-B1", "9-901", "9单元901", "新居民", make_id_number(), "", "", ""])
    client = Client()
    client.force_login(staff)
    upload = io.BytesIO(xlsx([HEADER, *rows]))
    upload.name = "b.xlsx"
    # Queued as a background job; its page shows the report (tests/core/test_jobs.py).
    page = client.post("/people/import/", {"kind": "residents", "file": upload}, follow=True)
    assert page.redirect_chain[0][0].startswith("/jobs/")
    text = page.content.decode()
    for key, value in (("created", 1), ("updated", 1), ("unchanged", 3), ("refused", 0)):
        assert f'data-count="{key}">{value}<' in text
    rows[1][PHONE] = make_phone()
    token = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=staff)}"}
    upload = io.BytesIO(xlsx([HEADER, *rows]))
    upload.name = "c.xlsx"
    response = Client().post("/api/v1/imports", {"kind": "residents", "file": upload}, **token)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "done"
    body = response.json()["result"]
    assert (body["created"], body["updated"], body["unchanged"], body["refused"]) == (0, 1, 4, 0)
    assert [r["outcome"] for r in body["rows"]] == ["unchanged", "updated", "unchanged", "unchanged", "unchanged"]
    rows[2][PHONE] = "12"
    upload = io.BytesIO(xlsx([HEADER, *rows]))
    upload.name = "d.xlsx"
    response = Client().post("/api/v1/imports", {"kind": "residents", "file": upload}, **token)
    assert response.status_code == 202 and response.json()["status"] == "failed"
    assert response.json()["error"]["refused"] == 1


def test_updates_take_no_query_per_row(world, g3):
    """Set-based like the first import: one lookup of all the file's numbers, one of its
    households, one UPDATE batch; 8 rows or 40, the same queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    staff = world.users["staff"]

    def reimport(n, building):
        rows = resident_rows(n, building=building)
        ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="a.xlsx", kind="residents", principal=staff)
        for row in rows:
            row[PHONE] = make_phone()
        with CaptureQueriesContext(connection) as queries:
            batch = ledgers.ledger_import(
                data=xlsx([HEADER, *rows]), file_name="b.xlsx", kind="residents", principal=staff
            )
        assert batch.report["updated"] == n
        return len(queries)

    assert reimport(8, "S-C-G3-B1") == reimport(40, "S-C-G1-B1")
