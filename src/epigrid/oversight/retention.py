"""Retention and erasure (PIPL; docs/architecture.md "Retention and erasure").

Personal data is kept for its purpose. A person's retention ends `RETENTION_DAYS` after the last
thing that concerned them ended — their file's closing (archive), a control order, a test, a
case, and the incident (plan activation) of their compound — and never while one of these is
still open: an order in force, a sample without its result, a suspected case, or an incident still
open in their compound. By default only closed (archived) files are erased
(`RETENTION_ARCHIVED_ONLY`): a resident still living in the grid keeps theirs.

`purge` then anonymises those persons in place (`people.services.persons_erase`), deletes their
keys (`core.shred.forget`: their values in the audit log can no longer be read, the chain still
verifies), revokes their personal links, and deletes temperature reports and gate passages
older than the retention (on PostgreSQL whole months are dropped with their partition,
core/partitions.py, then a set-based DELETE for the rest; elsewhere the DELETE alone) —
but none of a person whose retention has not ended (`held`), whose file is open or not: nothing
about a person is hard-deleted before their retention ends. It is audited once: what and how
many, never who.

`purge_start` queues the same purge as a background job (core.jobs, kind `retention_purge`),
followed on its job page: persons checked and erased of the total as it goes, the counts at the
end; a cancel rolls everything back.
"""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, Exists, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest, Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.permissions import job_user, second_factor_verified
from epigrid.care.models import SupplyRequest
from epigrid.control.models import ControlOrder, KeyPerson
from epigrid.core import audit, jobs, partitions, shred
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Forbidden
from epigrid.core.models import JobStatus
from epigrid.core.scoping import grant_paths, system
from epigrid.gates.models import Passage
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import LEVEL_DEPTH, STEP
from epigrid.health.choices import CaseStatus, SampleResult
from epigrid.health.models import Case, ExpertConsultation, ResidentLink, Sample, TemperatureReport
from epigrid.mobilization.models import Volunteer, Wish
from epigrid.people.models import ERASED_NAME, Person
from epigrid.people.services import persons_erase
from epigrid.response.models import Activation

from .models import VerificationEntry

# The compound (楼院网格) of a person's grid, in SQL: the unit an incident (activation) covers.
COMPOUND_CHARS = LEVEL_DEPTH[GridLevel.GRID] * STEP


# What other apps keep about a person in free text or identifying fields, erased with the person:
# (model, the lookup to the person, the fields' erased values).
ALSO_ERASED = (
    (SupplyRequest, "person", {"text": ERASED_NAME, "note": ""}),
    (Wish, "person", {"text": ERASED_NAME, "done_note": ""}),
    (
        Volunteer,
        "person",
        {"name": ERASED_NAME, "phone_sealed": None, "phone_hash": "", "phone_masked": "", "note": ""},
    ),
    (
        VerificationEntry,
        "person",
        {"name": "", "id_number_hash": "", "id_number_masked": "", "phone_masked": "", "detail": "", "note": ""},
    ),
    (KeyPerson, "person", {"assessment": ""}),
    (ExpertConsultation, "case__person", {"note": ""}),
)


def _also(ids):
    return [(model.objects.filter(**{f"{lookup}__in": ids}), values) for model, lookup, values in ALSO_ERASED]


def cutoff(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=settings.RETENTION_DAYS)


def _latest(queryset, expression):
    """The latest `expression` of the person's rows in `queryset`, as a subquery (NULL: none)."""
    return Subquery(
        queryset.filter(person=OuterRef("pk")).values("person").annotate(latest=Max(expression)).values("latest")[:1],
        output_field=DateTimeField(),
    )


def _open():
    """Something about the person still open: an order in force, a sample without its result, a
    suspected case, an incident open in their compound."""
    return (
        Exists(ControlOrder.objects.open().filter(person=OuterRef("pk")))
        | Exists(Sample.objects.filter(person=OuterRef("pk"), result=SampleResult.PENDING))
        | Exists(Case.objects.filter(person=OuterRef("pk"), status=CaseStatus.SUSPECTED))
        | Exists(_incidents().filter(closed_at__isnull=True))
    )


def _incidents():
    """The incidents (plan activations) of the outer person's compound."""
    return Activation.objects.filter(grid__path=Substr(OuterRef("grid__path"), 1, COMPOUND_CHARS))


def _retention_from():
    """When the person's retention starts to run: the latest of their file's creation and
    closing, their orders' ends, test results, case decisions and their compound's incidents'
    closings."""
    created = F("created_at")
    return Greatest(
        created,
        Coalesce("archived_at", created),
        Coalesce(_latest(ControlOrder.objects.all(), Coalesce("released_at", "ends_at")), created),
        Coalesce(_latest(Sample.objects.all(), Coalesce("result_at", "sampled_at")), created),
        Coalesce(
            _latest(Case.objects.all(), Coalesce("excluded_at", "confirmed_at", "suspected_at")),
            created,
        ),
        Coalesce(
            Subquery(
                _incidents().values("grid").annotate(latest=Max("closed_at")).values("latest")[:1],
                output_field=DateTimeField(),
            ),
            created,
        ),
        output_field=DateTimeField(),
    )


def retention_ended(*, now: dt.datetime | None = None):
    """Persons whose retention has ended and who are not erased yet: one query, whatever the
    count (set-based). See the module's docstring for the rule."""
    persons = Person.objects.filter(erased_at__isnull=True)
    if settings.RETENTION_ARCHIVED_ONLY:
        persons = persons.filter(archived_at__isnull=False)
    return (
        persons.exclude(_open())
        .annotate(retention_from=_retention_from())
        .filter(retention_from__lt=Value(cutoff(now)))
    )


def held(*, now: dt.datetime | None = None):
    """Persons whose retention has not ended (whatever their file): nothing about them is deleted."""
    return (
        Person.objects.annotate(retention_from=_retention_from())
        .filter(_open() | Q(retention_from__gte=Value(cutoff(now))))
        .values("pk")
    )


def _old_records(now):
    """Temperature reports and gate passages older than the retention, but none of a person still
    held, nor a passage of a household with someone held."""
    limit = cutoff(now)
    kept = held(now=now)
    return {
        "temperature_reports": TemperatureReport.objects.filter(received_at__lt=limit).exclude(person__in=kept),
        "gate_passages": Passage.objects.filter(at__lt=limit).exclude(household_pass__household__members__in=kept),
    }


def _drop_old_months(now) -> dict[str, int]:
    """PostgreSQL: drop the monthly partitions of readings and passages that hold only rows the
    purge deletes (the month ended before the cutoff, and none of its rows is kept: held, or a
    reading received after the cutoff); {kind: rows dropped, "partitions": how many}. Elsewhere
    nothing (the caller's DELETE does it all)."""
    limit, kept = cutoff(now), held(now=now)
    readings = partitions.partitions_drop_before(
        TemperatureReport._meta.db_table,
        timezone.localdate(limit),
        keep=lambda low, high: (
            TemperatureReport.objects.filter(local_date__gte=low, local_date__lt=high)
            .filter(Q(received_at__gte=limit) | Q(person__in=kept))
            .exists()
        ),
    )
    passages = partitions.partitions_drop_before(
        Passage._meta.db_table,
        limit,
        keep=lambda low, high: (
            Passage.objects.filter(at__gte=low, at__lt=high)
            .filter(household_pass__household__members__in=kept)
            .exists()
        ),
    )
    return {
        "temperature_reports": readings["rows"],
        "gate_passages": passages["rows"],
        "partitions": readings["partitions"] + passages["partitions"],
    }


def purge(*, principal, dry_run: bool = False, now: dt.datetime | None = None, progress=None) -> dict[str, int]:
    """Erase what the retention no longer allows (see the module's docstring), all or nothing, and
    audit it once (`retention.purge`: counts only). `dry_run` counts what would go and writes
    nothing. Irreversible: only a principal that may edit people everywhere (the console
    operator, the scheduled purge) runs it. `progress` (a job's, core.jobs.Progress) hears the
    persons checked and erased after each chunk, and may cancel: everything rolls back."""
    _may_purge(principal)
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(retention_ended(now=now).values_list("pk", flat=True))
        if progress is not None:
            progress.total(len(ids))
        old = _old_records(now)
        if dry_run:
            counts = {"persons": len(ids), **{kind: rows.count() for kind, rows in old.items()}}
            # Households left empty: counted as the erasure would find them.
            counts["households"] = _emptied_households(ids)
            counts["notes"] = sum(rows.count() for chunk in _chunks(ids) for rows, _ in _also(chunk))
            return counts
        counts = dict.fromkeys(("persons", "households", "notes", "keys", "links"), 0)
        checked = 0
        for chunk in _chunks(ids):  # a few statements per chunk, whatever the chunk's size
            erased = persons_erase(person_ids=chunk, now=now)
            counts["persons"] += erased["persons"]
            counts["households"] += erased["households"]
            counts["notes"] += sum(rows.update(**values) for rows, values in _also(chunk))
            counts["keys"] += shred.forget(chunk)
            counts["links"] += ResidentLink.objects.filter(person_id__in=chunk, revoked_at__isnull=True).update(
                revoked_at=now
            )
            checked += len(chunk)
            if progress is not None:
                progress.step(checked=checked, written=counts["persons"])
        dropped = _drop_old_months(now)
        for kind, rows in old.items():
            # Nothing refers to these rows: one DELETE each, for what no dropped month held.
            counts[kind] = dropped[kind] + rows.delete()[0]
        if any(counts.values()):
            audit.record(
                principal=principal,
                action="retention.purge",
                object_type="retention",
                changes={
                    **{kind: [None, count] for kind, count in sorted(counts.items())},
                    "retention_days": [None, settings.RETENTION_DAYS],
                    **({"partitions_dropped": [None, dropped["partitions"]]} if dropped["partitions"] else {}),
                },
            )
    return counts


def _may_purge(principal) -> None:
    if not may_purge(principal):
        raise Forbidden("purge_forbidden", _("Only the operator may purge personal data."))


def may_purge(principal) -> bool:
    """Only who may edit people everywhere (the operator, with their second factor) purges."""
    return grant_paths(principal, Capability.EDIT_PEOPLE) is None


PURGE_JOB = "retention_purge"


def purge_start(*, principal, dry_run: bool = False):
    """Queue the purge as a background job of `principal` (a user: the operator): refused now
    (403) when they may not purge; checked again when it runs (their roles then)."""
    _may_purge(principal)
    return jobs.job_start(
        kind=PURGE_JOB,
        principal=principal,
        params={"dry_run": bool(dry_run), "second_factor": second_factor_verified(principal)},
    )


def purge_overview(*, user) -> dict:
    """What the purge page shows its operator (refused, 403, to anyone else): the retention
    settings, the last dry run's counts (what a purge would remove; a dry run is a job: counting a
    city's persons is not for a page view) and the recent purge jobs."""
    _may_purge(user)
    recent = list(jobs.job_list(user=user).filter(kind=PURGE_JOB)[:10])
    last_dry_run = next((j for j in recent if j.params.get("dry_run") and j.status == JobStatus.DONE), None)
    return {
        "retention_days": settings.RETENTION_DAYS,
        "archived_only": settings.RETENTION_ARCHIVED_ONLY,
        "scheduled": settings.RETENTION_PURGE_ENABLED,
        "last_dry_run": last_dry_run,
        "recent": recent,
    }


def _run_purge_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    dry_run = bool(job.params.get("dry_run"))
    counts = purge(principal=principal, dry_run=dry_run, progress=progress)
    if dry_run and job.rows_total:
        progress.step(checked=job.rows_total, written=0)
    return {"dry_run": dry_run, "retention_days": settings.RETENTION_DAYS, "counts": counts}


# Contributed to "job_kinds" (oversight.apps).
PURGE_JOB_KIND = jobs.JobKind(PURGE_JOB, _("Retention purge"), _run_purge_job, "oversight/purge_report.html")


CHUNK = 500  # persons per statement: ids stay under SQLite's parameter limit


def _chunks(ids):
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _emptied_households(ids) -> int:
    """How many households the erasure of `ids` would leave with nobody unerased."""
    due, households = set(ids), set()
    for chunk in _chunks(ids):
        households.update(
            Person.objects.filter(pk__in=chunk).exclude(household=None).values_list("household_id", flat=True)
        )
    ordered, emptied = sorted(households), 0
    for chunk in _chunks(ordered):
        remaining = Person.objects.filter(household_id__in=chunk, erased_at__isnull=True)
        kept = {household for household, pk in remaining.values_list("household_id", "pk") if pk not in due}
        emptied += len(set(chunk) - kept)
    return emptied


def purge_scheduled() -> dict[str, int] | None:
    """The daily purge (Celery beat), only when RETENTION_PURGE_ENABLED: it is irreversible."""
    if not settings.RETENTION_PURGE_ENABLED:
        return None
    return purge(principal=system("system:retention", [Capability.EDIT_PEOPLE]))
