"""Checks for omissions and concealment (杜绝瞒报漏报): each check is one set-based query over the
data that yields subjects with their evidence; each subject becomes one `OmissionFinding` (the
dedup key makes reruns add nothing) for an inspector to review — confirmed (an omission: the
inspection follows it up) or dismissed with the explanation. Nothing is punished automatically.

The sweep runs them every few minutes; `epigrid sweep` runs them on demand.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, ExtractHour, ExtractMinute
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.control.choices import OrderKind
from epigrid.control.models import ControlOrder, KeyPerson, RiskArea
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.scoping import VIEW, authorize, system, user_of
from epigrid.core.transitions import move
from epigrid.gates.choices import Direction, Verdict
from epigrid.gates.models import Passage, Visitor
from epigrid.grids.models import compound_path
from epigrid.health.choices import CaseStatus, ReportSource
from epigrid.health.models import Case, StaffContact, TemperatureReport
from epigrid.health.services import policy
from epigrid.people.models import Person

from .choices import OmissionKind, OmissionStatus, ReportStatus, VerificationOutcome
from .models import DailyReport, OmissionFinding, VerificationEntry

REVIEW = Capability.INSPECT
WATCH = system("system:omission-checks", set())
COPIED_MIN_READINGS = 8  # a person's readings: this many, over at least 3 days, one value, one minute
LATE_REPORTS_IN_A_WEEK = 2


@dataclass
class Hit:
    key: str
    grid_id: int
    evidence: dict
    person_id: int | None = None
    household_id: int | None = None


def _pushed_not_registered(now) -> Iterator[Hit]:
    """A matched row of a pushed list whose deadline passed, verified as anything but "does not live
    here", and no key person record for the person since the list came."""
    rows = (
        VerificationEntry.objects.filter(person__isnull=False, verification_list__due_at__lt=now)
        .exclude(outcome=VerificationOutcome.NOT_LIVING_HERE)
        .exclude(
            Exists(
                KeyPerson.objects.filter(
                    person=OuterRef("person"), created_at__gte=OuterRef("verification_list__created_at")
                )
            )
        )
        .values_list("pk", "person_id", "grid_id", "verification_list__name", "verification_list__due_at", "outcome")
    )
    for pk, person_id, grid_id, name, due, outcome in rows.iterator(chunk_size=2000):
        yield Hit(
            f"pushed:{pk}", grid_id, {"list": name, "due_at": due.isoformat(), "outcome": outcome}, person_id=person_id
        )


def _visitor_from_risk_area(now) -> Iterator[Hit]:
    """A visitor whose ID number's region lies in an active risk area and who was never a key
    person (found by the ID hash, never by decrypting)."""
    not_key = ~Exists(KeyPerson.objects.filter(person__id_number_hash=OuterRef("id_number_hash")))
    for area in RiskArea.objects.filter(active=True).only("prefix", "name"):
        rows = (
            Visitor.objects.filter(id_number_masked__startswith=area.prefix)
            .filter(not_key)
            .values_list("pk", "visiting__grid_id", "visiting_id", "id_number_masked", "registered_at")
        )
        for pk, grid_id, household_id, masked, at in rows.iterator(chunk_size=2000):
            yield Hit(
                f"visitor:{pk}",
                grid_id,
                {"visitor_id": masked, "risk_area": area.name, "registered_at": at.isoformat()},
                household_id=household_id,
            )


def _quarantined_went_out(now) -> Iterator[Hit]:
    """An allowed exit on a household's pass while one of its members was under home quarantine
    (the gate refuses it; an allowed one means an override, an offline scan or a wrong record)."""
    under = ControlOrder.objects.filter(
        person__household=OuterRef("household_pass__household"),
        kind=OrderKind.HOME_QUARANTINE,
        starts_at__lte=OuterRef("at"),
        ends_at__gt=OuterRef("at"),
    ).filter(Q(released_at__isnull=True) | Q(released_at__gt=OuterRef("at")))
    rows = (
        Passage.objects.filter(
            household_pass__isnull=False,
            verdict=Verdict.ALLOWED,
            direction=Direction.OUT,
            at__gte=now - dt.timedelta(days=30),
        )
        .filter(Exists(under))
        .values_list(
            "pk", "household_pass__household_id", "household_pass__household__grid_id", "at", "checkpoint__name"
        )
    )
    for pk, household_id, grid_id, at, checkpoint in rows.iterator(chunk_size=2000):
        yield Hit(
            f"went_out:{pk}", grid_id, {"at": at.isoformat(), "checkpoint": checkpoint}, household_id=household_id
        )


def _copied_readings(now) -> Iterator[Hit]:
    """A person's last 14 days of readings: many, over several days, all one value at one minute."""
    since = timezone.localdate(now) - dt.timedelta(days=14)
    rows = (
        TemperatureReport.objects.filter(local_date__gte=since)
        .annotate(minute=ExtractHour("measured_at") * 60 + ExtractMinute("measured_at"))
        .values("person_id", "grid_id")
        .annotate(
            n=Count("*"),
            days=Count("local_date", distinct=True),
            values=Count("value", distinct=True),
            minutes=Count("minute", distinct=True),
        )
        .filter(n__gte=COPIED_MIN_READINGS, days__gte=3, values=1, minutes=1)
        .values_list("person_id", "grid_id", "n", "days")
    )
    for person_id, grid_id, n, days in rows:
        yield Hit(
            f"copied:{person_id}:{since.isoformat()}",
            grid_id,
            {"readings": n, "days": days, "since": since.isoformat()},
            person_id=person_id,
        )


def _few_contacts(now) -> Iterator[Hit]:
    """A confirmed case whose recorded close contacts are fewer than the other members of its
    household (who shared the home: close contacts by definition)."""
    members = Person.objects.filter(household=OuterRef("person__household"), archived_at__isnull=True).exclude(
        pk=OuterRef("person_id")
    )
    rows = (
        Case.objects.filter(status=CaseStatus.CONFIRMED, person__household__isnull=False)
        .annotate(
            contacts=Count("person__exposures_given", distinct=True),
        )
        .annotate(members=_subquery_count(members))
        .filter(contacts__lt=F("members"))
        .values_list("pk", "person_id", "grid_id", "contacts", "members")
    )
    for pk, person_id, grid_id, contacts, household in rows:
        yield Hit(
            f"few_contacts:{pk}", grid_id, {"contacts": contacts, "household_members": household}, person_id=person_id
        )


def _subquery_count(queryset):
    counted = queryset.order_by().values("household").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _gate_fever_unreported(now) -> Iterator[Hit]:
    """A day whose gate passages in a grid measured a fever while the grid's signed daily report
    of that day says no fever."""
    threshold = policy().fever_threshold
    fevers = (
        Passage.objects.filter(temperature__gte=threshold, at__gte=now - dt.timedelta(days=14))
        .values("grid__path", "at__date")
        .annotate(n=Count("*"))
    )
    by_compound: dict[tuple[str, dt.date], int] = {}
    for row in fevers:
        key = (compound_path(row["grid__path"]), row["at__date"])
        by_compound[key] = by_compound.get(key, 0) + row["n"]
    if not by_compound:
        return
    days = {day for _path, day in by_compound}
    for report in DailyReport.objects.filter(
        status=ReportStatus.SIGNED, day__in=days, grid__level="grid"
    ).select_related("grid"):
        gate = by_compound.get((report.grid.path, report.day), 0)
        if gate and not report.figures.get("fevers"):
            yield Hit(f"gate_fever:{report.pk}", report.grid_id, {"day": report.day.isoformat(), "gate_fevers": gate})


def _reports_late(now) -> Iterator[Hit]:
    """A grid whose daily report was late at least twice in the last seven days."""
    since = timezone.localdate(now) - dt.timedelta(days=7)
    rows = (
        DailyReport.objects.filter(day__gte=since, late_at__isnull=False)
        .values("grid_id")
        .annotate(n=Count("*"))
        .filter(n__gte=LATE_REPORTS_IN_A_WEEK)
        .values_list("grid_id", "n")
    )
    week = timezone.localdate(now).isocalendar()
    for grid_id, n in rows:
        yield Hit(f"late:{grid_id}:{week.year}-{week.week}", grid_id, {"late_reports": n, "since": since.isoformat()})


def _reading_without_contact(now) -> Iterator[Hit]:
    """A person's day (the last 14, today excepted: the visit may come later) with slot readings
    that staff reported (source liaison) and no contact of any staff member with the person that
    day (StaffContact): the reading was taken without seeing or calling them, or the contact went
    unrecorded. One query: the readings grouped by person and day, less the days with a contact."""
    today = timezone.localdate(now)
    since = today - dt.timedelta(days=14)
    contacted = StaffContact.objects.filter(person_id=OuterRef("person_id"), local_date=OuterRef("local_date"))
    rows = (
        TemperatureReport.objects.filter(
            source=ReportSource.LIAISON, slot__isnull=False, local_date__gte=since, local_date__lt=today
        )
        .filter(~Exists(contacted))
        .values("person_id", "local_date")
        .annotate(
            grid=Max("grid_id"),
            n=Count("*"),
            slots=Count("slot", distinct=True),
            reporter=Max("reported_by__username"),
            reporters=Count("reported_by", distinct=True),
            first=Min("measured_at"),
        )
        .order_by()
        .values_list("person_id", "local_date", "grid", "n", "slots", "reporter", "reporters", "first")
    )
    for person_id, day, grid_id, n, slots, reporter, reporters, first in rows.iterator(chunk_size=2000):
        yield Hit(
            f"no_contact:{person_id}:{day.isoformat()}",
            grid_id,
            {
                "day": day.isoformat(),
                "readings": n,
                "slots": slots,
                "reported_by": reporter or "",
                "reporters": reporters,
                "first_at": timezone.localtime(first).isoformat(),
            },
            person_id=person_id,
        )


CHECKS = {
    OmissionKind.PUSHED_NOT_REGISTERED: _pushed_not_registered,
    OmissionKind.VISITOR_FROM_RISK_AREA: _visitor_from_risk_area,
    OmissionKind.QUARANTINED_WENT_OUT: _quarantined_went_out,
    OmissionKind.COPIED_READINGS: _copied_readings,
    OmissionKind.FEW_CONTACTS: _few_contacts,
    OmissionKind.GATE_FEVER_UNREPORTED: _gate_fever_unreported,
    OmissionKind.REPORTS_LATE: _reports_late,
    OmissionKind.READING_WITHOUT_CONTACT: _reading_without_contact,
}


EVERY = dt.timedelta(hours=1)  # the checks read weeks of data: hourly is often enough


def omissions_check(*, now: dt.datetime | None = None, force: bool = False) -> int:
    """Run every check (at most hourly from the sweep); a subject found before is not found
    again. Returns the new findings."""
    now = now or timezone.now()
    last = cache.get("omissions:last")
    if not force and last is not None and dt.timedelta(0) <= now - last < EVERY:
        return 0
    cache.set("omissions:last", now, None)
    fresh = []
    for kind, check in CHECKS.items():
        hits = list(check(now))
        if not hits:
            continue
        known = set(
            OmissionFinding.objects.filter(dedup_key__in=[h.key for h in hits]).values_list("dedup_key", flat=True)
        )
        fresh.extend(
            OmissionFinding(
                kind=kind,
                grid_id=h.grid_id,
                person_id=h.person_id,
                household_id=h.household_id,
                evidence=h.evidence,
                dedup_key=h.key,
                found_at=now,
            )
            for h in hits
            if h.key not in known
        )
    if not fresh:
        return 0
    with transaction.atomic():
        created = OmissionFinding.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=2000)
        audit.record(
            principal=WATCH,
            action="omission.found",
            object_type="oversight.omissionfinding",
            changes={"found": [None, len(created)]},
        )
    return len(created)


OMISSION_SWEEP = ("omission_checks", omissions_check)


def finding_review(*, finding: OmissionFinding, confirmed: bool, note: str, principal) -> OmissionFinding:
    """The inspector's verdict: confirmed (an omission, to follow up in an inspection) or
    dismissed; either way with a note saying why."""
    authorize(principal, REVIEW, finding.grid.path)
    note = (note or "").strip()
    if not note:
        raise DomainError("note_required", _("Say what you found (a note is required)."), field="note")
    return move(
        finding,
        OmissionStatus.CONFIRMED if confirmed else OmissionStatus.DISMISSED,
        principal=principal,
        fields={"review_note": note[:300], "reviewed_by": user_of(principal)},
        changes={"review_note": ["", note[:300]]},
    )


def findings_for(user, *, capability: str = VIEW):
    return OmissionFinding.objects.restrict(user, capability).select_related("grid", "person", "household")


def finding_get(*, user, pk, capability: str = VIEW) -> OmissionFinding:
    return OmissionFinding.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("finding_not_found", _("No such finding."))
    )
