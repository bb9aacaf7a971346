"""Crypto-shredding of the audit log (core/shred.py): which values are sealed with whose key,
and that chains written before it still verify and read as they were."""

import pytest
from cryptography.exceptions import InvalidTag

from epigrid.control import services as control_services
from epigrid.control.choices import OrderKind, OrderReason
from epigrid.core import audit, shred
from epigrid.core.models import AuditEvent, PersonKey
from epigrid.people import selectors as people_selectors
from epigrid.people import services as people_services


def test_rows_written_before_sealing_still_verify_and_read_as_they_were(world, monkeypatch):
    person = world.persons["p1"]
    # An older release wrote the name and note in clear: as if the sealing were not there.
    monkeypatch.setattr(shred, "seal_changes", lambda entries, person_of, using=None: None)
    people_services.person_update(person=person, note="旧备注", principal=world.admin)
    monkeypatch.undo()
    people_services.person_update(person=person, note="新备注", principal=world.admin)
    old, new = AuditEvent.objects.filter(action="person.update", object_id=str(person.pk)).order_by("id")
    assert old.changes == {"note": [None, "旧备注"]}  # untouched
    assert "新备注" not in str(new.changes) and shred.open_changes(new.changes) == {"note": ["旧备注", "新备注"]}
    assert audit.verify().ok
    texts = str(people_selectors.person_timeline(person=person))
    assert "旧备注" in texts and "新备注" in texts


def test_a_row_about_an_object_with_a_person_is_sealed_with_that_persons_key(world):
    person = world.persons["p2"]
    order = control_services.control_order_start(
        person=person, kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.CLOSE_CONTACT, principal=world.admin
    )
    control_services.control_order_release(order=order, early_reason="王五已转院", principal=world.admin)
    rows = AuditEvent.objects.filter(action="control_order.released")
    assert rows.count() == 2  # on the order and on the person's file
    for row in rows:
        assert "王五已转院" not in str(row.changes)
        assert shred.sealed_persons(row.changes) == {person.pk}
        assert shred.open_changes(row.changes)["early_reason"] == [None, "王五已转院"]
        assert row.changes["status"] == ["active", "released"]  # not personal: in clear
    # Another person's key does not open them (the person's id is bound into each value).
    other = shred.keys_for({world.persons["p1"].pk}, create=True)[world.persons["p1"].pk]
    forged = {"early_reason": {**rows[0].changes["early_reason"], "sealed_for": world.persons["p1"].pk}}
    with pytest.raises(InvalidTag):
        shred.open_changes(forged, {world.persons["p1"].pk: other})
    # One key per person, however many rows.
    assert PersonKey.objects.filter(person_id=person.pk).count() == 1
