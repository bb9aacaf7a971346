"""Retention and erasure (issue 14 §2): who is erased when, what is left, and that the audit log
keeps verifying while an erased person's values in it can no longer be read."""

import datetime as dt
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from epigrid.care import services as care_services
from epigrid.control import services as control_services
from epigrid.control.choices import OrderKind, OrderReason
from epigrid.core import audit, shred
from epigrid.core.errors import Conflict, Forbidden
from epigrid.core.models import AuditEvent, PersonKey
from epigrid.core.scoping import SystemPrincipal
from epigrid.gates import services as gate_services
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.health.models import TemperatureReport
from epigrid.mobilization import volunteers
from epigrid.oversight import retention
from epigrid.people import selectors as people_selectors
from epigrid.people import services as people_services
from epigrid.people.models import ERASED_NAME, Household, Person
from epigrid.response.models import Activation, PlanTemplate
from tests.factories import api

OPERATOR = SystemPrincipal("system:cli", ["edit_people"])
LATER = dt.timedelta(days=31)


def _fresh(person) -> Person:
    return Person.objects.select_related("grid", "household").get(pk=person.pk)


def _leave(world, key="p1b", note="独居老人，女儿电话13800001111"):
    """李四 gets a note, then moves away: the file is closed (archived)."""
    person = world.persons[key]
    people_services.person_update(person=person, note=note, principal=world.admin)
    return people_services.person_archive(person=_fresh(person), reason="搬去外地女儿家", principal=world.admin)


def _person_rows(person) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type="people.person", object_id=str(person.pk)).order_by("id"))


def test_purge_erases_in_place_and_shreds_the_audit_values_while_the_chain_verifies(world, capsys):
    gone, stays = _leave(world), world.persons["p1"]
    rows_before = _person_rows(gone)
    # Before: the values are sealed (nothing in clear), and open with the person's key.
    assert "李四" not in str([r.changes for r in rows_before]) and "独居老人" not in str(
        [r.changes for r in rows_before]
    )
    opened = [shred.open_changes(r.changes) for r in rows_before]
    assert "李四" in str(opened[0]) and any("独居老人" in str(o) for o in opened)

    counts = retention.purge(principal=OPERATOR, now=timezone.now() + LATER)

    assert counts["persons"] == 1 and counts["keys"] == 1
    gone = _fresh(gone)
    assert gone.erased_at and gone.archived_at and gone.name == ERASED_NAME and gone.note == ""
    assert gone.id_number_masked == "" and bytes(gone.id_number_sealed) == b"" and gone.phone_sealed is None
    assert bytes(gone.birth_date_sealed) == b"" and gone.name_pinyin == "" and gone.phone_hash == ""
    assert gone.id_number_hash.startswith("erased:")
    # Aggregates keep counting: the row is there, with its grid, sex and birth year.
    assert Person.objects.filter(pk=gone.pk, grid=world.nodes["S-C-G1-B1"]).exists() and gone.birth_year
    assert not PersonKey.objects.filter(person_id=gone.pk).exists()
    # The audit rows of that person cannot be opened any more, and no longer carry the name anywhere.
    rows_after = _person_rows(gone)
    assert [r.changes for r in rows_after] == [r.changes for r in rows_before]  # not one byte rewritten
    for row in rows_after:
        for key, value in shred.open_changes(row.changes).items():
            if shred.is_personal(key):
                assert value == shred.ERASED, (row.action, key)
    everything = str(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert "李四" not in everything and "独居老人" not in everything and "外地女儿" not in everything
    # The chain still verifies.
    assert audit.verify().ok
    call_command("audit", "verify")
    # Whoever stays keeps everything: their key, their values, their household's address.
    assert _fresh(stays).name == "张三" and PersonKey.objects.filter(person_id=stays.pk).exists()
    assert any("张三" in str(shred.open_changes(r.changes)) for r in _person_rows(stays))
    assert Household.objects.get(pk=world.households["h1"].pk).address == "S-C-G1-B1 1-101"
    # Audited once: what and how many, never who.
    purge_row = AuditEvent.objects.get(action="retention.purge")
    assert purge_row.changes["persons"] == [None, 1] and purge_row.object_id == ""
    assert set(purge_row.changes) == {
        "persons",
        "households",
        "keys",
        "links",
        "notes",
        "temperature_reports",
        "gate_passages",
        "retention_days",
    }
    # The timeline of the file says the values were erased, and shows no name.
    texts = str(people_selectors.person_timeline(person=gone))
    assert "李四" not in texts and "独居老人" not in texts


def test_a_household_left_without_anyone_loses_its_address(world, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 1)  # one person a statement: the household empties in the second
    for key in ("p1", "p1b", "p2"):  # h1 has 张三 and 李四, h2 王五 alone
        people_services.person_archive(person=world.persons[key], reason="迁出", principal=world.admin)
    people_services.household_create(
        grid=world.nodes["S-C-G1-B1"], number="1-102", address="无人户", principal=world.admin
    )
    dry = retention.purge(principal=OPERATOR, dry_run=True, now=timezone.now() + LATER)
    assert dry["persons"] == 3 and dry["households"] == 2
    counts = retention.purge(principal=OPERATOR, now=timezone.now() + LATER)
    assert counts["persons"] == 3 and counts["households"] == 2 and counts["keys"] == 3
    for key in ("h1", "h2"):
        household = Household.objects.get(pk=world.households[key].pk)
        assert household.address == ERASED_NAME and household.archived_at and household.number.startswith("erased-")
    assert Household.objects.filter(address="无人户", archived_at=None).exists()  # nobody of it was erased
    assert audit.verify().ok


def test_their_requests_and_wishes_lose_the_text(world):
    person = world.persons["p1b"]
    request = care_services.supply_request_create(person=person, text="需要胰岛素，找李四")
    wish = volunteers.wish_post(
        household=world.households["h1"], text="李四想买降压药", person=person, principal=world.admin
    )
    other = care_services.supply_request_create(person=world.persons["p1"], text="买米")
    _leave(world)
    assert retention.purge(principal=OPERATOR, dry_run=True, now=timezone.now() + LATER)["notes"] == 2
    assert retention.purge(principal=OPERATOR, now=timezone.now() + LATER)["notes"] == 2
    request.refresh_from_db()
    wish.refresh_from_db()
    other.refresh_from_db()
    assert request.text == ERASED_NAME and wish.text == ERASED_NAME and other.text == "买米"
    everything = str(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert "胰岛素" not in everything and "降压药" not in everything
    assert audit.verify().ok


def test_dry_run_counts_and_writes_nothing(world, capsys):
    _leave(world)
    before = (AuditEvent.objects.count(), PersonKey.objects.count(), list(Person.objects.values().order_by("id")))
    counts = retention.purge(principal=OPERATOR, dry_run=True, now=timezone.now() + LATER)
    assert counts["persons"] == 1 and counts["households"] == 0
    after = (AuditEvent.objects.count(), PersonKey.objects.count(), list(Person.objects.values().order_by("id")))
    assert after == before


def test_the_command_prints_counts_never_who(world, settings, capsys):
    _leave(world)
    settings.RETENTION_DAYS = 0
    audited = AuditEvent.objects.count()
    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert "persons: 1 would go" in out and "李四" not in out
    assert AuditEvent.objects.count() == audited and _fresh(world.persons["p1b"]).erased_at is None
    call_command("purge")
    out = capsys.readouterr().out
    assert "persons: 1 erased" in out and "李四" not in out
    assert _fresh(world.persons["p1b"]).erased_at is not None


def test_nothing_goes_before_the_retention_ends(world):
    gone = _leave(world)
    # Closed just now: 10 days later it is still kept.
    assert retention.purge(principal=OPERATOR, now=timezone.now() + dt.timedelta(days=10))["persons"] == 0
    assert _fresh(gone).erased_at is None and _fresh(gone).name == "李四"
    assert PersonKey.objects.filter(person_id=gone.pk).exists()
    # A resident whose file is open is never erased (RETENTION_ARCHIVED_ONLY).
    assert not retention.retention_ended(now=timezone.now() + dt.timedelta(days=3650)).filter(pk=world.persons["p1"].pk)


def test_an_open_order_or_incident_keeps_the_person(world):
    gone = _leave(world)
    order = control_services.control_order_start(
        person=_fresh(gone), kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.CLOSE_CONTACT, principal=world.admin
    )
    far = timezone.now() + dt.timedelta(days=400)
    assert not retention.retention_ended(now=far).filter(pk=gone.pk)  # the order is in force
    control_services.control_order_release(order=order, early_reason="解除", principal=world.admin)
    assert retention.retention_ended(now=far).filter(pk=gone.pk)
    # An incident open in the person's compound (S-C-G1) keeps them, however long ago all ended.
    plan = PlanTemplate.objects.create(name="预案", version=1)
    incident = Activation.objects.create(grid=world.nodes["S-C-G1"], plan=plan, activated_at=timezone.now())
    assert not retention.retention_ended(now=far).filter(pk=gone.pk)
    # Closed: the retention runs from its closing.
    closed_at = timezone.now() + dt.timedelta(days=100)
    Activation.objects.filter(pk=incident.pk).update(status="closed", closed_at=closed_at)
    assert not retention.retention_ended(now=closed_at + dt.timedelta(days=29)).filter(pk=gone.pk)
    assert retention.retention_ended(now=closed_at + dt.timedelta(days=31)).filter(pk=gone.pk)
    # Another compound's incident does not.
    Activation.objects.create(grid=world.nodes["S-C-G2"], plan=plan, activated_at=timezone.now())
    assert retention.retention_ended(now=closed_at + dt.timedelta(days=31)).filter(pk=gone.pk)


def test_an_erased_persons_id_cannot_be_revealed_and_pages_show_the_placeholder(world, client):
    gone = _leave(world)
    assert people_services.person_reveal(person=_fresh(gone), field="id_number", principal=world.admin)
    retention.purge(principal=OPERATOR, now=timezone.now() + LATER)
    for field in ("id_number", "birth_date", "phone"):
        with pytest.raises(Conflict) as refused:
            people_services.person_reveal(person=_fresh(gone), field=field, principal=world.admin)
        assert refused.value.code == "person_erased"
    world.users["root"] = world.admin
    call = api(world, "root")
    answer = call("post", f"/api/v1/persons/{gone.pk}/reveal", {"field": "id_number"})
    assert answer.status_code == 409 and answer.json()["code"] == "person_erased"
    shown = call("get", f"/api/v1/persons/{gone.pk}")
    assert shown.status_code == 200 and shown.json()["name"] == ERASED_NAME
    client.force_login(world.admin)
    page = client.get(f"/people/{gone.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert ERASED_NAME in text and "李四" not in text
    assert "已删除（保存期满）" in text and "/reveal/" not in text  # no "Show" buttons left
    refused_page = client.post(f"/people/{gone.pk}/reveal/id_number/")
    assert refused_page.status_code == 409


def _report(person, days_ago, now=None):
    at = (now or timezone.now()) - dt.timedelta(days=days_ago)
    return TemperatureReport.objects.create(
        person=person,
        grid=person.grid,
        value="36.5",
        measured_at=at,
        received_at=at,
        local_date=at.date(),
        source="liaison",
        client_id=uuid.uuid4(),
    )


def test_nothing_about_a_person_is_deleted_before_their_retention_ends(world):
    """Old readings of a person under an order, or whose order ended within the retention, or in a
    compound with an open incident, stay; so does everything else about them."""
    far = timezone.now() + dt.timedelta(days=90)
    quarantined, released, other = world.persons["p1"], world.persons["p1b"], world.persons["p2"]
    order = control_services.control_order_start(
        person=quarantined, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.CLOSE_CONTACT, principal=world.admin
    )
    readings = {key: _report(world.persons[key], 40, now=far) for key in ("p1", "p1b", "p2")}
    # 李四's order ends 80 days from now: 10 days before `far`, well inside the retention.
    ended = control_services.control_order_start(
        person=released, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.CLOSE_CONTACT, principal=world.admin
    )
    type(ended).objects.filter(pk=ended.pk).update(
        status="released", released_at=far - dt.timedelta(days=10), ends_at=far - dt.timedelta(days=10)
    )
    people_services.person_archive(person=_fresh(released), reason="迁出", principal=world.admin)
    counts = retention.purge(principal=OPERATOR, now=far)
    assert counts["persons"] == 0 and counts["temperature_reports"] == 1  # only 王五's: nothing held him
    assert TemperatureReport.objects.filter(pk__in=[readings["p1"].pk, readings["p1b"].pk]).count() == 2
    assert not TemperatureReport.objects.filter(pk=readings["p2"].pk)
    assert _fresh(released).name == "李四" and PersonKey.objects.filter(person_id=released.pk).exists()
    # An open incident in 王五's compound holds his readings as well.
    plan = PlanTemplate.objects.create(name="预案", version=1)
    Activation.objects.create(grid=world.nodes["S-C-G2"], plan=plan, activated_at=timezone.now())
    kept = _report(other, 40, now=far)
    assert retention.purge(principal=OPERATOR, now=far)["temperature_reports"] == 0
    assert TemperatureReport.objects.filter(pk=kept.pk).exists()
    # Released, and the retention over: his readings may go.
    control_services.control_order_release(order=order, early_reason="解除", principal=world.admin)
    assert retention.purge(principal=OPERATOR, now=far + dt.timedelta(days=200))["temperature_reports"] == 2
    assert audit.verify().ok


def test_old_temperatures_and_passages_go_recent_ones_stay(world):
    person, now = world.persons["p1"], timezone.now()
    old, recent = _report(person, 40), _report(person, 5)
    gate = gate_services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.admin)
    gate_services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    household_pass = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)

    def passage(days_ago):
        return Passage.objects.create(
            checkpoint=gate,
            grid=gate.grid,
            household_pass=household_pass,
            direction="out",
            verdict="refused",
            reason="wrong_checkpoint",
            guard=world.users["guard1"],
            at=now - dt.timedelta(days=days_ago),
        )

    old_passage, recent_passage = passage(40), passage(5)
    # 张三 and 李四 were registered just now (their retention runs from then): as if a year ago.
    Person.objects.filter(household=world.households["h1"]).update(created_at=now - dt.timedelta(days=365))
    assert retention.purge(principal=OPERATOR, dry_run=True)["temperature_reports"] == 1
    counts = retention.purge(principal=OPERATOR)
    assert counts["temperature_reports"] == 1 and counts["gate_passages"] == 1 and counts["persons"] == 0
    assert not TemperatureReport.objects.filter(pk=old.pk) and TemperatureReport.objects.filter(pk=recent.pk)
    assert not Passage.objects.filter(pk=old_passage.pk) and Passage.objects.filter(pk=recent_passage.pk)
    assert audit.verify().ok


def test_only_the_operator_purges(world):
    _leave(world)
    for user in (world.users["secretary"], world.users["member1"]):
        with pytest.raises(Forbidden):
            retention.purge(principal=user, now=timezone.now() + LATER)
    assert _fresh(world.persons["p1b"]).erased_at is None


def test_the_daily_purge_is_off_unless_enabled(world, settings):
    from epigrid.oversight.tasks import purge

    _leave(world)
    settings.RETENTION_DAYS = 0
    assert purge() is None and _fresh(world.persons["p1b"]).erased_at is None
    settings.RETENTION_PURGE_ENABLED = True
    assert purge()["persons"] == 1
    assert AuditEvent.objects.get(action="retention.purge").actor_label == "system:retention"
