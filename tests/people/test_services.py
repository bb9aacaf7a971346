import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from epigrid.core import shred
from epigrid.core.crypto import unseal
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.people import selectors, services
from epigrid.people.models import Person
from tests.factories import make_id_number


def test_person_is_stored_sealed_hashed_and_masked(world):
    number = make_id_number(birth="19800101")
    person = services.person_create(
        name="周八",
        id_number=number.lower(),
        phone="138 1234 5678",
        household=world.households["h1"],
        principal=world.users["member1"],
    )
    assert person.grid == world.nodes["S-C-G1-B1"]  # the household's grid
    assert person.id_number_masked == number[:6] + "********" + number[-4:]
    assert person.phone_masked == "138****5678"
    assert person.birth_year == 1980 and unseal(person.birth_date_sealed) == "1980-01-01"
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM people_person WHERE id = %s", [person.pk])
        raw = str(cursor.fetchone())
    assert number not in raw and "13812345678" not in raw and "19800101" not in raw and "1980-01-01" not in raw


def test_duplicate_id_number_is_refused(world):
    number = make_id_number()
    services.person_create(name="甲", id_number=number, household=world.households["h1"], principal=world.admin)
    with pytest.raises(Conflict) as excinfo:
        services.person_create(name="乙", id_number=number, household=world.households["h1"], principal=world.admin)
    assert excinfo.value.code == "id_number_duplicate"
    assert Person.objects.filter(name="乙").count() == 0


def test_bad_input_is_refused_with_field(world):
    with pytest.raises(DomainError) as excinfo:
        services.person_create(
            name="丙", id_number="370102198001010016", household=world.households["h1"], principal=world.admin
        )
    assert excinfo.value.field == "id_number"
    with pytest.raises(DomainError) as excinfo:
        services.person_create(
            name="丙",
            id_number=make_id_number(),
            phone="12345",
            household=world.households["h1"],
            principal=world.admin,
        )
    assert excinfo.value.field == "phone"


def test_roles_without_edit_right_cannot_register(world):
    with pytest.raises(Forbidden):
        services.person_create(
            name="丁", id_number=make_id_number(), household=world.households["h1"], principal=world.users["guard1"]
        )
    with pytest.raises(NotFound):  # another grid's household: not even visible
        services.person_create(
            name="丁", id_number=make_id_number(), household=world.households["h1"], principal=world.users["member2"]
        )


def test_update_is_audited_and_idempotent(world):
    person = world.persons["p1"]
    services.person_update(person=person, note="独居老人", principal=world.users["member1"])
    services.person_update(person=person, note="独居老人", principal=world.users["member1"])
    events = AuditEvent.objects.filter(action="person.update", object_id=str(person.pk))
    assert events.count() == 1
    # The note is free text: sealed with the person's key, open while the person is not erased.
    assert "独居老人" not in str(events.get().changes)
    assert shred.open_changes(events.get().changes) == {"note": [None, "独居老人"]}
    assert events.get().actor == world.users["member1"]


def test_changing_the_id_number_checks_duplicates(world):
    other = world.persons["p2"]
    with pytest.raises(Conflict):
        services.person_update(
            person=world.persons["p1"], id_number=unseal(other.id_number_sealed), principal=world.admin
        )


def test_archive_keeps_the_file(world):
    person = services.person_archive(person=world.persons["p1b"], reason="迁出", principal=world.users["member1"])
    assert person.archived_at is not None
    assert Person.objects.filter(pk=person.pk).exists()
    assert person not in selectors.person_list(user=world.users["member1"])
    assert person in selectors.person_list(user=world.users["member1"], include_archived=True)
    with pytest.raises(DomainError):
        services.person_update(person=person, note="x", principal=world.admin)


def test_reveal_needs_the_right_and_is_logged(world):
    person = world.persons["p1"]
    value = services.person_reveal(person=person, field="id_number", principal=world.users["member1"])
    assert len(value) == 18 and value.endswith(person.id_number_masked[-4:])
    event = AuditEvent.objects.get(action="person.reveal", object_id=str(person.pk))
    assert event.changes == {"field": [None, "id_number"]} and value not in str(event.changes)
    with pytest.raises(Forbidden):
        services.person_reveal(person=person, field="phone", principal=world.users["inspector"])
    with pytest.raises(NotFound):
        services.person_reveal(person=person, field="phone", principal=world.users["member2"])


@pytest.mark.parametrize("query", ["张三", "张", "zhangsan", "zs", "ZS"])
def test_search_by_name_and_pinyin(world, query):
    assert list(selectors.person_list(user=world.users["member1"], q=query)) == [world.persons["p1"]]


def test_search_by_exact_id_and_phone(world):
    # The exact search is its own service (tests/people/test_search_oracle.py); the list refuses it.
    p1 = world.persons["p1"]
    number = unseal(p1.id_number_sealed)
    phone = unseal(p1.phone_sealed)
    assert services.person_search_exact(principal=world.users["member1"], id_number=number) == [p1]
    assert services.person_search_exact(principal=world.users["member1"], phone=phone) == [p1]
    assert services.person_search_exact(principal=world.users["member2"], id_number=number) == []
    with pytest.raises(DomainError):
        selectors.person_list(user=world.users["member1"], q=number)


def test_moving_a_household_moves_its_members(world):
    services.household_update(household=world.households["h1"], grid=world.nodes["S-C-G1"], principal=world.admin)
    assert set(Person.objects.filter(household=world.households["h1"]).values_list("grid__code", flat=True)) == {
        "S-C-G1"
    }


def test_person_list_is_one_query(world):
    with CaptureQueriesContext(connection) as queries:
        rows = list(selectors.person_list(user=world.users["staff"])[:50])
    assert len(rows) == 3
    assert len(queries) == 2  # the user's assignment paths, then the scoped list


def test_timeline_shows_registration_and_changes(world):
    person = world.persons["p1"]
    services.person_update(person=person, note="需要关注", principal=world.users["member1"])
    kinds = [entry["kind"] for entry in selectors.person_timeline(person=person)]
    assert kinds[0] == "person.update" and "person.create" in kinds and "household.create" in kinds
