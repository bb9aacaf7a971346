"""The stored facts behind each person's health code (issue 15 "A thin gate").

The facts change only through services (a case suspected, confirmed or excluded; a control order
started, changed or ended; a key person reported or decided); each calls `refresh` for the persons
concerned inside its own transaction (lower apps through the `person_facts_changed` extension
point, and `core.transitions.move` for the models that declare AFFECTS_HEALTH_CODE). Reading a
code is then one query on the person's row; `rebuild` recomputes everything, set-based."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from epigrid.control.choices import KeyPersonStatus
from epigrid.control.models import ControlOrder, KeyPerson

from .choices import CaseStatus
from .models import Case, CodeFacts

PENDING_KEY_PERSON = [KeyPersonStatus.REPORTED, KeyPersonStatus.ASSESSED]


def compute(person_ids: Iterable[int]) -> dict[int, list[str]]:
    """The facts as they are now in the tables, in three queries: cases, open orders, reports."""
    ids = list(person_ids)
    facts: dict[int, list[str]] = {pk: [] for pk in ids}
    if not ids:
        return facts
    cases = Case.objects.filter(person_id__in=ids).exclude(status=CaseStatus.EXCLUDED)
    for pk, status in cases.values_list("person_id", "status"):
        facts[pk].append("case_confirmed" if status == CaseStatus.CONFIRMED else "case_suspected")
    orders = ControlOrder.objects.open().filter(person_id__in=ids).order_by("pk")
    for pk, kind in orders.values_list("person_id", "kind"):
        if kind not in facts[pk]:
            facts[pk].append(kind)
    pending = KeyPerson.objects.filter(person_id__in=ids, status__in=PENDING_KEY_PERSON)
    for pk in set(pending.values_list("person_id", flat=True)):
        facts[pk].append("key_person_pending")
    return facts


def refresh(person_ids: Iterable[int]) -> None:
    """Store the current facts of these persons. Their rows are locked first, so two changes to
    one person in concurrent transactions recompute one after the other, the second seeing the
    first's commit (no lost update)."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    now = timezone.now()
    with transaction.atomic():
        CodeFacts.objects.bulk_create(
            [CodeFacts(person_id=pk, facts=[], updated_at=now) for pk in ids], ignore_conflicts=True
        )
        list(CodeFacts.objects.select_for_update().filter(person_id__in=ids).order_by("pk").values_list("pk"))
        facts = compute(ids)
        CodeFacts.objects.bulk_update(
            [CodeFacts(person_id=pk, facts=facts[pk], updated_at=now) for pk in ids], ["facts", "updated_at"]
        )


def persons_changed(*, person_ids: Iterable[int]) -> None:
    """The `person_facts_changed` contribution: lower apps report whose facts they changed."""
    refresh(person_ids)


def _candidates() -> list[int]:
    """Everyone with a fact in the tables today or stored with one."""
    ids = set(Case.objects.values_list("person_id", flat=True))
    ids |= set(ControlOrder.objects.open().values_list("person_id", flat=True))
    ids |= set(KeyPerson.objects.filter(status__in=PENDING_KEY_PERSON).values_list("person_id", flat=True))
    ids |= set(CodeFacts.objects.exclude(facts=[]).values_list("person_id", flat=True))
    return sorted(ids)


def drifted(batch: int = 5000) -> list[int]:
    """The persons whose stored facts differ from the tables (none, unless a write went around
    the services: a raw import, a restore of part of the data)."""
    ids, found = _candidates(), []
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        have, fresh = stored(chunk), compute(chunk)
        found += [pk for pk in chunk if have[pk] != fresh[pk]]
    return found


def rebuild(batch: int = 5000) -> int:
    """Store the facts anew for every person whose stored facts drifted; returns how many."""
    ids = drifted(batch)
    for start in range(0, len(ids), batch):
        refresh(ids[start : start + batch])
    return len(ids)


def stored(person_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(person_ids)
    found = dict(CodeFacts.objects.filter(person_id__in=ids).values_list("person_id", "facts"))
    return {pk: found.get(pk, []) for pk in ids}
