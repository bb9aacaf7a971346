"""Checkpoints (docs/method.md "5" item 9): household passes with QR tokens, the gate decision (a scan at
the gate, or a batch of passages a guard's phone recorded offline), visitors, the 24-hour duty
roster."""

import datetime as dt
import functools
import hashlib
import re
import secrets
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, Severity
from epigrid.alerts.services import NewAlert, alerts_raise
from epigrid.control.choices import OPEN_ORDER_STATUSES, OrderKind
from epigrid.control.models import ControlOrder
from epigrid.control.selectors import liaison_for
from epigrid.core import audit, extensions
from epigrid.core.bulk import bulk_insert
from epigrid.core.capabilities import Capability
from epigrid.core.compiled import CompiledRead, columns, instance, instances, selected
from epigrid.core.crypto import lookup_hash, seal
from epigrid.core.errors import Conflict, DomainError, NotFound, RowErrors, Throttled
from epigrid.core.extensions import GapCheck
from epigrid.core.scoping import authorize, subtree_q, system, user_of
from epigrid.core.transitions import move
from epigrid.core.validators import parse_id_number, parse_phone
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode, compound_path
from epigrid.health.models import MonitoringPolicy
from epigrid.health.selectors import derive
from epigrid.health.services import parse_temperature, policy
from epigrid.people.models import Household, Person

from .choices import BatchOutcome, Direction, PassStatus, RefusalReason, Verdict
from .models import Checkpoint, HouseholdPass, Passage, Shift, ShiftGuard, Visitor

# Two scans of a pass the same way this close together are one passage (a guard scanning twice,
# or two guards at one gate).
DOUBLE_SCAN = dt.timedelta(seconds=60)
BATCH_MAX = 5000
BATCH_MAX_AGE = dt.timedelta(days=7)
CLOCK_SKEW = dt.timedelta(minutes=10)  # a phone's clock may run a little ahead


# ---------------------------------------------------------------- checkpoints


def checkpoint_open(*, grid, name: str, principal) -> Checkpoint:
    authorize(principal, Capability.MANAGE_CHECKPOINTS, grid.path)
    if grid.level != GridLevel.GRID:
        raise DomainError("checkpoint_grid", _("A checkpoint belongs to a compound grid."), field="grid")
    name = (name or "").strip()
    if not name:
        raise DomainError("name_required", _("Name the entrance (e.g. 北门)."), field="name")
    with transaction.atomic():
        checkpoint, created = Checkpoint.objects.get_or_create(grid=grid, name=name[:50])
        if not created and checkpoint.is_open:
            return checkpoint
        checkpoint.is_open, checkpoint.closed_at = True, None
        checkpoint.save()
        audit.record(principal=principal, action="checkpoint.open", obj=checkpoint, grid_path=grid.path)
    return checkpoint


def checkpoint_close(*, checkpoint: Checkpoint, principal) -> Checkpoint:
    authorize(principal, Capability.MANAGE_CHECKPOINTS, checkpoint.grid.path)
    with transaction.atomic():
        locked = Checkpoint.objects.select_for_update().get(pk=checkpoint.pk)
        if not locked.is_open:
            return locked
        locked.is_open, locked.closed_at = False, timezone.now()
        locked.save()
        audit.record(principal=principal, action="checkpoint.close", obj=locked, grid_path=locked.grid.path)
    return locked


def checkpoint_temperature_policy(*, checkpoint: Checkpoint, required: bool, principal) -> Checkpoint:
    """Whether this entrance lets anyone in without a temperature (the command center decides)."""
    authorize(principal, Capability.MANAGE_CHECKPOINTS, checkpoint.grid.path)
    with transaction.atomic():
        locked = Checkpoint.objects.select_for_update().get(pk=checkpoint.pk)
        if locked.temperature_required == required:
            return locked
        before, locked.temperature_required = locked.temperature_required, required
        locked.save(update_fields=["temperature_required"])
        audit.record(
            principal=principal,
            action="checkpoint.temperature_policy",
            obj=locked,
            grid_path=checkpoint.grid.path,
            changes={"temperature_required": [before, required]},
        )
    return locked


# ---------------------------------------------------------------- passes


def _token() -> tuple[str, str, bytes]:
    token = secrets.token_urlsafe(18)
    return token, _token_hash(token), seal(token)


def passes_issue(*, grid, principal) -> int:
    """A numbered pass for every household of a compound that has none (bulk, idempotent)."""
    # Numbered per compound; a grid above the compounds (a community) numbers its own. The right
    # is checked where the passes go: the whole compound, not just the building named.
    compound = grid.compound() or grid
    authorize(principal, Capability.ISSUE_PASSES, compound.path)
    with transaction.atomic():
        compound.__class__.objects.select_for_update().filter(pk=compound.pk).first()  # one issuer at a time
        households = (
            Household.objects.in_subtree(compound.path)
            .filter(archived_at__isnull=True)
            .exclude(Exists(HouseholdPass.objects.filter(household=OuterRef("pk"), revoked_at__isnull=True)))
            .select_related("grid")
            .order_by("grid__path", "number")
        )
        taken = HouseholdPass.objects.filter(number__startswith=f"{compound.code}-").count()
        passes = []
        for offset, household in enumerate(households, start=1):
            _t, token_hash, sealed = _token()
            passes.append(
                HouseholdPass(
                    household=household,
                    grid=household.grid,
                    number=f"{compound.code}-{taken + offset:04d}",
                    token_hash=token_hash,
                    token_sealed=sealed,
                    issued_by=user_of(principal),
                )
            )
        HouseholdPass.objects.bulk_create(passes, batch_size=2000)
        if passes:
            audit.record(
                principal=principal,
                action="passes.issue",
                object_type="grids.gridnode",
                object_id=str(compound.pk),
                grid_path=compound.path,
                changes={"issued": [None, len(passes)]},
            )
    return len(passes)


def pass_reissue(*, household_pass: HouseholdPass, principal) -> HouseholdPass:
    """Same number, new token: the old card stops working."""
    authorize(principal, Capability.ISSUE_PASSES, household_pass.grid.path)
    with transaction.atomic():
        old = move(household_pass, PassStatus.REVOKED, principal=principal, action="pass.revoke")
        current = HouseholdPass.objects.filter(household_id=old.household_id, status=PassStatus.ACTIVE)
        if current.exists():  # an old, revoked card: the household already holds a newer one
            raise Conflict(
                "pass_superseded", _("This card was replaced by a newer one: reissue the household's current pass.")
            )
        _t, token_hash, sealed = _token()
        new = HouseholdPass.objects.create(
            household=old.household,
            grid=old.grid,
            number=old.number,
            token_hash=token_hash,
            token_sealed=sealed,
            issued_by=user_of(principal),
        )
        audit.record(
            principal=principal,
            action="pass.reissue",
            object_type="people.household",
            object_id=str(old.household_id),
            grid_path=old.grid.path,
            changes={"number": [None, old.number]},
        )
    return new


def pass_revoke(*, household_pass: HouseholdPass, principal) -> HouseholdPass:
    authorize(principal, Capability.ISSUE_PASSES, household_pass.grid.path)
    return move(household_pass, PassStatus.REVOKED, principal=principal, action="pass.revoke")


def _pass_key(token: str = "", number: str = "") -> tuple[str, str]:
    """What identifies the pass shown: the scanned token, else the typed number."""
    token, number = (token or "").strip(), (number or "").strip().upper()
    if token:
        return ("token", token)
    if number:
        return ("number", number)
    raise DomainError("pass_required", _("Scan the pass or type its number."), field="number")


# A typed number finds the active pass, else the newest revoked one (to say it is revoked).
ACTIVE_FIRST = (F("revoked_at").desc(nulls_first=True), "-issued_at")


def _passes_by_key(keys: Iterable[tuple[str, str]], checkpoint: Checkpoint) -> dict[tuple[str, str], HouseholdPass]:
    """The passes shown at the gate, by `_pass_key`, in two queries: only passes this checkpoint
    serves (its compound's, for a household of its compound). A pass of another compound is not
    found here, exactly like a number that was never issued, so the answer to it carries nothing
    of that household and nothing is written about it (pass numbers are sequential: a gate must
    not be a way to read the city)."""
    keys = set(keys)
    found: dict[tuple[str, str], HouseholdPass] = {}
    hashes = {_token_hash(value): value for kind, value in keys if kind == "token"}
    numbers = [value for kind, value in keys if kind == "number"]
    related = ("household__grid", "grid")
    served = _served_passes(checkpoint.grid.path)
    if hashes:
        for household_pass in served.filter(token_hash__in=list(hashes)).select_related(*related):
            found[("token", hashes[household_pass.token_hash])] = household_pass
    if numbers:
        rows = served.filter(number__in=numbers).select_related(*related).order_by(*ACTIVE_FIRST)
        for household_pass in rows:
            found.setdefault(("number", household_pass.number), household_pass)
    return found


def _served_passes(path: str):
    """The passes the checkpoint of the grid at `path` serves: its compound's, of a household of
    its compound."""
    return HouseholdPass.objects.in_subtree(path).filter(subtree_q("household__grid__path", path))


class Choices(Conflict):
    """What was typed matches several passes or households of this checkpoint's compound: the
    guard taps the right one. `choices` are (value to send again, label) pairs."""

    def __init__(self, code: str, message, *, field: str, choices: list[tuple[str, str]], params=None):
        super().__init__(code, message, field=field, params=params)
        self.choices = choices


CHOICES_SHOWN = 12


def _pass_by_short_number(typed: str, checkpoint: Checkpoint) -> HouseholdPass | None:
    """The valid pass of this checkpoint whose number ends with what was typed ("0001" for
    JZXC-HYL-09-0001), when there is one; several: `Choices`; none: None. Only the compound's own
    passes are looked at, so nothing of another compound can be found or listed this way."""
    rows = list(
        _served_passes(checkpoint.grid.path)
        .filter(revoked_at__isnull=True, number__endswith=typed)
        .select_related("household__grid", "grid")
        .order_by("number")[: CHOICES_SHOWN + 1]
    )
    if len(rows) <= 1:
        return rows[0] if rows else None
    raise Choices(
        "pass_ambiguous",
        _("Several passes of this checkpoint end in %(typed)s: tap the right one."),
        params={"typed": typed},
        field="number",
        choices=[(p.number, f"{p.number} · {p.household.address}") for p in rows[:CHOICES_SHOWN]],
    )


def visited_household_find(*, checkpoint: Checkpoint, text: str, principal) -> Household:
    """The household a visitor visits, as a guard types it: its pass number (or the number's last
    digits), its address, building-unit-room ("1-1-301") or unit-room ("1-301"). Only households
    of the checkpoint's compound are looked at; several matches: `Choices`; none: NotFound (and
    a typed miss, throttled like pass numbers)."""
    _open_checkpoint(checkpoint, principal)
    typed = unicodedata.normalize("NFKC", text or "").strip()
    if not typed:
        raise DomainError(
            "visiting_required", _("Type the address or the pass number of the household visited."), field="visiting"
        )
    households = (
        Household.objects.in_subtree(checkpoint.grid.path).filter(archived_at__isnull=True).select_related("grid")
    )
    found: list[Household] = []
    exact = _passes_by_key([("number", typed.upper())], checkpoint).get(("number", typed.upper()))
    if exact is not None and exact.revoked_at is None:
        found = [exact.household]
    if not found:
        found = list(households.filter(address=typed)[: CHOICES_SHOWN + 1])
    building_unit_room = re.fullmatch(r"(\d+)-(\d+-\d+)", typed)
    if not found and building_unit_room:
        building, number = building_unit_room.groups()
        found = [h for h in households.filter(number=number) if _is_building(h.grid, int(building))]
    if not found:
        found = list(households.filter(number=typed).order_by("grid__path")[: CHOICES_SHOWN + 1])
    if not found and len(typed) >= 2:
        found = list(households.filter(address__icontains=typed).order_by("grid__path", "number")[: CHOICES_SHOWN + 1])
    if not found and typed.isdigit():
        try:
            short = _pass_by_short_number(typed, checkpoint)
        except Choices as several:
            raise Choices(
                "household_ambiguous",
                _("Several households of this compound match: tap the one visited."),
                field="visiting",
                choices=several.choices,
            ) from None
        found = [short.household] if short is not None else []
    if not found:
        _typed_misses(guard=_guard(principal), count=1, checkpoint=checkpoint, principal=principal)
        raise NotFound(
            "visiting_not_found",
            _("No household of this compound matches: type its address, e.g. 1-301, or its pass number."),
            field="visiting",
        )
    if len(found) == 1:
        return found[0]
    passes = dict(
        HouseholdPass.objects.filter(household__in=found, revoked_at__isnull=True).values_list("household_id", "number")
    )
    raise Choices(
        "household_ambiguous",
        _("Several households of this compound match: tap the one visited."),
        field="visiting",
        # Sent again as its pass number (unique), else its address.
        choices=[(passes.get(h.pk, h.address), h.address) for h in found[:CHOICES_SHOWN]],
    )


def _is_building(grid, n: int) -> bool:
    """Whether a building grid is building `n` of its compound ("…3号楼", "3栋", code "…-B03")."""
    return bool(re.search(rf"(^|\D){n}(号楼|栋|幢)$", grid.name) or re.search(rf"-B0*{n}$", grid.code))


def _pass_not_found(key: tuple[str, str]) -> NotFound:
    """The one answer for a pass this checkpoint does not serve, whether it was never issued or
    belongs to another compound: it says nothing about any household."""
    field = "token" if key[0] == "token" else "number"
    return NotFound("pass_not_found", _("Not a pass of this checkpoint: check the number or scan again."), field=field)


def _typed_misses(*, guard, count: int, checkpoint: Checkpoint, principal) -> None:
    """Count pass numbers a guard typed that matched no pass of the checkpoint, in the cache
    (settings.GATE_TYPED_MISS_LIMIT per GATE_TYPED_MISS_WINDOW_SECONDS). A miss while the guard
    is already at the limit is refused (429); scans that match a pass of the checkpoint are not
    counted and always go through. The moment a guard goes over the limit is audited at the
    guard's own checkpoint (without the numbers typed)."""
    if count <= 0:
        return
    limit, window = settings.GATE_TYPED_MISS_LIMIT, settings.GATE_TYPED_MISS_WINDOW_SECONDS
    key = f"gates:typed-misses:{guard.pk}"
    cache.add(key, 0, timeout=window)  # the window starts at the first miss
    try:
        after = cache.incr(key, count)
    except ValueError:  # expired between add and incr
        cache.set(key, count, timeout=window)
        after = count
    before = after - count
    if before <= limit < after:
        audit.record(
            principal=principal,
            action="gate.typed_misses",
            obj=checkpoint,
            grid_path=checkpoint.grid.path,
            changes={"misses": [None, after], "limit": [None, limit]},
        )
    if before >= limit:
        raise Throttled(
            "typed_pass_misses",
            _("Too many pass numbers that are not of this checkpoint: wait a minute, or scan the card."),
            field="number",
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- the gate


@dataclass
class GateAnswer:
    passage: Passage
    codes: list[tuple[str, str]]  # (name, colour) of the household's members
    repeated: bool = False


def _suspension_checks(prefix: str) -> list[tuple[str, object]]:
    """Why a household may not go out, each as (reason, a boolean expression on the household at
    OuterRef(prefix + "…")), the first that holds wins: home quarantine, then what other apps add
    ("exit_suspensions": the emergency response's closed epidemic point). As expressions, every
    reason is asked in the same query as the pass or the households."""
    quarantined = ControlOrder.objects.filter(
        person__household=OuterRef(f"{prefix}pk"), status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
    )
    checks = [(RefusalReason.QUARANTINE, Exists(quarantined))]
    checks += [check(prefix) for check in extensions.get("exit_suspensions")]
    return checks


@functools.cache
def _suspension_reasons() -> list[str]:
    """The reasons of `_suspension_checks`, in its order (the apps' extensions are fixed once loaded)."""
    return [reason for reason, _ in _suspension_checks("")]


def _with_suspensions(queryset, checks):
    return queryset.annotate(**{f"suspension_{i}": expression for i, (_, expression) in enumerate(checks)})


def _suspension_of(row, checks) -> str:
    return next((reason for i, (reason, _) in enumerate(checks) if getattr(row, f"suspension_{i}")), "")


def exit_suspensions(household_ids: Iterable[int]) -> dict[int, str]:
    """Why each household may not go out ("" when it may), in one query."""
    ids = set(household_ids)
    if not ids:
        return {}
    checks = _suspension_checks("")
    rows = _with_suspensions(Household.objects.filter(pk__in=ids).only("pk"), checks)
    return {row.pk: _suspension_of(row, checks) for row in rows}


def _open_checkpoint(checkpoint: Checkpoint, principal) -> None:
    authorize(principal, Capability.GUARD_GATE, checkpoint.grid.path)
    if not checkpoint.is_open:
        raise DomainError("checkpoint_closed", RefusalReason.CHECKPOINT_CLOSED.label)


def _guard(principal):
    """The guard a passage is recorded by: the user at the gate."""
    guard = user_of(principal)
    if guard is None:
        raise ValueError("a passage is recorded by a user at the gate, not by the system alone")
    return guard


def _direction(value) -> str:
    if value not in Direction.values:
        raise DomainError("direction", _("Choose in or out."), field="direction")
    return str(value)


def _temperature(value) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_temperature(value, field="temperature")


def _temperature_taken(checkpoint: Checkpoint, direction: str, value) -> None:
    """Coming in without a temperature only where the checkpoint's policy allows it."""
    if direction == Direction.IN and value is None and checkpoint.temperature_required:
        raise DomainError(
            "temperature_required",
            _("Take the temperature: nobody comes in here without it."),
            field="temperature",
        )


# A visitor may not visit a household that may not go out: the reason, said for a visit.
VISIT_REFUSALS = {
    RefusalReason.QUARANTINE: RefusalReason.VISIT_QUARANTINE,
    RefusalReason.EPIDEMIC_POINT: RefusalReason.VISIT_EPIDEMIC_POINT,
}


def _refusal(household_pass: HouseholdPass, *, direction: str, value, at, threshold, suspension: str) -> str:
    """Why this pass may not go this way here ("" when it may); `suspension` is why its household
    may not go out (`exit_suspensions`), asked only for a way out."""
    # A pass revoked after an offline passage was still good when it was shown.
    # Only passes the checkpoint serves come here (`_passes_by_key`): a pass of another compound
    # is answered as not found, and RefusalReason.WRONG_CHECKPOINT is left to rows of before.
    if household_pass.revoked_at is not None and household_pass.revoked_at <= at:
        return RefusalReason.REVOKED
    if value is not None and value >= threshold:
        return RefusalReason.FEVER
    if direction == Direction.OUT:
        return suspension
    return ""


def _repeats(same_way: Iterable[Passage], at: dt.datetime) -> Passage | None:
    """The passage a scan at `at` repeats: the latest of the same pass the same way within 60 s
    before it, else the earliest within 60 s after (an offline phone's late passage repeats only
    one near it). Preferring the one before gives a resent batch the answers it got first."""
    before = [p for p in same_way if at - DOUBLE_SCAN <= p.at <= at]
    if before:
        return max(before, key=lambda p: p.at)
    after = [p for p in same_way if at < p.at <= at + DOUBLE_SCAN]
    return min(after, key=lambda p: p.at) if after else None


_PASSAGE_COLUMNS = columns(Passage)


def _near_rows(*, household_pass_id: int, direction: str, since: dt.datetime, until: dt.datetime):
    near = Passage.objects.filter(
        household_pass_id=household_pass_id, direction=direction, at__gte=since, at__lte=until
    )
    return near.values_list(*_PASSAGE_COLUMNS)


# A repeated scan (a second guard, a double tap) reads this: compiled once.
_NEAR = CompiledRead(Passage, _near_rows, numbers=("household_pass_id",), moments=("since", "until"))


def _near(household_pass_id: int, direction: str, at: dt.datetime) -> list[Passage]:
    """The passages of the pass the same way within 60 s either side of `at`."""
    rows = _NEAR(
        household_pass_id=household_pass_id, direction=direction, since=at - DOUBLE_SCAN, until=at + DOUBLE_SCAN
    )
    return [instance(Passage, **dict(zip(_PASSAGE_COLUMNS, row, strict=True))) for row in rows]


def _member_codes(*, household_id: int):
    members = Person.objects.current().filter(household_id=household_id).order_by("pk")
    return members.values_list("name", "code_facts__facts")


# Every scan reads these two: compiled once (a scan's ORM work cost more than its queries).
_MEMBER_CODES = CompiledRead(Person, _member_codes, numbers=("household_id",))


def _codes(household_id: int) -> list[tuple[str, str]]:
    """(name, colour) of the household's members, in one query: the codes' facts are stored with
    each person (`health.codes`), the colour derived from them under the current rules."""
    return [(name, derive(facts or []).colour) for name, facts in _MEMBER_CODES(household_id=household_id)]


# What a scan reads of the pass it locks: the pass, its household (the address a refusal's alert
# shows) and the household's grid, and the pass's own grid.
_GATE_PASS_PARTS = (
    (HouseholdPass, "", ["id", "household_id", "grid_id", "number", "revoked_at"]),
    (Household, "household__", ["id", "address", "grid_id"]),
    (GridNode, "household__grid__", ["id", "path"]),
    (GridNode, "grid__", ["id", "path"]),
)


def _gate_pass_rows(*, path: str, out: bool, fever: bool, **match):
    rows = _served_passes(path).filter(**match)
    checks = _suspension_checks("household__") if out else []
    rows = _with_suspensions(rows, checks)
    extra = [f"suspension_{i}" for i in range(len(checks))]
    if fever:
        rows = rows.annotate(fever_threshold=Subquery(MonitoringPolicy.objects.filter(pk=1).values("fever_threshold")))
        extra.append("fever_threshold")
    rows = rows.order_by(*ACTIVE_FIRST) if "number" in match else rows.order_by("pk")
    return rows.select_for_update(of=("self",)).values_list(*selected(_GATE_PASS_PARTS), *extra)[:1]


_GATE_PASS = CompiledRead(HouseholdPass, _gate_pass_rows, numbers=("pk",))


def _pass_at_gate(checkpoint: Checkpoint, direction: str, fever: bool, **match) -> HouseholdPass | None:
    """The pass shown, found, locked and checked in one query: only a pass this checkpoint serves
    (`_served_passes`), with its household and grid; for a way out, why its household may not go
    out (`suspension`); with a temperature, the fever threshold. The lock serialises scans of one
    pass (the double-scan rule)."""
    out = direction == Direction.OUT
    rows = _GATE_PASS(path=checkpoint.grid.path, out=out, fever=fever, **match)
    if not rows:
        return None
    (household_pass, household, household_grid, grid), extra = instances(rows[0], _GATE_PASS_PARTS)
    household.grid = household_grid
    household_pass.household, household_pass.grid = household, grid
    reasons = _suspension_reasons() if out else []
    household_pass.suspension = next((reason for reason, held in zip(reasons, extra, strict=False) if held), "")
    household_pass.fever_threshold = extra[-1] if fever else None
    return household_pass


def _match(key: tuple[str, str]) -> dict:
    kind, value = key
    return {"token_hash": _token_hash(value)} if kind == "token" else {"number": value}


def gate_scan(
    *,
    checkpoint: Checkpoint,
    direction: str,
    temperature=None,
    token: str = "",
    number: str = "",
    principal,
    now: dt.datetime | None = None,
) -> GateAnswer:
    """Scan or type a pass: one passage (a double scan within 60 s by any guard is the same one),
    allowed or refused with the reason; a refusal and a fever raise alerts."""
    now = now or timezone.now()
    _open_checkpoint(checkpoint, principal)
    guard = _guard(principal)
    direction = _direction(direction)
    key = _pass_key(token, number)
    value = _temperature(temperature)
    answer = None
    with transaction.atomic():
        fever = value is not None
        household_pass = _pass_at_gate(checkpoint, direction, fever, **_match(key))
        if household_pass is None and key[0] == "number":
            short = _pass_by_short_number(key[1], checkpoint)  # may answer with choices
            if short is not None:
                household_pass = _pass_at_gate(checkpoint, direction, fever, pk=short.pk)
        if household_pass is not None:
            _temperature_taken(checkpoint, direction, value)
            threshold = getattr(household_pass, "fever_threshold", None)
            if fever and threshold is None:  # no policy row yet: made with its defaults
                threshold = policy().fever_threshold
            answer = _scan_record(household_pass, checkpoint, direction, value, threshold, guard, principal, now)
    if answer is None:
        if key[0] == "number":
            _typed_misses(guard=guard, count=1, checkpoint=checkpoint, principal=principal)
        raise _pass_not_found(key)
    return GateAnswer(answer.passage, _codes(household_pass.household_id), repeated=answer.repeated)


def _scan_record(household_pass, checkpoint, direction, value, threshold, guard, principal, now) -> GateAnswer:
    """The passage of a locked pass: the one it repeats within 60 s, else a new one, allowed or
    refused (a refusal alerts at once), and its audit record."""
    reason = _refusal(
        household_pass,
        direction=direction,
        value=value,
        at=now,
        threshold=threshold,
        suspension=getattr(household_pass, "suspension", ""),
    )
    passage = _passage(checkpoint, guard, direction, value, reason, now, household_pass=household_pass)
    if not _insert_unless_repeated(passage):
        repeated = _repeats(_near(household_pass.pk, direction, now), now)
        if repeated is not None:
            repeated.household_pass = household_pass  # the pass it was found by: the answer's number, not reread
        return GateAnswer(repeated, [], repeated=True)
    if reason:
        _gate_alerts([(passage, household_pass.household)], principal=principal, now=now)
    # Last in the transaction: the audit chain's head is locked from here to the commit.
    audit.record(
        principal=principal,
        action="passage.record",
        obj=passage,
        grid_path=checkpoint.grid.path,
        changes={
            "checkpoint": [None, checkpoint.pk],
            "household_pass": [None, household_pass.pk],
            "direction": [None, direction],
            "verdict": [None, passage.verdict],
            "reason": [None, reason],
        },
    )
    return GateAnswer(passage, [])


def _passage(checkpoint, guard, direction: str, value, reason: str, at, **who) -> Passage:
    """A passage (not saved) at the checkpoint's grid, refused when there is a reason; `who` is
    the household pass or the visitor (and an offline row's client id)."""
    return Passage(
        checkpoint=checkpoint,
        grid=checkpoint.grid,
        direction=direction,
        temperature=value,
        verdict=Verdict.REFUSED if reason else Verdict.ALLOWED,
        reason=reason,
        guard=guard,
        at=at,
        **who,
    )


def _insert_unless_repeated(passage: Passage) -> bool:
    """Write the passage unless one of the same pass the same way lies within 60 s (a double
    scan), in one statement: INSERT … SELECT … WHERE NOT EXISTS … RETURNING id. The lock on the
    pass makes the check and the write one step. False when nothing was written."""
    ops = connection.ops
    fields = {
        "checkpoint_id": passage.checkpoint_id,
        "grid_id": passage.grid_id,
        "household_pass_id": passage.household_pass_id,
        "direction": passage.direction,
        "temperature": ops.adapt_decimalfield_value(passage.temperature, 3, 1),
        "verdict": passage.verdict,
        "reason": passage.reason,
        "guard_id": passage.guard_id,
        "at": ops.adapt_datetimefield_value(passage.at),
    }
    window = [ops.adapt_datetimefield_value(passage.at + step) for step in (-DOUBLE_SCAN, DOUBLE_SCAN)]
    q = ops.quote_name
    table = q(Passage._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(map(q, fields))}) SELECT {', '.join(['%s'] * len(fields))} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {q('household_pass_id')} = %s AND {q('direction')} = %s "
        f"AND {q('at')} >= %s AND {q('at')} <= %s) RETURNING {q('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*fields.values(), passage.household_pass_id, passage.direction, *window])
        row = cursor.fetchone()
    if row is None:
        return False
    passage.pk = row[0]
    passage._state.adding = False
    return True


def _gate_alerts(refused: list[tuple[Passage, Household]], *, principal, now) -> None:
    """A refusal at the gate alerts the household's liaison at once. It follows from the guard's
    scan, so the system raises it for the guard (docs/architecture.md "Principals", "Cascades")."""
    liaisons: dict[int, object] = {}
    alerts = []
    for passage, household in refused:
        if household.pk not in liaisons:
            members = list(Person.objects.current().filter(household=household).select_related("grid")[:1])
            liaisons[household.pk] = liaison_for(members[0]) if members else None
        alerts.append(
            NewAlert(
                kind=AlertKind.FEVER if passage.reason == RefusalReason.FEVER else AlertKind.GATE_REFUSAL,
                dedup_key=f"gate:{passage.pk}",
                grid_id=household.grid_id,
                grid_path=household.grid.path,
                owner_id=getattr(liaisons[household.pk], "pk", None),
                severity=Severity.URGENT,
                detail={
                    "checkpoint": str(passage.checkpoint),
                    "reason": passage.reason,
                    "value": str(passage.temperature) if passage.temperature is not None else "",
                    "household": household.address,
                    "at": timezone.localtime(passage.at).isoformat(),
                },
            )
        )
    alerts_raise(principal=system("system:gate", {Capability.HANDLE_ALERTS}, cause=principal), now=now, alerts=alerts)


@dataclass(frozen=True)
class _VisitorChecked:
    """A visitor's registration, checked: what is stored, and the verdict at the gate."""

    name: str
    reason: str
    direction: str
    id_number: str
    phone_number: object
    value: Decimal | None
    refusal: str


def _visitor_checked(
    checkpoint: Checkpoint, *, name, phone, id_number, visiting: Household, reason, direction, temperature
) -> _VisitorChecked:
    if compound_path(visiting.grid.path) != checkpoint.grid.path:
        raise DomainError("visiting_unknown", _("The household visited is not in this compound."), field="visiting")
    if not (name or "").strip() or not (reason or "").strip():
        raise DomainError("visitor_required", _("Give the visitor's name and the reason."), field="name")
    direction = _direction(direction)
    number = parse_id_number(id_number).number
    phone_number = parse_phone(phone)
    value = _temperature(temperature)
    _temperature_taken(checkpoint, direction, value)
    refusal = ""
    if value is not None and value >= policy().fever_threshold:
        refusal = RefusalReason.FEVER
    elif direction == Direction.IN:
        # Like the household's own exit: no visit into home quarantine or a closed epidemic point.
        suspension = exit_suspensions([visiting.pk]).get(visiting.pk, "")
        refusal = VISIT_REFUSALS.get(suspension, suspension)
    return _VisitorChecked(name.strip()[:50], reason.strip()[:100], direction, number, phone_number, value, refusal)


def _visitor_write(
    checkpoint: Checkpoint, guard, visiting: Household, checked: _VisitorChecked, *, at, principal, client_id=None
) -> Passage:
    """The visitor and their passage, audited (inside the caller's transaction)."""
    visitor = Visitor.objects.create(
        name=checked.name,
        phone_sealed=seal(checked.phone_number.number),
        phone_masked=checked.phone_number.masked,
        id_number_sealed=seal(checked.id_number),
        id_number_hash=lookup_hash("id", checked.id_number),
        id_number_masked=checked.id_number[:6] + "*" * 8 + checked.id_number[-4:],
        visiting=visiting,
        reason=checked.reason,
    )
    passage = _passage(
        checkpoint, guard, checked.direction, checked.value, checked.refusal, at, visitor=visitor, client_id=client_id
    )
    passage.save()
    audit.record(
        principal=principal,
        action="visitor.register",
        object_type="people.household",
        object_id=str(visiting.pk),
        grid_path=visiting.grid.path,
        changes={"visitor": [None, visitor.pk], "verdict": [None, passage.verdict]},
    )
    return passage


def visitor_register(
    *,
    checkpoint: Checkpoint,
    name: str,
    phone: str,
    id_number: str,
    visiting: Household,
    reason: str,
    direction: str = Direction.IN,
    temperature=None,
    principal,
) -> GateAnswer:
    """来访人员: register a visitor at the gate, with the passage they make."""
    _open_checkpoint(checkpoint, principal)
    guard = _guard(principal)
    checked = _visitor_checked(
        checkpoint,
        name=name,
        phone=phone,
        id_number=id_number,
        visiting=visiting,
        reason=reason,
        direction=direction,
        temperature=temperature,
    )
    with transaction.atomic():
        passage = _visitor_write(checkpoint, guard, visiting, checked, at=timezone.now(), principal=principal)
        if checked.refusal:
            _gate_alerts([(passage, visiting)], principal=principal, now=passage.at)
    return GateAnswer(passage, [])


# ---------------------------------------------------------------- passages recorded offline


@dataclass(frozen=True)
class PassageRow:
    """One passage as a guard's phone recorded it while offline, with the id the phone gave it."""

    client_id: object
    direction: str
    at: dt.datetime | None
    token: str = ""
    number: str = ""
    temperature: object = None


@dataclass(frozen=True)
class PassageResult:
    """What became of one row: the passage that answers for it, and how it came to."""

    index: int
    client_id: uuid.UUID
    passage: Passage
    outcome: str  # BatchOutcome

    @property
    def repeated(self) -> bool:
        return self.outcome != BatchOutcome.STORED


@dataclass(frozen=True)
class BatchResult:
    results: list[PassageResult]

    @property
    def stored(self) -> int:
        return sum(1 for r in self.results if r.outcome == BatchOutcome.STORED)

    @property
    def repeated(self) -> int:
        return len(self.results) - self.stored

    @property
    def refused(self) -> int:
        return sum(1 for r in self.results if r.outcome == BatchOutcome.STORED and r.passage.verdict == Verdict.REFUSED)


@dataclass
class _Checked:
    """A row that passed the checks and was not stored before."""

    index: int
    client_id: uuid.UUID
    direction: str
    at: dt.datetime
    value: Decimal | None
    key: tuple[str, str]
    household_pass: HouseholdPass | None = None


def _as_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _aware(value) -> dt.datetime:
    """The passage time; one without an offset is Asia/Shanghai time."""
    if not isinstance(value, dt.datetime):
        raise DomainError("time_zone", _("Give the time with its time zone."), field="at")
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _row_error(index: int, exc: DomainError) -> dict:
    return {"index": index, **exc.as_dict()}


def _batch_start(checkpoint: Checkpoint, rows: Iterable, principal, most: int, too_large: DomainError):
    """What an offline batch of a gate starts with: the guard's right here, the size, and the
    passages stored before under the batch's client ids (a resent batch is answered by them)."""
    authorize(principal, Capability.GUARD_GATE, checkpoint.grid.path)
    guard = _guard(principal)
    rows = list(rows)
    if len(rows) > most:
        raise too_large
    client_ids = [_as_uuid(row.client_id) for row in rows]
    sent = {c for c in client_ids if c is not None}
    sent_before = {p.client_id: p for p in Passage.objects.filter(client_id__in=sent)}
    return guard, rows, client_ids, sent_before


def passages_record_batch(
    *, checkpoint: Checkpoint, passages: Iterable[PassageRow], principal, now: dt.datetime | None = None
) -> BatchResult:
    """Passages a guard's phone recorded offline, each at its own time. Every row is checked
    first: any bad row refuses the batch, listing every bad row, and nothing is stored. Then all
    are written in one transaction, in time order, so the 60-second double-scan rule sees them as
    the gate did. Each passage keeps the phone's client id: a batch sent again, a minute or a
    week later, stores nothing twice and answers every row with the passage stored for it."""
    too_large = DomainError("batch_too_large", _("At most 5000 passages per batch."), field="passages")
    guard, rows, client_ids, sent_before = _batch_start(checkpoint, passages, principal, BATCH_MAX, too_large)
    now = now or timezone.now()

    # 1. Check every row. A row whose client id was stored before is answered by that passage,
    # whatever its age now; it is checked only for being the same passage.
    errors: list[dict] = []
    answered: dict[int, PassageResult] = {}
    fresh: list[_Checked] = []
    stale: list[_Checked] = []
    for index, (row, client_id) in enumerate(zip(rows, client_ids, strict=True)):
        try:
            if client_id is None:
                raise DomainError("client_id_invalid", _("The client id must be a UUID."), field="client_id")
            direction = _direction(row.direction)
            at = _aware(row.at)
            stored = sent_before.get(client_id)
            if stored is not None:
                if (stored.checkpoint_id, stored.direction, stored.at) != (checkpoint.pk, direction, at):
                    raise _client_id_reused()
                answered[index] = PassageResult(index, client_id, stored, BatchOutcome.RESENT)
                continue
            if at > now + CLOCK_SKEW:
                raise DomainError("at_in_future", _("The passage time is in the future."), field="at")
            key = _pass_key(row.token, row.number)
            if at < now - BATCH_MAX_AGE:
                # Too old to record; but a double scan sent again stored nothing the first time,
                # and the passage it repeated answers for it (below).
                stale.append(_Checked(index, client_id, direction, at, None, key))
                continue
            if not checkpoint.is_open and (checkpoint.closed_at is None or at >= checkpoint.closed_at):
                raise DomainError("checkpoint_closed", RefusalReason.CHECKPOINT_CLOSED.label, field="at")
            value = _temperature(row.temperature)
        except DomainError as exc:
            errors.append(_row_error(index, exc))
            continue
        fresh.append(_Checked(index, client_id, direction, at, value, key))
    passes = _passes_by_key((item.key for item in (*fresh, *stale)), checkpoint)
    for item, recent in _stored_repeats(stale, passes):
        if recent is None:
            errors.append(_row_error(item.index, _too_old()))
        else:
            answered[item.index] = PassageResult(item.index, item.client_id, recent, BatchOutcome.DOUBLE_SCAN)
    first_of: dict[uuid.UUID, _Checked] = {}
    for item in fresh:
        item.household_pass = passes.get(item.key)
        if item.household_pass is None:
            errors.append(_row_error(item.index, _pass_not_found(item.key)))
            continue
        # The same client id twice in a batch is one passage, sent twice: it must say the same.
        first = first_of.setdefault(item.client_id, item)
        if (first.direction, first.at, first.household_pass.pk) != (item.direction, item.at, item.household_pass.pk):
            errors.append(_row_error(item.index, _client_id_reused()))
    # Typed numbers that match no pass of this checkpoint count against the guard's limit, as at
    # the gate; a batch without such rows always goes through.
    typed_misses = sum(1 for item in fresh if item.household_pass is None and item.key[0] == "number")
    _typed_misses(guard=guard, count=typed_misses, checkpoint=checkpoint, principal=principal)
    if errors:
        errors.sort(key=lambda row: row["index"])
        raise RowErrors("passages_rejected", _("Some passages are not valid; none were stored."), rows=errors)

    # 2. Write.
    decided: dict[uuid.UUID, tuple[Passage, str]] = {}
    with transaction.atomic():
        pass_ids = sorted({item.household_pass.pk for item in fresh})
        # Serialise with scans at the gate and with a resend racing this batch (in id order: no deadlock).
        list(HouseholdPass.objects.select_for_update().filter(pk__in=pass_ids).order_by("pk").values_list("pk"))
        raced = {p.client_id: p for p in Passage.objects.filter(client_id__in=[item.client_id for item in fresh])}
        same_way: dict[tuple[int, str], list[Passage]] = defaultdict(list)
        if fresh:
            start, end = min(item.at for item in fresh), max(item.at for item in fresh)
            for p in Passage.objects.filter(
                household_pass_id__in=pass_ids, at__gte=start - DOUBLE_SCAN, at__lte=end + DOUBLE_SCAN
            ):
                same_way[(p.household_pass_id, p.direction)].append(p)
        threshold, new = policy().fever_threshold, []
        going_out = {item.household_pass.household_id for item in fresh if item.direction == Direction.OUT}
        suspended = exit_suspensions(going_out)
        for item in sorted(fresh, key=lambda i: (i.at, i.index)):
            if item.client_id in decided:
                continue
            if item.client_id in raced:
                decided[item.client_id] = (raced[item.client_id], BatchOutcome.RESENT)
                continue
            near = same_way[(item.household_pass.pk, item.direction)]
            recent = _repeats(near, item.at)
            if recent is not None:
                decided[item.client_id] = (recent, BatchOutcome.DOUBLE_SCAN)
                continue
            reason = _refusal(
                item.household_pass,
                direction=item.direction,
                value=item.value,
                at=item.at,
                threshold=threshold,
                suspension=suspended.get(item.household_pass.household_id, ""),
            )
            passage = _passage(
                checkpoint,
                guard,
                item.direction,
                item.value,
                reason,
                item.at,
                household_pass=item.household_pass,
                client_id=item.client_id,
            )
            near.append(passage)
            new.append(passage)
            decided[item.client_id] = (passage, BatchOutcome.STORED)
        try:
            with transaction.atomic():
                bulk_insert(Passage, new)
        except IntegrityError:
            # The same client id sent for another pass at the same moment (the locks above
            # serialise a plain resend): one of the two is wrong, and this one stores nothing.
            raise _client_id_reused() from None
        refused = [(p, p.household_pass.household) for p in new if p.reason]
        if refused:
            # Raised when the batch arrives (the passage time is in the alert): the deadline to
            # answer counts from when anyone could know.
            _gate_alerts(refused, principal=principal, now=now)
        if new:
            # One record per batch, naming every passage it stored: one append to the chain
            # (one lock of its head) however long the batch; the passages themselves say who
            # recorded them, where and when.
            audit.record(
                principal=principal,
                action="passages.record",
                obj=checkpoint,
                grid_path=checkpoint.grid.path,
                changes={
                    "stored": [None, len(new)],
                    "refused": [None, len(refused)],
                    "passages": [None, [p.pk for p in new]],
                },
            )

    # 3. Answer every row, in the order sent; a client id's second row is a resend of its first.
    results, seen = [], set()
    for index, client_id in enumerate(client_ids):
        if index in answered:
            results.append(answered[index])
            continue
        passage, outcome = decided[client_id]
        results.append(PassageResult(index, client_id, passage, BatchOutcome.RESENT if client_id in seen else outcome))
        seen.add(client_id)
    return BatchResult(results)


def _stored_repeats(stale: list[_Checked], passes: dict) -> list[tuple[_Checked, Passage | None]]:
    """For rows too old to record: the stored passage each repeats (a double scan), if any."""
    if not stale:
        return []
    pass_ids = {p.pk for p in (passes.get(item.key) for item in stale) if p is not None}
    start, end = min(item.at for item in stale), max(item.at for item in stale)
    same_way: dict[tuple[int, str], list[Passage]] = defaultdict(list)
    for p in Passage.objects.filter(
        household_pass_id__in=pass_ids, at__gte=start - DOUBLE_SCAN, at__lte=end + DOUBLE_SCAN
    ):
        same_way[(p.household_pass_id, p.direction)].append(p)
    out = []
    for item in stale:
        household_pass = passes.get(item.key)
        near = same_way[(household_pass.pk, item.direction)] if household_pass is not None else []
        out.append((item, _repeats(near, item.at)))
    return out


def _too_old() -> DomainError:
    return DomainError("at_too_old", _("Passages older than 7 days are not accepted."), field="at")


def _client_id_reused() -> Conflict:
    return Conflict("client_id_reused", _("This client id was sent before for another passage."), field="client_id")


# ---------------------------------------------------------------- visitors registered offline

VISITOR_BATCH_MAX = 200


@dataclass(frozen=True)
class VisitorRow:
    """A visitor as a guard's phone registered them while offline, with the id the phone gave the
    registration. The household visited is as the guard typed it (address, "1-301", pass number)."""

    client_id: object
    at: dt.datetime | None
    name: str
    phone: str
    id_number: str
    visiting: str
    reason: str
    direction: str = Direction.IN
    temperature: object = None


def visitors_record_batch(
    *, checkpoint: Checkpoint, visitors: Iterable[VisitorRow], principal, now: dt.datetime | None = None
) -> BatchResult:
    """Visitors a guard's phone registered offline, each at its own time: checked when they
    arrive (the household visited found in the compound, refused into home quarantine or a closed
    epidemic point, as at the gate). Any bad row refuses the batch, listing every bad row, and
    nothing is stored. Each passage keeps the phone's client id: a batch sent again stores no
    visitor twice and answers each row with the passage stored for it; a client id sent before
    for anything else is refused (client_id_reused)."""
    too_large = DomainError("batch_too_large", _("At most 200 visitors per batch."), field="visitors")
    guard, rows, client_ids, sent_before = _batch_start(checkpoint, visitors, principal, VISITOR_BATCH_MAX, too_large)
    now = now or timezone.now()
    errors: list[dict] = []
    answered: dict[int, PassageResult] = {}
    fresh: list[tuple[int, uuid.UUID, dt.datetime, Household, _VisitorChecked]] = []
    first_of: dict[uuid.UUID, int] = {}
    again: dict[int, int] = {}  # a row repeating an earlier row of the batch -> that row's index
    for index, (row, client_id) in enumerate(zip(rows, client_ids, strict=True)):
        try:
            if client_id is None:
                raise DomainError("client_id_invalid", _("The client id must be a UUID."), field="client_id")
            at = _aware(row.at)
            stored = sent_before.get(client_id)
            if stored is not None:
                if stored.visitor_id is None or (stored.checkpoint_id, stored.at) != (checkpoint.pk, at):
                    raise _client_id_reused()
                answered[index] = PassageResult(index, client_id, stored, BatchOutcome.RESENT)
                continue
            if client_id in first_of:
                if rows[first_of[client_id]] != row:
                    raise _client_id_reused()
                again[index] = first_of[client_id]
                continue
            first_of[client_id] = index
            if at > now + CLOCK_SKEW:
                raise DomainError("at_in_future", _("The passage time is in the future."), field="at")
            if at < now - BATCH_MAX_AGE:
                raise _too_old()
            household = visited_household_find(checkpoint=checkpoint, text=row.visiting, principal=principal)
            checked = _visitor_checked(
                checkpoint,
                name=row.name,
                phone=row.phone,
                id_number=row.id_number,
                visiting=household,
                reason=row.reason,
                direction=row.direction,
                temperature=row.temperature,
            )
        except DomainError as exc:
            errors.append(_row_error(index, exc))
            continue
        fresh.append((index, client_id, at, household, checked))
    if errors:
        raise RowErrors("visitors_rejected", _("Some visitors are not valid; none were stored."), rows=errors)

    stored_at: dict[int, Passage] = {}
    with transaction.atomic():
        try:
            with transaction.atomic():
                for index, client_id, at, household, checked in sorted(fresh, key=lambda f: (f[2], f[0])):
                    stored_at[index] = _visitor_write(
                        checkpoint, guard, household, checked, at=at, principal=principal, client_id=client_id
                    )
        except IntegrityError:
            # The same client id stored meanwhile (this batch sent twice at once): nothing of this
            # one is stored; sent again, it is answered by what the other stored.
            raise _client_id_reused() from None
        refused = [(stored_at[index], household) for index, _c, _a, household, checked in fresh if checked.refusal]
        if refused:
            _gate_alerts(refused, principal=principal, now=now)

    results = []
    for index, client_id in enumerate(client_ids):
        if index in answered:
            results.append(answered[index])
        elif index in again:
            results.append(PassageResult(index, client_id, stored_at[again[index]], BatchOutcome.RESENT))
        else:
            results.append(PassageResult(index, client_id, stored_at[index], BatchOutcome.STORED))
    return BatchResult(results)


# ---------------------------------------------------------------- duty roster


def shift_create(
    *, checkpoint: Checkpoint, starts_at: dt.datetime, ends_at: dt.datetime, leader, guards, principal
) -> Shift:
    authorize(principal, Capability.MANAGE_CHECKPOINTS, checkpoint.grid.path)
    if ends_at <= starts_at or ends_at - starts_at > dt.timedelta(hours=24):
        raise DomainError("shift_times", _("A shift ends after it starts and lasts at most 24 hours."), field="ends_at")
    with transaction.atomic():
        shift = Shift.objects.create(
            checkpoint=checkpoint, grid=checkpoint.grid, starts_at=starts_at, ends_at=ends_at, leader=leader
        )
        ShiftGuard.objects.bulk_create([ShiftGuard(shift=shift, user=u) for u in {leader, *guards}])
        audit.record(
            principal=principal,
            action="shift.create",
            obj=shift,
            grid_path=checkpoint.grid.path,
            changes={"starts_at": [None, starts_at.isoformat()], "ends_at": [None, ends_at.isoformat()]},
        )
    return shift


def shift_check(*, shift: Shift, principal, out: bool = False) -> ShiftGuard:
    """A guard on the shift checks in (or out); only those on the shift can."""
    authorize(principal, Capability.GUARD_GATE, shift.grid.path)
    with transaction.atomic():
        attendance = ShiftGuard.objects.select_for_update().filter(shift=shift, user=user_of(principal)).first()
        if attendance is None:
            raise Conflict("not_on_shift", _("You are not on this shift."))
        field = "checked_out_at" if out else "checked_in_at"
        if getattr(attendance, field) is None:
            setattr(attendance, field, timezone.now())
            attendance.save(update_fields=[field])
            audit.record(
                principal=principal,
                action=f"shift.{'check_out' if out else 'check_in'}",
                obj=shift,
                grid_path=shift.grid.path,
            )
    return attendance


def duty_spans(checkpoint_ids, start: dt.datetime, end: dt.datetime) -> dict[int, list[tuple]]:
    """Who is on duty at these checkpoints between `start` and `end`, as (starts_at, ends_at) per
    checkpoint: the guard shifts with someone on them, and what other apps add to the 24-hour
    roster through the "roster_cover" extension point (mobilization: volunteers' 值守 shifts)."""
    ids = list(checkpoint_ids)
    spans: dict[int, list[tuple]] = defaultdict(list)
    for checkpoint_id, starts_at, ends_at in (
        Shift.objects.filter(checkpoint_id__in=ids, starts_at__lt=end, ends_at__gt=start)
        .filter(Exists(ShiftGuard.objects.filter(shift=OuterRef("pk"))))
        .values_list("checkpoint_id", "starts_at", "ends_at")
    ):
        spans[checkpoint_id].append((starts_at, ends_at))
    for checkpoint_id, starts_at, ends_at, _label in roster_cover(ids, start, end):
        spans[checkpoint_id].append((starts_at, ends_at))
    return spans


def roster_cover(checkpoint_ids, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    """What other apps add to these checkpoints' roster ("roster_cover"), as (checkpoint_id,
    starts_at, ends_at, label) in time order: counted in the gaps, listed on the roster page."""
    ids = list(checkpoint_ids)
    rows = [row for cover in extensions.get("roster_cover") for row in cover(checkpoint_ids=ids, start=start, end=end)]
    return sorted(rows, key=lambda row: (row[1], row[0]))


def _gaps(spans: list[tuple], start: dt.datetime, hours: int) -> list[dt.datetime]:
    # An hour is covered when one span holds all of it.
    gaps = []
    for h in range(hours):
        hour = start + dt.timedelta(hours=h)
        if not any(s <= hour and e >= hour + dt.timedelta(hours=1) for s, e in spans):
            gaps.append(hour)
    return gaps


def uncovered_hours(*, checkpoint: Checkpoint, start: dt.datetime, hours: int = 7 * 24) -> list[dt.datetime]:
    """The hours (from `start`, on the hour) when no one is on duty at the checkpoint."""
    start = start.replace(minute=0, second=0, microsecond=0)
    spans = duty_spans([checkpoint.pk], start, start + dt.timedelta(hours=hours))
    return _gaps(spans[checkpoint.pk], start, hours)


def uncovered_checkpoints(*, start: dt.datetime, hours: int = 7 * 24) -> dict[int, str]:
    """The open checkpoints with an hour of the next `hours` (from `start`, on the hour) when no
    one is on duty, by id with their grid's path: the one rule the gate page, the coverage audit
    and the dashboard share (one query for the shifts of all of them)."""
    start = start.replace(minute=0, second=0, microsecond=0)
    checkpoints = dict(Checkpoint.objects.filter(is_open=True).values_list("pk", "grid__path"))
    spans = duty_spans(checkpoints, start, start + dt.timedelta(hours=hours))
    return {pk: path for pk, path in checkpoints.items() if _gaps(spans.get(pk, []), start, hours)}


def checkpoints_with_gaps():
    """Open checkpoints with an uncovered hour in the next 7 days (a coverage gap)."""
    return Checkpoint.objects.filter(pk__in=list(uncovered_checkpoints(start=timezone.now())))


CHECKPOINT_GAP = GapCheck(
    "checkpoint_uncovered",
    _("Checkpoint with an hour of the next 7 days without a guard"),
    checkpoints_with_gaps,
    lambda checkpoint: reverse("gates:checkpoint", args=[checkpoint.pk]),
)
