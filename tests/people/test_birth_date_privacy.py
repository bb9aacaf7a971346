"""The birth date is the 8 digits the masked ID number hides (370102********516X + 1995-12-22
= 37010219951222516X): it is stored sealed like the ID number, shown as a year and an age to
everybody, and in full only through the audited reveal to users who may unmask."""

import io
import json

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.core.capabilities import Capability
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.models import AuditEvent, ImportBatch
from epigrid.core.scoping import allows
from epigrid.people import ledgers, services
from epigrid.people.models import Person
from tests.factories import api, make_id_number, make_phone
from tests.people.test_ledgers import HEADER, xlsx

# Roles that see the person but may not unmask: inspector (subdistrict), checkpoint guard
# (compound grid), building head (building; may edit people).
ROLES_WITHOUT_UNMASK = ("inspector", "guard1", "bhead1")


def birth_strings(number: str) -> list[str]:
    y, m, d = number[6:10], number[10:12], number[12:14]
    return [number, number[6:14], f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{y}年{int(m)}月{int(d)}日"]


def assert_hidden(text: str, numbers, where: str) -> None:
    for number in numbers:
        for s in birth_strings(number):
            assert s not in text, f"{s!r} (birth date of {number[:6]}…) shown in {where}"


@pytest.fixture
def subject(world):
    """A person born 1995-12-22 with a file that has a history: created, edited, revealed, and
    one whose ID number (so birth date) was corrected."""
    admin = world.admin
    first = make_id_number(birth="19951222")
    person = services.person_create(
        name="赵敏", id_number=first, phone=make_phone(), household=world.households["h1"], principal=admin
    )
    services.person_update(person=person, principal=admin, note="行动不便", phone=make_phone())
    for field in ("id_number", "birth_date", "phone"):
        services.person_reveal(person=person, field=field, principal=world.users["member1"])
    old, new = make_id_number(birth="19881103"), make_id_number(birth="19770605")
    other = services.person_create(name="钱七", id_number=old, household=world.households["h1"], principal=admin)
    services.person_update(person=other, principal=admin, id_number=new)
    person.refresh_from_db()
    other.refresh_from_db()
    return {"person": person, "other": other, "numbers": [first, old, new]}


def login(world, username) -> Client:
    client = Client()
    client.force_login(world.users[username])
    return client


@pytest.mark.parametrize("username", ROLES_WITHOUT_UNMASK)
def test_pages_show_year_and_age_never_the_birth_date(world, subject, username):
    person, numbers = subject["person"], subject["numbers"]
    assert not allows(world.users[username], Capability.UNMASK_PII, person.grid.path)
    client = login(world, username)
    pages = {
        "person file": f"/people/{person.pk}/",
        "person of the corrected ID": f"/people/{subject['other'].pk}/",
        "search by name": "/people/?q=赵敏",
        "search by pinyin": "/people/?q=zhaomin",
        "search by initials": "/people/?q=zm",
        "list": "/people/",
        "household": f"/people/households/{world.households['h1'].pk}/",
        "building page": f"/grids/{person.grid.code}/",
    }
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, where
        assert_hidden(response.content.decode(), numbers, where)
    detail = client.get(f"/people/{person.pk}/").content.decode()
    assert person.id_number_masked in detail and "1995" in detail and str(timezone.localdate().year - 1995) in detail
    assert f"/people/{person.pk}/reveal/birth_date/" not in detail  # no Show button without the right
    search = client.get("/people/?q=赵敏").content.decode()
    assert person.id_number_masked in search and "1995" in search
    # No search by birth date: the digits find nobody.
    for q in ("19951222", "1995-12-22"):
        assert "赵敏" not in client.get(f"/people/?q={q}").content.decode()
    # The reveal is refused, and the refusal says nothing about the value.
    for field in ("birth_date", "id_number", "nope"):
        refused = client.post(f"/people/{person.pk}/reveal/{field}/")
        assert refused.status_code == 403
        assert_hidden(refused.content.decode(), numbers, "refused reveal")
    assert not AuditEvent.objects.filter(action="person.reveal", actor=world.users[username]).exists()


@pytest.mark.parametrize("username", ROLES_WITHOUT_UNMASK)
def test_api_shows_year_and_age_never_the_birth_date(world, subject, username):
    person, numbers = subject["person"], subject["numbers"]
    call = api(world, username)
    reads = {
        "detail": f"/api/v1/persons/{person.pk}",
        "search": "/api/v1/persons?q=赵敏",
        "search by pinyin": "/api/v1/persons?q=zm",
        "list": "/api/v1/persons",
        "household members": f"/api/v1/persons?household={world.households['h1'].pk}",
        "timeline": f"/api/v1/persons/{person.pk}/timeline",
        "timeline of the corrected ID": f"/api/v1/persons/{subject['other'].pk}/timeline",
    }
    for where, url in reads.items():
        response = call("get", url)
        assert response.status_code == 200, where
        assert_hidden(response.content.decode(), numbers, where)
    body = call("get", f"/api/v1/persons/{person.pk}").json()
    assert body["birth_year"] == 1995 and body["age"] == timezone.localdate().year - 1995
    assert "birth_date" not in body
    assert body["id_number_masked"] == numbers[0][:6] + "********" + numbers[0][-4:]
    for field in ("birth_date", "id_number"):
        refused = call("post", f"/api/v1/persons/{person.pk}/reveal", {"field": field})
        assert refused.status_code == 403
        assert_hidden(refused.content.decode(), numbers, "refused reveal")


def test_error_messages_never_echo_the_birth_date(world, subject):
    """A building head may edit people but not unmask: the errors of their writes say what is
    wrong, never the value."""
    person, numbers = subject["person"], subject["numbers"]
    call = api(world, "bhead1")
    duplicate = call(
        "post", "/api/v1/persons", {"name": "重复", "id_number": numbers[0], "household_id": world.households["h1"].pk}
    )
    assert duplicate.status_code == 409
    bad_date = numbers[0][:10] + "1322" + numbers[0][14:]  # month 13
    wrong_check = "1" if numbers[0][-1] == "0" else "0"
    answers = [
        duplicate,
        call("patch", f"/api/v1/persons/{person.pk}", {"phone": "12"}),
        call("patch", f"/api/v1/persons/{person.pk}", {"id_number": bad_date}),
        # A wrong check digit (any other than the real one).
        call("patch", f"/api/v1/persons/{person.pk}", {"id_number": numbers[0][:-1] + wrong_check}),
        call("patch", f"/api/v1/persons/{subject['other'].pk}", {"id_number": numbers[0]}),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500
        assert_hidden(answer.content.decode().replace(bad_date, ""), numbers, "error message")
    page = login(world, "bhead1").post(f"/people/{person.pk}/edit/", {"name": "赵敏", "id_number": numbers[2]})
    assert page.status_code == 400
    # The page echoes what the user typed into the form, nothing else of either person.
    assert_hidden(page.content.decode().replace(numbers[2], ""), numbers, "edit form error")
    # An import that repeats a registered ID number is refused row by row, without values.
    row = ["S-C-G1-B1", "9-901", "9号楼", "重复", numbers[0], "", "", ""]
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(data=xlsx([HEADER, row]), file_name="dup.xlsx", kind="residents", principal=world.admin)
    assert_hidden(json.dumps(excinfo.value.as_dict(), ensure_ascii=False, default=str), numbers, "import report")
    stored = ImportBatch.objects.filter(status="rejected").values_list("errors", flat=True)
    assert_hidden(json.dumps(list(stored), ensure_ascii=False), numbers, "stored import errors")


def test_masked_export_holds_no_birth_date(world, subject, monkeypatch):
    numbers = subject["numbers"]
    # A principal who may export but not unmask gets the masked ledger.
    real = ledgers.allows
    monkeypatch.setattr(
        ledgers, "allows", lambda p, cap, path="": False if cap == Capability.UNMASK_PII else real(p, cap, path)
    )
    out, _name = ledgers.ledger_export(kind="residents", node=world.nodes["S-C-G1"], principal=world.users["staff"])
    cells = CalamineWorkbook.from_filelike(io.BytesIO(out.read())).get_sheet_by_index(0).to_python()
    text = json.dumps(cells, ensure_ascii=False, default=str)
    assert subject["person"].id_number_masked in text
    assert_hidden(text, numbers, "masked export")


def test_the_reveal_shows_the_full_date_and_is_audited(world, subject):
    person = subject["person"]
    before = AuditEvent.objects.filter(action="person.reveal", actor=world.users["member1"]).count()
    page = login(world, "member1").get(f"/people/{person.pk}/").content.decode()
    assert f"/people/{person.pk}/reveal/birth_date/" in page and "1995-12-22" not in page
    revealed = login(world, "member1").post(f"/people/{person.pk}/reveal/birth_date/")
    assert revealed.status_code == 200 and "1995-12-22" in revealed.content.decode()
    answer = api(world, "member1")("post", f"/api/v1/persons/{person.pk}/reveal", {"field": "birth_date"})
    assert answer.status_code == 200 and answer.json() == {"field": "birth_date", "value": "1995-12-22"}
    events = AuditEvent.objects.filter(action="person.reveal", actor=world.users["member1"]).order_by("id")
    assert events.count() == before + 2
    assert events.last().changes == {"field": [None, "birth_date"]}
    assert events.last().object_id == str(person.pk)
    with pytest.raises(DomainError):
        services.person_reveal(person=person, field="birth_year", principal=world.users["member1"])


def test_no_plaintext_birth_date_in_the_database(world, subject):
    numbers = subject["numbers"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM people_person")
        columns = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
        cursor.execute("SELECT changes FROM core_auditevent")
        changes = [row[0] for row in cursor.fetchall()]
    assert "birth_date" not in columns and "birth_date_sealed" in columns and "birth_year" in columns
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            text = value.decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
            if isinstance(value, memoryview):
                text = bytes(value).decode("latin-1")
            assert_hidden(text, numbers, f"people_person.{column}")
    # The audit log never held a birth date either (creates, edits, ID corrections, reveals).
    assert_hidden("\n".join(str(c) for c in changes), numbers, "audit changes")


def test_age_and_year_and_the_import_still_derive_from_the_id_number(world):
    number = make_id_number(birth="20010704")
    person = services.person_create(
        name="孙八", id_number=number, household=world.households["h1"], principal=world.admin
    )
    assert person.birth_year == 2001 and person.age == timezone.localdate().year - 2001
    assert unseal(person.birth_date_sealed) == "2001-07-04"
    imported = make_id_number(birth="19630215")
    row = ["S-C-G1-B1", "8-801", "8号楼801", "周九", imported, "", "户主", ""]
    batch = ledgers.ledger_import(
        data=xlsx([HEADER, row]), file_name="one.xlsx", kind="residents", principal=world.users["staff"]
    )
    person = Person.objects.get(import_batch=batch)
    assert person.birth_year == 1963 and unseal(person.birth_date_sealed) == "1963-02-15"
    assert person.sex == ("M" if int(imported[16]) % 2 else "F")
    # A corrected ID number moves the birth date with it.
    services.person_update(person=person, principal=world.admin, id_number=make_id_number(birth="19640316"))
    person.refresh_from_db()
    assert person.birth_year == 1964 and unseal(person.birth_date_sealed) == "1964-03-16"


# Run in a fresh SQLite file: migrating backwards needs the schema editor outside the test's
# transaction, and the append-only audit log cannot be flushed by a transactional test case.
MIGRATION_SCRIPT = r"""
import json
import django
django.setup()
from django.core.management import call_command
from django.db import connection

call_command("migrate", verbosity=0)
from epigrid.core.crypto import unseal
from epigrid.people.models import Person
from tests.factories import build_world

build_world()
before = {p.pk: [p.birth_year, unseal(p.birth_date_sealed)] for p in Person.objects.all()}
call_command("migrate", "people", "0002_person_indexes", verbosity=0)  # the rollback restores the column
with connection.cursor() as cursor:
    cursor.execute("SELECT id, birth_date FROM people_person")
    plain = {pk: str(value) for pk, value in cursor.fetchall()}
call_command("migrate", verbosity=0)
with connection.cursor() as cursor:
    columns = [c.name for c in connection.introspection.get_table_description(cursor, "people_person")]
    cursor.execute("SELECT * FROM people_person")
    raw = [[bytes(v).hex() if isinstance(v, (bytes, memoryview)) else str(v) for v in row] for row in cursor.fetchall()]
after = {p.pk: [p.birth_year, unseal(p.birth_date_sealed)] for p in Person.objects.all()}
print(json.dumps({"before": before, "plain": plain, "columns": columns, "raw": raw, "after": after}))
"""


def test_migration_seals_existing_birth_dates_and_drops_the_column(tmp_path):
    """0003-0005 on a database with persons: back to the plaintext column (the rollback
    restores it), then forward: sealed, the year in clear, the column gone."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}",
        "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)]),
        "DJANGO_SETTINGS_MODULE": "epigrid.config.settings",
    }
    env.pop("EPIGRID_PRODUCTION", None)
    done = subprocess.run(
        [sys.executable, "-c", MIGRATION_SCRIPT], env=env, cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] and result["after"] == result["before"]
    assert result["plain"] == {pk: date for pk, (_year, date) in result["before"].items()}
    assert "birth_date" not in result["columns"] and {"birth_year", "birth_date_sealed"} <= set(result["columns"])
    text = json.dumps(result["raw"])
    for year, date in result["before"].values():
        assert date not in text and date.replace("-", "") not in text
        assert str(year) in text
