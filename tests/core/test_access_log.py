"""Reads of a person's file go to the access log (issue 9 item 12): one row per read, with who,
when, from where and which file, and nothing of the file itself; lists are not file reads. Rows
cannot be changed or deleted before six months, the purge deletes older ones in one statement,
and only those who may read the audit log there see them."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from epigrid.accounts import services as account_services
from epigrid.accounts.choices import Role
from epigrid.core import access, extensions
from epigrid.core.crypto import unseal
from epigrid.core.models import AccessEvent, AuditEvent
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel
from epigrid.oversight.sweeps import sweep_all
from tests.factories import api, make_user


def _page_client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _personal_values(person) -> list[str]:
    values = [person.name, unseal(person.id_number_sealed), person.id_number_masked]
    if person.phone_sealed:
        values += [unseal(person.phone_sealed), person.phone_masked]
    return values


def _row_text(row: AccessEvent) -> str:
    return " ".join(str(getattr(row, f.attname)) for f in AccessEvent._meta.concrete_fields)


def test_reading_a_person_by_page_and_api_writes_one_row_each_without_personal_values(world):
    person = world.persons["p1"]
    page = _page_client(world, "member1").get(f"/people/{person.pk}/", HTTP_X_REQUEST_ID="req-page-1")
    assert page.status_code == 200
    answer = api(world, "member1")("get", f"/api/v1/persons/{person.pk}")
    assert answer.status_code == 200
    rows = list(AccessEvent.objects.order_by("id"))
    assert [(r.action, r.object_type, r.object_id, r.channel) for r in rows] == [
        ("person.read", "people.person", str(person.pk), "web"),
        ("person.read", "people.person", str(person.pk), "api"),
    ]
    for row in rows:
        assert row.actor == world.users["member1"] and row.actor_label == "member1"
        assert row.grid_path == person.grid.path
        assert row.remote_addr == "127.0.0.1"
        text = _row_text(row)
        for value in _personal_values(person):
            assert value not in text
    assert rows[0].request_id == "req-page-1"


def test_timeline_health_code_and_household_reads_are_logged(world):
    person, household = world.persons["p1"], world.households["h1"]
    call = api(world, "member1")
    assert call("get", f"/api/v1/persons/{person.pk}/timeline").status_code == 200
    assert call("get", f"/api/v1/persons/{person.pk}/health-code").status_code == 200
    assert call("get", f"/api/v1/households/{household.pk}").status_code == 200
    assert _page_client(world, "member1").get(f"/people/households/{household.pk}/").status_code == 200
    assert list(AccessEvent.objects.order_by("id").values_list("action", "object_type", "object_id")) == [
        ("person.timeline", "people.person", str(person.pk)),
        ("person.health_code", "people.person", str(person.pk)),
        ("household.read", "people.household", str(household.pk)),
        ("household.read", "people.household", str(household.pk)),
    ]
    for row in AccessEvent.objects.all():
        for value in [*_personal_values(person), household.address]:
            assert value not in _row_text(row)


def test_lists_and_refused_reads_are_not_logged(world):
    client = _page_client(world, "member1")
    call = api(world, "member1")
    for response in (
        client.get("/people/"),
        client.get("/people/?q=张"),
        call("get", "/api/v1/persons"),
        call("get", "/api/v1/households"),
        call("get", f"/api/v1/persons?household={world.households['h1'].pk}"),
    ):
        assert response.status_code == 200
    # Another compound's person: 404, and nothing was read.
    assert client.get(f"/people/{world.persons['p2'].pk}/").status_code == 404
    assert call("get", f"/api/v1/persons/{world.persons['p2'].pk}").status_code == 404
    assert not AccessEvent.objects.exists()


def _old_row(days: int, **extra) -> AccessEvent:
    return AccessEvent.objects.create(
        at=timezone.now() - dt.timedelta(days=days),
        actor_label="member1",
        action="person.read",
        object_type="people.person",
        object_id="1",
        grid_path="0001",
        **extra,
    )


def test_rows_cannot_be_changed_or_deleted_before_six_months(world):
    _page_client(world, "member1").get(f"/people/{world.persons['p1'].pk}/")
    row = AccessEvent.objects.get()
    recent = _old_row(170)
    for attempt in (
        lambda: AccessEvent.objects.filter(pk=row.pk).update(actor_label="someone-else"),
        lambda: AccessEvent.objects.filter(pk=_old_row(400).pk).update(action="household.read"),
        lambda: AccessEvent.objects.filter(pk=row.pk).delete(),
        lambda: AccessEvent.objects.filter(pk=recent.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_accessevent")
    assert AccessEvent.objects.filter(pk__in=[row.pk, recent.pk]).count() == 2


def test_purge_deletes_rows_older_than_the_retention_in_one_statement_and_is_audited(world):
    kept = [_old_row(1), _old_row(182)]
    for days in (184, 200, 365, 800):
        _old_row(days)
    with CaptureQueriesContext(connection) as queries:
        assert access.access_log_purge() == 4
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 1 and '"at" <' in deletes[0]  # by time, not row by row
    assert sorted(AccessEvent.objects.values_list("pk", flat=True)) == sorted(r.pk for r in kept)
    event = AuditEvent.objects.get(action="access_log.purge")
    assert event.actor_label == "system:access-log-retention" and event.changes["deleted"] == [None, 4]
    assert access.access_log_purge() == 0  # nothing older: nothing deleted, nothing recorded
    assert AuditEvent.objects.filter(action="access_log.purge").count() == 1


def test_purge_runs_in_the_sweep_and_a_simulated_future_does_not_shorten_the_retention(world):
    assert "access_log_purge" in dict(extensions.get("sweeps"))
    _old_row(300)
    young = _old_row(100)
    counts = sweep_all(now=timezone.now() + dt.timedelta(days=365))  # `epigrid sweep --at` a year ahead
    assert counts["access_log_purge"] == 1
    assert list(AccessEvent.objects.values_list("pk", flat=True)) == [young.pk]


def test_a_retention_set_too_short_is_refused_by_the_database(world, settings):
    young = _old_row(30)
    settings.ACCESS_LOG_DAYS = 7  # the settings refuse this at start-up; the triggers hold anyway
    with pytest.raises(DatabaseError), transaction.atomic():
        access.access_log_purge()
    assert AccessEvent.objects.filter(pk=young.pk).exists()


@pytest.fixture
def other_community(world):
    """A second community (S-D) with its own secretary: the community office of elsewhere."""
    admin = world.admin
    for parent, code, level in (("S", "S-D", GridLevel.COMMUNITY), ("S-D", "S-D-G1", GridLevel.GRID)):
        world.nodes[code] = grid_services.grid_node_create(
            parent=world.nodes[parent], code=code, name=f"{code} name", level=level, principal=admin
        )
    world.users["secretary2"] = make_user("secretary2")
    account_services.grid_assignment_create(
        node=world.nodes["S-D"], user=world.users["secretary2"], role=Role.COMMUNITY_SECRETARY, principal=admin
    )
    return world


def test_the_access_log_is_read_only_where_the_reader_may_read_the_audit_log(other_community):
    world = other_community
    person = world.persons["p1"]
    _page_client(world, "member1").get(f"/people/{person.pk}/")
    api(world, "head1")("get", f"/api/v1/persons/{person.pk}/timeline")
    path = f"/api/v1/access-log?person={person.pk}"
    for username in ("inspector", "secretary"):
        items = api(world, username)(  # the inspector (subdistrict) and S-C's community office
            "get", path
        ).json()["items"]
        assert [(i["actor"], i["action"], i["object_id"]) for i in items] == [
            ("head1", "person.timeline", str(person.pk)),
            ("member1", "person.read", str(person.pk)),
        ]
    # The other community's office, the grid staff who read the file, a user without a role:
    # nothing (they may not read the audit log there).
    for username in ("secretary2", "member1", "head1", "norole"):
        response = api(world, username)("get", path)
        assert response.status_code == 200 and response.json()["items"] == [], username
    # By reader, and paged.
    by_member = api(world, "inspector")("get", "/api/v1/access-log?actor=member1&limit=1").json()
    assert [i["actor"] for i in by_member["items"]] == ["member1"] and by_member["next_offset"] is None


def test_the_person_page_shows_who_opened_the_file_to_those_who_may_read_the_audit_log(other_community):
    world = other_community
    person = world.persons["p1"]
    _page_client(world, "member1").get(f"/people/{person.pk}/")
    page = _page_client(world, "secretary").get(f"/people/{person.pk}/").content.decode()
    assert 'id="file-reads"' in page
    section = page[page.index('id="file-reads"') :]
    assert "member1" in section and "secretary" in section  # the earlier read, and this one
    # The grid member who reads the file sees no such section.
    assert 'id="file-reads"' not in _page_client(world, "member1").get(f"/people/{person.pk}/").content.decode()
