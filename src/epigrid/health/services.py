"""Writes of the health app: temperatures (一天四报体温), personal links, test lists, samples,
results, cases and expert consultations; and the missed-slot sweep."""

import bisect
import datetime as dt
import hashlib
import json
import math
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, EscalationLevel, Severity
from epigrid.alerts.services import NewAlert, ack_minutes, alerts_raise, level_owner
from epigrid.control.choices import OPEN_ORDER_STATUSES, OrderKind
from epigrid.control.selectors import liaison_for, liaisons_for, open_order
from epigrid.core import audit, extensions, throttle
from epigrid.core.bulk import copy_staged_insert, gc_paused
from epigrid.core.capabilities import Capability
from epigrid.core.compiled import CompiledRead, columns, instance, instances, selected
from epigrid.core.crypto import seal, unseal
from epigrid.core.errors import Conflict, DomainError, NotFound, RowErrors, Throttled
from epigrid.core.rates import PathTokenThrottle
from epigrid.core.scoping import VIEW, SystemPrincipal, allows, authorize, user_of
from epigrid.core.transitions import move
from epigrid.people.models import Person

from . import codes
from .choices import CASE_TRANSITIONS, CaseStatus, Conclusion, ReportSource, SampleResult, StaffContactKind
from .models import (
    Case,
    ExpertConsultation,
    MonitoringPolicy,
    ResidentLink,
    Sample,
    StaffContact,
    TemperatureReport,
    TestList,
    TestListEntry,
)
from .selectors import days_left

TEMPERATURE_MIN, TEMPERATURE_MAX = Decimal("34.0"), Decimal("43.0")
# Measures whose people report four times a day (hospital staff monitor the isolated).
MONITORED_KINDS = (OrderKind.HOME_QUARANTINE, OrderKind.CENTRALIZED_QUARANTINE, OrderKind.HEALTH_MONITORING)


_POLICY_COLUMNS = columns(MonitoringPolicy)
# Read by every reading recorded and every gate scan with a temperature: compiled once.
_POLICY = CompiledRead(MonitoringPolicy, lambda: MonitoringPolicy.objects.filter(pk=1).values_list(*_POLICY_COLUMNS))


def policy() -> MonitoringPolicy:
    rows = _POLICY()
    if rows:
        return instance(MonitoringPolicy, **dict(zip(_POLICY_COLUMNS, rows[0], strict=True)))
    return MonitoringPolicy.objects.get_or_create(pk=1)[0]


def policy_update(*, slot_times: list[str], window_minutes: int, fever_threshold, principal) -> MonitoringPolicy:
    authorize(principal, Capability.APPROVE_RELEASE)
    try:
        times = sorted({dt.time.fromisoformat(t).strftime("%H:%M") for t in slot_times})
    except (TypeError, ValueError):
        raise DomainError("slot_times", _("Give times as HH:MM."), field="slot_times") from None
    if not times or not 10 <= int(window_minutes) <= 240:
        raise DomainError("window", _("Give at least one time and a window of 10–240 minutes."), field="window_minutes")
    threshold = parse_temperature(fever_threshold)
    with transaction.atomic():
        current = MonitoringPolicy.objects.select_for_update().get_or_create(pk=1)[0]
        before = {
            "slot_times": current.slot_times,
            "window": current.window_minutes,
            "fever": str(current.fever_threshold),
        }
        current.slot_times, current.window_minutes, current.fever_threshold = times, int(window_minutes), threshold
        current.save()
        audit.record(
            principal=principal,
            action="monitoring_policy.update",
            obj=current,
            changes=audit.diff(
                before, {"slot_times": times, "window": current.window_minutes, "fever": str(threshold)}
            ),
        )
    return current


def parse_temperature(value, *, field: str = "value") -> Decimal:
    """34.0–43.0 °C with a point; a comma decimal, NaN or text is refused with a clear message."""
    if isinstance(value, bool) or value is None:
        raise DomainError("temperature_required", _("Enter the temperature."), field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise DomainError("temperature_invalid", _("Enter the temperature as a number like 36.5."), field=field)
    text = str(value).strip()
    if "," in text or "，" in text:
        raise DomainError("temperature_comma", _("Use a point, not a comma: 36.5, not 36,5."), field=field)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise DomainError(
            "temperature_invalid", _("Enter the temperature as a number like 36.5."), field=field
        ) from None
    if not number.is_finite():
        raise DomainError("temperature_invalid", _("Enter the temperature as a number like 36.5."), field=field)
    if not TEMPERATURE_MIN <= number <= TEMPERATURE_MAX:
        raise DomainError("temperature_range", _("A body temperature is between 34.0 and 43.0 °C."), field=field)
    return number.quantize(Decimal("0.1"))


def slot_of(moment: dt.datetime, pol: MonitoringPolicy) -> tuple[dt.date, int | None]:
    """The local day and slot a reading belongs to. Days and slots are computed in Asia/Shanghai;
    a slot near midnight can take a reading from the evening before."""
    local = timezone.localtime(moment)
    window = dt.timedelta(minutes=pol.window_minutes)
    best = None
    for at, day, index in _slot_moments(local.date(), tuple(pol.slot_times)):
        distance = abs(local - at)
        if distance <= window and (best is None or distance < best[0]):
            best = (distance, day, index)
    if best is None:
        return local.date(), None
    return best[1], best[2]


@lru_cache(maxsize=64)
def _slot_moments(local_date: dt.date, slot_times: tuple[str, ...]) -> list[tuple[dt.datetime, dt.date, int]]:
    # Cached per day: a batch of a day's readings computes the day's slot times once.
    starts = [dt.time.fromisoformat(t) for t in slot_times]
    return [
        (timezone.make_aware(dt.datetime.combine(day, start)), day, index)
        for day in (local_date - dt.timedelta(days=1), local_date, local_date + dt.timedelta(days=1))
        for index, start in enumerate(starts)
    ]


def slot_moment(day: dt.date, slot: int, pol: MonitoringPolicy) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, pol.slot_starts()[slot]))


def slot_expected(*, order_starts_at: dt.datetime, day: dt.date, slot: int, pol: MonitoringPolicy) -> bool:
    """The one rule of which slots an order asks for: those whose moment is at or after the
    order's start. An earlier slot is neither due nor missed (the day page greys it, the sweep
    raises nothing: its SQL states the same rule as `o.starts_at <= <slot moment>`)."""
    return order_starts_at <= slot_moment(day, slot, pol)


@dataclass
class Reading:
    person_id: int
    value: object
    measured_at: dt.datetime | None = None
    client_id: object = None


@dataclass
class RecordResult:
    stored: int
    duplicates: int
    fevers: int


# The resident's own link acts as the system for the one person its token names (no account).
RESIDENT_LINK = SystemPrincipal("system:resident-link", {Capability.RECORD_HEALTH})
# What one personal link may send (temperature reports and help requests, page and API together),
# counted per link: a leaked or scripted link cannot flood the person's record or their grid
# member's alerts. settings.THROTTLE_RATES["resident_link"].
RESIDENT_LINK_THROTTLE = PathTokenThrottle("resident_link")


def resident_link_throttle(request) -> None:
    """Refuse (429) when the personal link in this request's URL has been used too often."""
    if not RESIDENT_LINK_THROTTLE.allow_request(request):
        raise Throttled("link_throttled", _("Too many reports from this link: wait a minute, then try again."))


MISSED_SLOTS = SystemPrincipal("system:missed-slots", {Capability.HANDLE_ALERTS})


def temperature_reports_record(
    *, readings: list[Reading], source: str, principal, now: dt.datetime | None = None
) -> RecordResult:
    """Record a batch of readings: all rows are validated first (a bad row refuses the batch
    with every bad row listed), then written in one statement; a resent client id is a no-op.

    The write path is set-based: the persons in two queries, one pass over the readings (each
    distinct value parsed once, slots found by bisection), then core.bulk.copy_staged_insert
    (COPY into a staging table, one INSERT … ON CONFLICT DO NOTHING RETURNING) and the fever
    alerts of the new rows in one bulk raise."""
    with gc_paused():
        return _readings_record(readings, source=source, principal=principal, now=now or timezone.now())


def _readings_record(readings: list[Reading], *, source: str, principal, now: dt.datetime) -> RecordResult:
    pol = policy()
    errors, rows, seen = [], [], set()
    person_ids = {r.person_id for r in readings}
    persons = Person.objects.filter(pk__any_of=person_ids, archived_at__isnull=True)
    # The resident's link reports for the one person its token names; everyone else reports for
    # the persons they see (others: "not found"), where their role records health (others: refused).
    if source != ReportSource.SELF:
        persons = persons.restrict(principal)
    grid_of, allowed, allowed_at = {}, set(), {}
    for person_id, grid_id, path in persons.values_list("pk", "grid_id", "grid__path"):
        grid_of[person_id] = grid_id
        if path not in allowed_at:  # a batch's persons live in a few grids: decided once a grid
            allowed_at[path] = allows(principal, Capability.RECORD_HEALTH, path)
        if allowed_at[path]:
            allowed.add(person_id)
    reporter = user_of(principal)
    reporter_id = reporter.pk if reporter is not None else None
    latest, earliest = now + dt.timedelta(minutes=10), now - dt.timedelta(days=7)
    values: dict = {}  # each distinct value parsed once: a batch repeats a few dozen temperatures
    resent_possible = False  # only a client's own id can have been sent before
    threshold = pol.fever_threshold
    for index, reading in enumerate(readings):
        person_id = reading.person_id
        try:
            if person_id not in grid_of:
                raise NotFound("person_not_found", _("No such person."), field="person_id")
            if person_id not in allowed:
                raise DomainError("forbidden", _("Your role does not allow this here."), field="person_id")
            raw = reading.value
            key = (type(raw), raw)
            try:
                parsed = values.get(key)
                if parsed is None:
                    parsed = values[key] = _parsed(raw)
            except TypeError:  # an unhashable value: parsed (and refused) on its own
                parsed = _parsed(raw)
            if isinstance(parsed, DomainError):
                raise parsed
            measured_at = reading.measured_at or now
            if timezone.is_naive(measured_at):  # the one time rule: local time
                measured_at = timezone.make_aware(measured_at)
            if measured_at > latest:
                raise DomainError("measured_in_future", _("The measuring time is in the future."), field="measured_at")
            if measured_at < earliest:
                raise DomainError(
                    "measured_too_old", _("Readings older than 7 days are not accepted."), field="measured_at"
                )
            client_id = reading.client_id
            if type(client_id) is not uuid.UUID:
                client_id = uuid.UUID(str(client_id)) if client_id else None
            if client_id is None:
                client_id = uuid.uuid4()  # ours: new, so never stored before
            else:
                resent_possible = True
        except (ValueError, TypeError):
            errors.append(
                {
                    "index": index,
                    "field": "client_id",
                    "code": "client_id_invalid",
                    "message": str(_("The client id must be a UUID.")),
                }
            )
            continue
        except DomainError as exc:
            errors.append({"index": index, **exc.as_dict()})
            continue
        if client_id in seen:
            continue
        seen.add(client_id)
        rows.append(
            [person_id, grid_of[person_id], parsed, parsed >= threshold, measured_at, now, None, None, source,
             client_id, reporter_id]
        )  # fmt: skip
    if errors:
        raise RowErrors("readings_rejected", _("Some readings are not valid; none were stored."), rows=errors)
    for row, (day, slot) in zip(rows, slots_of([row[4] for row in rows], pol), strict=True):
        row[6], row[7] = day, slot
    with transaction.atomic():
        # The table is partitioned by day on PostgreSQL, so its unique key is (client id, day): a
        # client id stored on another day is a resend too (sent again with another time).
        stored = copy_staged_insert(
            TemperatureReport,
            rows,
            columns=READING_COLUMNS,
            returning=["id", "person_id", "is_fever", "value", "measured_at"],
            skip_stored="client_id" if resent_possible else None,
        )
        fevers = [r for r in stored if r[2]]
        _fever_alerts_raise(fevers, principal=principal, now=now)
        if stored:
            # One audit record per batch: the readings themselves are append-only rows that
            # carry who sent them and when (device and server time).
            audit.record(
                principal=principal,
                action="temperatures.record",
                object_type="health.temperaturereport",
                changes={"stored": [None, len(stored)], "source": [None, source], "fevers": [None, len(fevers)]},
            )
    return RecordResult(stored=len(stored), duplicates=len(rows) - len(stored), fevers=len(fevers))


def _parsed(value) -> Decimal | DomainError:
    try:
        return parse_temperature(value)
    except DomainError as exc:
        return exc


def slots_of(moments: list[dt.datetime], pol: MonitoringPolicy) -> list[tuple[dt.date, int | None]]:
    """slot_of for a batch: the slot moments (and midnights) of the days the batch spans are
    computed once, then each reading is placed by bisection on its timestamp."""
    if not moments:
        return []
    first = timezone.localdate(min(moments)) - dt.timedelta(days=1)
    last = timezone.localdate(max(moments)) + dt.timedelta(days=1)
    times = [dt.time.fromisoformat(t) for t in pol.slot_times]
    slots, midnights, day, order = [], [], first, 0
    while day <= last:
        midnights.append((timezone.make_aware(dt.datetime.combine(day, dt.time())).timestamp(), day))
        for index, start in enumerate(times):
            # (timestamp, order): on a tie slot_of keeps the first slot it meets, day by day.
            slots.append((timezone.make_aware(dt.datetime.combine(day, start)).timestamp(), order, day, index))
            order += 1
        day += dt.timedelta(days=1)
    slots.sort()
    stamps = [s[0] for s in slots]
    midnight_stamps = [m[0] for m in midnights]
    window = pol.window_minutes * 60
    answer = []
    for moment in moments:
        t = moment.timestamp()
        i = bisect.bisect_left(stamps, t)
        best = None
        for candidate in (slots[i - 1] if i > 0 else None, slots[i] if i < len(slots) else None):
            if candidate is None:
                continue
            distance = abs(t - candidate[0])
            if distance <= window and (best is None or (distance, candidate[1]) < best[0]):
                best = ((distance, candidate[1]), candidate)
        if best is not None:
            answer.append((best[1][2], best[1][3]))
        else:
            answer.append((midnights[bisect.bisect_right(midnight_stamps, t) - 1][1], None))
    return answer


def _fever_alerts_raise(fevers: list[tuple], *, principal, now: dt.datetime) -> None:
    """One urgent alert per new fever reading, for the person's liaison: the persons and their
    owners in three queries, the alerts in one bulk raise (which skips a known dedup key)."""
    if not fevers:
        return
    persons = {
        pk: (household_id, grid_id, path)
        for pk, household_id, grid_id, path in Person.objects.filter(pk__in={r[1] for r in fevers}).values_list(
            "pk", "household_id", "grid_id", "grid__path"
        )
    }
    owners = liaisons_for([(pk, household_id, path) for pk, (household_id, _grid, path) in persons.items()])
    alerts_raise(
        principal=principal,
        now=now,
        alerts=[
            NewAlert(
                kind=AlertKind.FEVER,
                dedup_key=f"fever:{report_id}",
                grid_id=persons[person_id][1],
                grid_path=persons[person_id][2],
                person_id=person_id,
                owner_id=owners[person_id],
                severity=Severity.URGENT,
                detail={"value": str(value), "measured_at": measured_at.isoformat()},
            )
            for report_id, person_id, _fever, value, measured_at in fevers
        ],
    )


READING_COLUMNS = [
    "person_id",
    "grid_id",
    "value",
    "is_fever",
    "measured_at",
    "received_at",
    "local_date",
    "slot",
    "source",
    "client_id",
    "reported_by_id",
]


# ---------------------------------------------------------------- personal links


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resident_link_issue(*, person: Person, principal) -> str:
    """A new personal link for the resident; the old one stops working."""
    authorize(principal, Capability.RECORD_HEALTH, person.grid.path)
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        ResidentLink.objects.filter(person=person, revoked_at__isnull=True).update(revoked_at=timezone.now())
        ResidentLink.objects.create(person=person, token_hash=_token_hash(token), token_sealed=seal(token))
        audit.record(principal=principal, action="resident_link.issue", obj=person, grid_path=person.grid.path)
    return token


def resident_link_token(*, person: Person) -> str | None:
    link = ResidentLink.objects.filter(person=person, revoked_at__isnull=True).first()
    return unseal(link.token_sealed) if link else None


_GRID = Person._meta.get_field("grid").related_model
_LINK_PARTS = ((Person, "person__", columns(Person)), (_GRID, "person__grid__", columns(_GRID)))


def _link_person_rows(*, token_hash: str):
    links = ResidentLink.objects.filter(token_hash=token_hash, revoked_at__isnull=True).order_by("pk")
    return links.values_list(*selected(_LINK_PARTS))[:1]


# Every report from a link (a city's busiest endpoint) starts here: compiled once.
_LINK_PERSON = CompiledRead(ResidentLink, _link_person_rows)


def resident_link_person(token: str) -> Person | None:
    """The person a personal link names, with their grid; None for a revoked link or a person
    archived since."""
    rows = _LINK_PERSON(token_hash=_token_hash(token or ""))
    if not rows:
        return None
    (person, grid), _ = instances(rows[0], _LINK_PARTS)
    if person.archived_at:
        return None
    person.grid = grid
    return person


# ---------------------------------------------------------------- the missed-slot sweep


def _missed_slot_sql(vendor: str) -> str:
    kinds = ", ".join(f"'{k}'" for k in MONITORED_KINDS)
    statuses = ", ".join(f"'{s}'" for s in OPEN_ORDER_STATUSES)
    liaison = """SELECT tm.user_id FROM control_teammember tm JOIN control_householdteam t ON t.id = tm.team_id
                  WHERE t.household_id = p.household_id AND tm.role = 'liaison' AND tm.ended_at IS NULL
                  ORDER BY tm.id LIMIT 1"""
    member = """SELECT a.user_id FROM accounts_gridassignment a JOIN grids_gridnode n ON n.id = a.node_id
                 WHERE n.path = substr(g.path, 1, 12) AND a.role = 'grid_member' AND a.ended_at IS NULL
                 ORDER BY a.id LIMIT 1"""
    if vendor == "postgresql":
        # LATERAL joins let PostgreSQL plan the owner lookups once per row (bench: 1.69x → ~1x).
        detail, owner = "CAST(%s AS jsonb)", "COALESCE(l.user_id, m.user_id)"
        joins = f"LEFT JOIN LATERAL ({liaison}) l ON true LEFT JOIN LATERAL ({member}) m ON true"
    else:
        detail, owner, joins = "%s", f"COALESCE(({liaison}), ({member}))", ""
    # One INSERT … SELECT for the whole city: a person under monitoring with no reading in the
    # slot gets one alert, owned by their household's liaison (else a grid member of their
    # compound grid). ON CONFLICT on the dedup key makes reruns add nothing.
    return f"""
        INSERT INTO alerts_alert (kind, severity, status, dedup_key, person_id, grid_id, detail, owner_id,
                                  level, raised_at, due_at, resolution)
        SELECT 'missed_slot', 'normal', 'open', %s || o.person_id, o.person_id, o.grid_id, {detail},
               {owner}, 0, %s, %s, ''
          FROM control_controlorder o
          JOIN people_person p ON p.id = o.person_id
          JOIN grids_gridnode g ON g.id = o.grid_id
          {joins}
         WHERE o.status IN ({statuses}) AND o.kind IN ({kinds})
           AND o.starts_at <= %s  -- slot_expected: only slots from the order's start
           AND NOT EXISTS (SELECT 1 FROM health_temperaturereport r
                            WHERE r.person_id = o.person_id AND r.local_date = %s AND r.slot = %s)
        ON CONFLICT (dedup_key) DO NOTHING
    """


def missed_slot_alerts_raise(*, day: dt.date, slot: int, now: dt.datetime | None = None) -> int:
    """Raise the missed-slot alerts of one slot (after its window closed). Set-based."""
    with transaction.atomic():
        raised, entry = _missed_slot_alerts(day, slot, now or timezone.now(), policy())
        audit.record_many(principal=MISSED_SLOTS, entries=[entry] if entry else [])
    return raised


def missed_slots_sweep(*, now: dt.datetime | None = None) -> int:
    """Every slot of yesterday and today whose window has closed (reruns are no-ops).

    The slots' audit rows are appended together, after the last slot's INSERT: the audit chain's
    head is locked from an append to the commit, and an append after the first slot would hold
    every audited write in the city (gate scans, reports) through the other slots' INSERTs,
    seconds each at city scale."""
    now = now or timezone.now()
    pol = policy()
    today = timezone.localdate(now)
    with transaction.atomic():
        raised = [
            _missed_slot_alerts(day, slot, now, pol)
            for day in (today - dt.timedelta(days=1), today)
            for slot in range(len(pol.slot_times))
        ]
        audit.record_many(principal=MISSED_SLOTS, entries=[entry for _, entry in raised if entry])
    return sum(count for count, _ in raised)


def _missed_slot_alerts(day: dt.date, slot: int, now: dt.datetime, pol) -> tuple[int, audit.AuditEntry | None]:
    """The alerts of one slot raised (a count), and the audit entry that says so (None: none raised)."""
    at = slot_moment(day, slot, pol)
    if now < at + dt.timedelta(minutes=pol.window_minutes):
        return 0, None  # the window is still open
    ops = connection.ops  # raw SQL: datetimes as the backend stores them (UTC)
    params = [
        f"missed:{day.isoformat()}:{slot}:",
        json.dumps({"day": day.isoformat(), "slot": slot, "time": pol.slot_times[slot]}),
        ops.adapt_datetimefield_value(now),
        ops.adapt_datetimefield_value(now + dt.timedelta(minutes=ack_minutes(EscalationLevel.LIAISON))),
        ops.adapt_datetimefield_value(at),
        ops.adapt_datefield_value(day),
        slot,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_missed_slot_sql(connection.vendor), params)
        raised = cursor.rowcount
    if not raised:
        return 0, None
    entry = audit.AuditEntry(
        action="sweep.missed_slots",
        object_type="alerts.alert",
        changes={"day": [None, day.isoformat()], "slot": [None, slot], "raised": [None, raised]},
    )
    return raised, entry


# ---------------------------------------------------------------- nucleic-acid tests


def test_list_create(*, name: str, test_date: dt.date, grid, persons, principal) -> TestList:
    """A test list from a selection (a grid's people, those under control, a filter)."""
    authorize(principal, Capability.MANAGE_TESTS, grid.path)
    if not (name or "").strip():
        raise DomainError("name_required", _("Give the list a name."), field="name")
    person_ids = list(persons.restrict(principal).values_list("pk", flat=True))
    with transaction.atomic():
        test_list = TestList.objects.create(
            name=name.strip()[:100], test_date=test_date, grid=grid, created_by=principal
        )
        TestListEntry.objects.bulk_create(
            [TestListEntry(test_list=test_list, person_id=p) for p in person_ids], batch_size=5000
        )
        audit.record(
            principal=principal,
            action="test_list.create",
            obj=test_list,
            grid_path=grid.path,
            changes={"name": [None, test_list.name], "persons": [None, len(person_ids)]},
        )
    return test_list


def sample_record(
    *, person: Person, specimen_number: str, sampled_at: dt.datetime, test_list=None, principal
) -> Sample:
    """采样; the same specimen number for the same person again is a no-op."""
    authorize(principal, Capability.RECORD_HEALTH, person.grid.path)
    number = (specimen_number or "").strip().upper()
    if not number or len(number) > 40:
        raise DomainError("specimen_required", _("Give the specimen number."), field="specimen_number")
    throttle.duplicate_probes_check(principal)
    with transaction.atomic():
        existing = Sample.objects.filter(specimen_number=number).select_related("grid").first()
        if existing is not None and existing.person_id == person.pk:
            return existing
        if existing is None:
            return _sample_create(
                person=person, number=number, sampled_at=sampled_at, test_list=test_list, principal=principal
            )
    # Outside the transaction, so the refusal's audit row stays.
    raise _specimen_taken(existing, person=person, principal=principal)


def _specimen_taken(existing: Sample, *, person: Person, principal) -> Conflict:
    """The refusal of a specimen number another person's sample has. Inside the caller's area it
    says so; outside it, it names no one and does not say the number is taken (only that it
    cannot be used here), and the attempt is audited at the caller's person's grid
    (`sample.duplicate_outside_scope`, without the number) and counted against the caller's
    allowance of such refusals (core.throttle.duplicate_probes_*)."""
    if allows(principal, VIEW, existing.grid.path):
        return Conflict("specimen_taken", _("This specimen number belongs to another person."), field="specimen_number")
    audit.record(
        principal=principal,
        action="sample.duplicate_outside_scope",
        obj=person,
        grid_path=person.grid.path,
        changes={"source": [None, "sample"]},
    )
    throttle.duplicate_probes_count(principal)
    return Conflict(
        "specimen_unavailable",
        _("This specimen number cannot be used here: check the number on the tube, or contact the community office."),
        field="specimen_number",
    )


def _sample_create(*, person: Person, number: str, sampled_at, test_list, principal) -> Sample:
    try:
        with transaction.atomic():
            sample = Sample.objects.create(
                specimen_number=number,
                person=person,
                grid=person.grid,
                test_list=test_list,
                sampled_at=sampled_at,
                sampled_by=principal,
            )
    except IntegrityError:  # a concurrent request recorded the same number: answer as for it
        return sample_record(
            person=person, specimen_number=number, sampled_at=sampled_at, test_list=test_list, principal=principal
        )
    audit.record(
        principal=principal,
        action="sample.record",
        object_type="people.person",
        object_id=str(person.pk),
        grid_path=person.grid.path,
        changes={"specimen": [None, number]},
    )
    return sample


@dataclass
class ResultIn:
    specimen_number: str
    result: str
    result_at: dt.datetime
    lab: str = ""


def results_record(*, results: list[ResultIn], principal) -> dict:
    """Results from the CDC or a lab, entered or imported; idempotent by specimen number. A
    different result for a specimen that has one is refused (a correction is a new sample)."""
    authorize(principal, Capability.MANAGE_TESTS)
    numbers = [r.specimen_number.strip().upper() for r in results]
    samples = {
        s.specimen_number: s
        for s in Sample.objects.restrict(principal).filter(specimen_number__in=numbers).select_related("person__grid")
    }
    errors = []
    for index, (number, result) in enumerate(zip(numbers, results, strict=True)):
        sample = samples.get(number)
        if sample is None:
            errors.append(
                {
                    "index": index,
                    "field": "specimen_number",
                    "code": "specimen_unknown",
                    "message": str(_("Unknown specimen number (or outside your area).")),
                }
            )
        elif result.result not in (SampleResult.NEGATIVE, SampleResult.POSITIVE):
            errors.append(
                {
                    "index": index,
                    "field": "result",
                    "code": "result_invalid",
                    "message": str(_("The result is negative or positive.")),
                }
            )
        elif sample.result not in (SampleResult.PENDING, result.result):
            errors.append(
                {
                    "index": index,
                    "field": "result",
                    "code": "result_conflict",
                    "message": str(_("This specimen already has a different result.")),
                }
            )
    if errors:
        raise RowErrors("results_rejected", _("Some results are not valid; none were stored."), rows=errors)
    counts = {"stored": 0, "unchanged": 0, "positive": 0}
    with transaction.atomic():
        for number, result in zip(numbers, results, strict=True):
            sample = Sample.objects.select_for_update().get(pk=samples[number].pk)
            if sample.result == result.result:
                counts["unchanged"] += 1
                continue
            sample.result, sample.result_at, sample.lab = result.result, result.result_at, result.lab.strip()[:100]
            sample.result_recorded_by = principal
            sample.save()
            counts["stored"] += 1
            person = samples[number].person
            audit.record(
                principal=principal,
                action=f"sample.{result.result}",
                object_type="people.person",
                object_id=str(person.pk),
                grid_path=person.grid.path,
                changes={"specimen": [None, number], "result": [SampleResult.PENDING, result.result]},
            )
            if result.result == SampleResult.POSITIVE:
                counts["positive"] += 1
                _case_suspect(sample=sample, person=person, principal=principal)
    return counts


def _case_suspect(*, sample: Sample, person: Person, principal) -> Case:
    """A positive result: the person is suspected and the command center gets an urgent alert."""
    now = timezone.now()
    case, created = Case.objects.get_or_create(
        person=person,
        defaults={"grid": person.grid, "status": CaseStatus.SUSPECTED, "positive_sample": sample, "suspected_at": now},
    )
    if created:
        audit.record(
            principal=principal,
            action="case.suspect",
            object_type="people.person",
            object_id=str(person.pk),
            grid_path=person.grid.path,
            changes={"status": [None, CaseStatus.SUSPECTED]},
        )
        codes.refresh([person.pk])
    elif case.status == CaseStatus.EXCLUDED:
        # Excluded by the experts, positive again: suspected again, and the experts decide anew.
        case = move(case, CaseStatus.SUSPECTED, principal=principal, at=now, fields={"positive_sample": sample})
    owner = level_owner(level=EscalationLevel.COMMAND, grid_path=person.grid.path)
    alerts_raise(
        principal=principal,
        now=now,
        alerts=[
            NewAlert(
                kind=AlertKind.POSITIVE_TEST,
                dedup_key=f"positive:{sample.pk}",
                grid_id=person.grid_id,
                grid_path=person.grid.path,
                person_id=person.pk,
                owner_id=getattr(owner, "pk", None),
                severity=Severity.URGENT,
                level=EscalationLevel.COMMAND,
                detail={"specimen": sample.specimen_number},
            )
        ],
    )
    return case


def consultation_record(
    *, case: Case, held_at: dt.datetime, experts: str, conclusion: str, note: str = "", principal
) -> ExpertConsultation:
    """专家会诊: confirmation needs this record. A confirmation starts, in the same transaction and
    as the system, what the method says follows ("case_confirmed": the emergency plan, the
    epidemic point, the contacts' orders): all of it happens, or none of it and the error says why."""
    authorize(principal, Capability.CONFIRM_CASES, case.grid.path)
    if conclusion not in Conclusion.values:
        raise DomainError(
            "conclusion_invalid", _("The conclusion is a confirmed case or not a case."), field="conclusion"
        )
    if not (experts or "").strip():
        raise DomainError("experts_required", _("Name the experts."), field="experts")
    target = CaseStatus.CONFIRMED if conclusion == Conclusion.CONFIRMED else CaseStatus.EXCLUDED
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status != target and target not in CASE_TRANSITIONS[locked.status]:
            raise DomainError("case_transition", _("This case is already confirmed."))
        consultation = ExpertConsultation.objects.create(
            case=locked,
            held_at=held_at,
            experts=experts.strip()[:200],
            conclusion=conclusion,
            note=(note or "").strip()[:500],
            recorded_by=user_of(principal),
        )
        audit.record(
            principal=principal,
            action="consultation.record",
            obj=consultation,
            grid_path=locked.grid.path,
            changes={"conclusion": [None, conclusion], "case": [None, locked.pk]},
        )
        if locked.status != target:
            moved = move(
                locked, target, principal=principal, at=held_at, changes={"consultation": [None, consultation.pk]}
            )
            if target == CaseStatus.CONFIRMED:
                extensions.run("case_confirmed", case=moved, cause=principal)
    return consultation


MISSED_SLOT_SWEEP = ("missed_slot_alerts", missed_slots_sweep)


# ---------------------------------------------------------------- staff contacts (走访)

CONTACT_EARLIEST = dt.date(2019, 12, 1)  # as core.api.EPIDEMIC_START
CONTACT_SKEW = dt.timedelta(minutes=10)  # a phone's clock may run a little ahead


def staff_contact_record(
    *, person: Person, kind: str, at: dt.datetime | None = None, note: str = "", principal
) -> StaffContact:
    """走访: the caller's own contact with a person (a home visit, a phone or video call) at `at`
    (now by default; not before the epidemic, not in the future). The note stays out of the audit
    row (it may say personal things); the audit names the kind and the day."""
    authorize(principal, Capability.RECORD_HEALTH, person.grid.path)
    if kind not in StaffContactKind.values:
        raise DomainError("contact_kind_invalid", _("Choose a home visit, a phone call or a video call."), field="kind")
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    earliest = timezone.make_aware(dt.datetime.combine(CONTACT_EARLIEST, dt.time()))
    if not earliest <= at <= now + CONTACT_SKEW:
        raise DomainError(
            "contact_time_invalid", _("The contact time must lie between 1 December 2019 and now."), field="at"
        )
    note = (note or "").strip()
    if len(note) > 300:
        raise DomainError("note_too_long", _("Keep the note under 300 characters."), field="note")
    staff = user_of(principal)
    if staff is None:  # a contact is a person's: the system has none to record
        raise DomainError("contact_staff_required", _("Only a staff member records their own contact."))
    with transaction.atomic():
        contact = StaffContact.objects.create(
            person=person,
            grid=person.grid,
            staff=staff,
            kind=kind,
            at=at,
            local_date=timezone.localdate(at),
            note=note,
        )
        audit.record(
            principal=principal,
            action="staff_contact.record",
            obj=contact,
            grid_path=person.grid.path,
            changes={"kind": [None, kind], "person": [None, person.pk], "day": [None, contact.local_date.isoformat()]},
        )
    return contact


# A reading this far from the one just before it is more likely a slip of the finger or a bad
# measurement than a real change (36.4 then 39.1 a minute later): the resident confirms it first.
JUMP_DEGREES = Decimal("1.5")
JUMP_WINDOW = dt.timedelta(minutes=10)


class ConfirmationNeeded(Conflict):
    """The reading jumps from the one just before it: resend it confirmed to store it."""

    def __init__(self, *, previous: "TemperatureReport", value: Decimal, now: dt.datetime):
        minutes = max(int((now - previous.measured_at).total_seconds() // 60), 1)
        super().__init__(
            "temperature_confirm",
            _(
                "Please confirm: %(minutes)s min ago %(previous)s °C was reported, now %(value)s °C. "
                "If unsure, measure again."
            ),
            field="value",
            params={"minutes": minutes, "previous": previous.value, "value": value},
        )
        self.previous = previous
        self.value = value


def _recent_readings(*, person_id: int, since: dt.datetime, until: dt.datetime, first_day: dt.date, last_day: dt.date):
    # The days bound the partitions read (a month each on PostgreSQL): a reading's day is its
    # slot's, at most a day either side of the day it was measured on.
    readings = TemperatureReport.objects.filter(
        person_id=person_id,
        local_date__gte=first_day,
        local_date__lte=last_day,
        measured_at__gte=since,
        measured_at__lte=until,
    )
    return readings.order_by("-measured_at").values_list("value", "measured_at")[:5]


# Before every report from a personal link: compiled once.
_RECENT_READINGS = CompiledRead(
    TemperatureReport, _recent_readings, numbers=("person_id",), moments=("since", "until", "first_day", "last_day")
)


def implausible_jump(*, person, value, now: dt.datetime) -> "TemperatureReport | None":
    """The person's reading of the last few minutes that `value` differs from by more than
    JUMP_DEGREES, if any (None also for a value that does not parse: recording refuses it)."""
    try:
        value = parse_temperature(value)
    except DomainError:
        return None
    since = now - JUMP_WINDOW
    day = dt.timedelta(days=1)
    for previous, measured_at in _RECENT_READINGS(
        person_id=person.pk,
        since=since,
        until=now,
        first_day=timezone.localdate(since) - day,
        last_day=timezone.localdate(now) + day,
    ):
        if abs(value - previous) > JUMP_DEGREES:
            return instance(TemperatureReport, person_id=person.pk, value=previous, measured_at=measured_at)
    return None


def resident_contact(person) -> dict | None:
    """Whom the resident calls: their liaison (household team), else their compound's grid member;
    the staff member's name and work phone (a phone the staff member gave to be called on)."""
    user = liaison_for(person)
    if user is None:
        return None
    return {"name": str(user), "phone": unseal(user.phone_sealed) if user.phone_sealed else ""}


def resident_report(*, person, value, client_id=None, confirmed: bool = False) -> dict:
    """The resident's own report from their link (the token names the person): one reading now.
    A jump from the reading just before it (JUMP_DEGREES within JUMP_WINDOW) is refused with
    ConfirmationNeeded unless `confirmed`."""
    now = timezone.now()
    if not confirmed:
        previous = implausible_jump(person=person, value=value, now=now)
        if previous is not None:
            raise ConfirmationNeeded(previous=previous, value=parse_temperature(value), now=now)
    result = temperature_reports_record(
        readings=[Reading(person.pk, value, now, client_id)],
        source=ReportSource.SELF,
        principal=RESIDENT_LINK,
    )
    order = open_order(person)
    return {"stored": result.stored == 1, "fever": result.fevers == 1, "days_left": days_left(order) if order else None}
