"""Reads about persons and households, always scoped to the user's grid subtrees."""

import re
from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core import extensions, shred, throttle
from epigrid.core.compiled import CompiledRead
from epigrid.core.errors import DomainError, NotFound, Throttled
from epigrid.core.models import AuditEvent
from epigrid.core.scoping import EVERYWHERE, VIEW, grant_paths, minimal_paths, subtree_q

from . import timeline
from .choices import Sex
from .models import Household, Person

_ASCII_WORD = re.compile(r"^[a-zA-Z]+$")
_SEPARATORS = re.compile(r"[\s\-()（）+]")
_FULL_ID = re.compile(r"^\d{17}[\dX]$")
_LAST4 = re.compile(r"^\d{3}[\dX]$")
# This many digits or more is a phone number (or an ID number) typed in full.
_FULL_PHONE_DIGITS = 7


def exact_key_kind(value: str) -> str | None:
    """The kind, "id_number" or "phone", when the text is (or looks like) a full ID number or phone.

    Such a value confirms who a person is, so it is searched only through the exact search
    (`services.person_search_exact`: the unmask right, audited, throttled, sent in a POST body),
    never through `person_list` and never in a URL."""
    compact = _SEPARATORS.sub("", value or "").upper()
    if _FULL_ID.match(compact):
        return "id_number"
    if compact.isdigit() and len(compact) >= _FULL_PHONE_DIGITS:
        return "phone"
    return None


def exact_search_in_url() -> DomainError:
    """The refusal of a full ID number or phone in a list's `q` (the value is never echoed)."""
    return DomainError(
        "exact_search_needs_post",
        _(
            "A full ID number or phone number is not searched from a link: use the exact search "
            "(POST /api/v1/persons/search, or the exact search form), which needs the right to see them."
        ),
        field="q",
    )


def search_guard(user, q: str) -> None:
    """Before a search by `q` in any list of persons: a full ID number or phone is refused (400),
    and the search counts against the user's limit."""
    if exact_key_kind(q):
        raise exact_search_in_url()
    _count_search(user)


def _count_search(user) -> None:
    """Name searches per user: settings.PERSON_SEARCH_LIMIT per PERSON_SEARCH_WINDOW_SECONDS."""
    count = throttle.hit(
        "person-search", user, limit=settings.PERSON_SEARCH_LIMIT, window=settings.PERSON_SEARCH_WINDOW_SECONDS
    )
    if count.refused:
        raise Throttled("search_throttled", _("Too many searches in a short time: wait a minute."), field="q")


def _by_household_key(q: str, lookup: str) -> Q:
    """Households other apps find by this text (a pass number: "household_search")."""
    condition = Q(pk__in=[])
    for provider in extensions.get("household_search"):
        condition |= Q(**{f"{lookup}__in": provider(q)})
    return condition


def person_search_q(q: str, prefix: str = "") -> Q:
    """One box: pinyin or initials (a Latin word) or part of the name; part of the household's
    address, its number or its pass number; the last 4 digits or a masked ID number or phone.
    Only what the lists show (and the clear name): never the sealed values. `prefix` ("person__")
    applies it to another model's person; the caller refuses a full number first
    (`exact_key_kind`) and keeps its own restriction."""

    def q_(**lookups) -> Q:
        return Q(**{prefix + k: v for k, v in lookups.items()})

    condition = q_(household__address__contains=q) | q_(household__number=q)
    if _ASCII_WORD.match(q):
        low = q.lower()
        condition |= q_(name_pinyin__startswith=low) | q_(name_initials__startswith=low)
    else:
        condition |= q_(name__contains=q)
    # What a user sees of an ID number or phone: the last 4 digits (both masks end with them) or
    # a masked form as shown (370102********516X, 138****5678); no right beyond VIEW is needed.
    compact = _SEPARATORS.sub("", q).upper()
    if _LAST4.match(compact):
        condition |= q_(id_number_masked__endswith=compact)
        if compact.isdigit():
            condition |= q_(phone_masked__endswith=compact)
    elif "*" in q:
        condition |= q_(id_number_masked=compact) | q_(phone_masked=q.replace(" ", ""))
    return condition | _by_household_key(q, prefix + "household_id")


def person_list(
    *, user, q: str = "", grid_path: str = "", household_id: int | None = None, include_archived: bool = False
):
    """Persons `user` may see; `q` finds by name, pinyin or initials, the last 4 digits of the ID
    number or phone, or a masked value. A full ID number or phone in `q` is refused (400)."""
    q = (q or "").strip()
    if q:
        search_guard(user, q)
    return _persons(
        Person.objects.restrict(user),
        q=q,
        grid_path=grid_path,
        household_id=household_id,
        include_archived=include_archived,
    )


def _persons(persons, *, q: str, grid_path: str, household_id: int | None, include_archived: bool):
    persons = persons.select_related("grid", "household")
    if not include_archived:
        persons = persons.current()
    if grid_path:
        persons = persons.filter(subtree_q("grid__path", grid_path))
    if household_id:
        persons = persons.filter(household_id=household_id)
    if q:
        persons = persons.filter(person_search_q(q))
    # By grid path first: PostgreSQL then walks the subtree's grids in order and stops after a
    # page, instead of scanning the city in id order (bench: community list 329 ms → 5 ms).
    return persons.order_by("grid__path", "id")


@dataclass(slots=True)
class PersonRow:
    """A person as a list shows it (the list page, a grid's persons, the API's list): the
    columns it needs read as values, not a model with its grid and household built per row
    (bench person_list: the model building was half of the time over raw SQL)."""

    pk: int
    name: str
    sex: str
    birth_year: int
    id_number_masked: str
    phone_masked: str
    relationship: str
    note: str
    archived_at: object
    household_id: int | None
    grid: SimpleNamespace
    household: SimpleNamespace | None

    age = Person.age

    def get_sex_display(self) -> str:
        return Sex(self.sex).label if self.sex in Sex.values else self.sex


_ROW_FIELDS = ("name", "sex", "birth_year", "id_number_masked", "phone_masked", "relationship", "note", "archived_at")
_ROW_VALUES = ("pk", *_ROW_FIELDS, "household_id", "grid__code", "grid__name", "household__address")


def person_rows(persons) -> list[PersonRow]:
    """The rows of a person list (a queryset, or a page's slice of one) as `PersonRow`s."""
    return _as_rows(persons.values_list(*_ROW_VALUES))


def person_page(*, user, grid_path: str = "", include_archived: bool = False, start: int, stop: int):
    """Rows start…stop of `person_list(user=…, grid_path=…, include_archived=…)`, as
    `person_rows` reads them: the list without a search or a household, as the API's list is
    mostly asked for, its SQL compiled once per shape (core.compiled). The grant is resolved
    here, by `grant_paths`, as `restrict` does."""
    paths = grant_paths(user, VIEW)
    if paths is not EVERYWHERE and not paths:
        return []
    scope = None if paths is EVERYWHERE else minimal_paths(paths)
    return _as_rows(
        _PERSON_PAGE(scope=scope, grid_path=grid_path, include_archived=include_archived, start=start, stop=stop)
    )


def _page_values(*, scope, grid_path, include_archived, start, stop):
    persons = Person.objects.all() if scope is None else Person.objects.within(scope)
    persons = _persons(persons, q="", grid_path=grid_path, household_id=None, include_archived=include_archived)
    return persons[start:stop].values_list(*_ROW_VALUES)


_PERSON_PAGE = CompiledRead(Person, _page_values)


def _as_rows(values) -> list[PersonRow]:
    """`PersonRow`s of tuples in `_ROW_VALUES`' order (a dict per row cost a tenth of a list's time)."""
    return [
        PersonRow(
            pk,
            *fields,
            household_id,
            SimpleNamespace(code=grid_code, name=grid_name),
            SimpleNamespace(address=address) if household_id else None,
        )
        for pk, *fields, household_id, grid_code, grid_name, address in values
    ]


def person_get(*, user, pk, capability: str = VIEW) -> Person:
    """The person, if `user` may `capability` them: else 404 (outside their area) or 403."""
    return Person.objects.select_related("grid", "household").get_for(
        user, capability, pk=pk, missing=NotFound("person_not_found", _("No such person."))
    )


def household_list(*, user, grid_path: str = "", q: str = ""):
    """Households `user` may see; `q` finds by part of the address, the household number or a
    pass number."""
    households = Household.objects.restrict(user).filter(archived_at__isnull=True).select_related("grid")
    if grid_path:
        households = households.filter(subtree_q("grid__path", grid_path))
    q = (q or "").strip()
    if q:
        households = households.filter(Q(address__contains=q) | Q(number=q) | _by_household_key(q, "pk"))
    return households.order_by("grid__path", "number")


def household_get(*, user, pk, capability: str = VIEW) -> Household:
    """The household, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Household.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("household_not_found", _("No such household."))
    )


def person_timeline(*, person: Person) -> list[dict]:
    """一人一档: everything that happened to this person, newest first."""
    events = AuditEvent.objects.filter(
        Q(object_type="people.person", object_id=str(person.pk))
        | (Q(object_type="people.household", object_id=str(person.household_id)) if person.household_id else Q(pk=None))
    ).order_by("-id")[:500]
    events = list(events)
    # Values sealed with a person's key are opened here; an erased person's read "[erased]".
    opened = shred.open_many(event.changes for event in events)
    entries = [
        {
            "at": event.occurred_at,
            "kind": event.action,
            "actor": event.actor_label,
            "changes": changes,
            "source": "audit",
        }
        for event, changes in zip(events, opened, strict=True)
    ]
    # Other apps add their entries (temperatures, orders, passages…) through "timeline_providers".
    for provider in extensions.get("timeline_providers"):
        entries.extend(provider(person))
    entries.sort(key=lambda e: e["at"], reverse=True)
    return timeline.with_texts(entries)


def panels(point: str, request, obj) -> list[tuple[str, dict]]:
    """Sections other apps add to the person or household page ("person_panels",
    "household_panels"): f(request, obj) -> (template name, context) or None."""
    return [p for p in (panel(request, obj) for panel in extensions.get(point)) if p is not None]
