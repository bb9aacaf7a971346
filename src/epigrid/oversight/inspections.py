"""Inspections (督查, docs/method.md): plan a round over a grid node with a checklist, record a
finding per item on a phone, order rectification of what failed, and close it on re-check.
Every write authorizes at the round's grid (`inspect`), except the answer, which is the owner's
own; each is atomic and audited, and a retry changes nothing."""

import datetime as dt

from django.db import transaction
from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, EscalationLevel
from epigrid.alerts.services import NewAlert, alerts_raise, level_owners
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.core.scoping import VIEW, allows, authorize, system, user_of
from epigrid.core.transitions import move
from epigrid.core.uploads import verified_photo
from epigrid.grids.models import GridNode

from .choices import RectificationStatus, RoundStatus
from .models import Checklist, Finding, InspectionRound, Rectification

INSPECT = Capability.INSPECT
MAX_ITEMS = 40
TEXT = 300


def _text(value, *, field: str, required: bool = False, limit: int = TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError(f"{field}_required", _("Fill in this field."), field=field)
    if len(value) > limit:
        raise DomainError(f"{field}_too_long", _("At most %(n)s characters."), field=field, params={"n": limit})
    return value


# ---------------------------------------------------------------- checklists


def checklists_for(principal, grid: GridNode | None = None):
    """The templates a principal may plan with: the shared ones and those of their grids (for a
    round at `grid`: those whose grid contains it)."""
    rows = Checklist.objects.filter(archived_at__isnull=True)
    if grid is None:
        rows = rows.filter(Q(grid__isnull=True) | Q(pk__in=Checklist.objects.restrict(principal).values("pk")))
    else:  # the caller loaded `grid` with the right to inspect it
        rows = rows.filter(Q(grid__isnull=True) | Q(grid__path__in=ancestor_paths(grid.path)))
    return rows.select_related("grid").order_by("grid__path", "name")


def ancestor_paths(path: str, steplen: int = GridNode.steplen) -> list[str]:
    return [path[:i] for i in range(steplen, len(path) + 1, steplen)]


def _items(items) -> list[str]:
    if isinstance(items, str):
        items = items.splitlines()
    cleaned = [_text(item, field="items", limit=100) for item in items or []]
    cleaned = [item for item in cleaned if item]
    if not cleaned or len(cleaned) > MAX_ITEMS or len(set(cleaned)) != len(cleaned):
        raise DomainError(
            "checklist_items",
            _("Give 1–%(n)s different items, one per line."),
            field="items",
            params={"n": MAX_ITEMS},
        )
    return cleaned


def _authorize_checklist(principal, checklist_grid: GridNode | None) -> None:
    if checklist_grid is not None:
        authorize(principal, INSPECT, checklist_grid.path)
        return
    # A shared template is everyone's: only who inspects at the top of every tree edits it.
    roots = list(GridNode.objects.get_root_nodes().values_list("path", flat=True))
    if not roots or not all(allows(principal, INSPECT, path) for path in roots):
        raise Forbidden("forbidden", _("Your role does not allow this here."))


def checklist_save(*, name: str, items, grid: GridNode | None, principal, checklist: Checklist | None = None):
    """Create a template, or edit one (rounds already planned keep the items they were planned with)."""
    name = _text(name, field="name", required=True, limit=100)
    items = _items(items)
    _authorize_checklist(principal, checklist.grid if checklist else grid)
    with transaction.atomic():
        if checklist is None:
            checklist = Checklist.objects.create(name=name, items=items, grid=grid)
            changes = {"name": [None, name], "items": [None, items]}
        else:
            checklist = Checklist.objects.select_for_update().get(pk=checklist.pk)
            changes = audit.diff({"name": checklist.name, "items": checklist.items}, {"name": name, "items": items})
            if not changes:
                return checklist
            checklist.name, checklist.items = name, items
            checklist.save(update_fields=["name", "items"])
        audit.record(
            principal=principal,
            action="checklist.save",
            obj=checklist,
            grid_path=checklist.grid.path if checklist.grid else "",
            changes=changes,
        )
    return checklist


# ---------------------------------------------------------------- rounds


def round_plan(*, grid: GridNode, checklist: Checklist, planned_for: dt.date, principal) -> InspectionRound:
    authorize(principal, INSPECT, grid.path)
    if checklist.archived_at is not None or (
        checklist.grid is not None and not grid.path.startswith(checklist.grid.path)
    ):
        raise DomainError("checklist_not_here", _("This checklist is not used here."), field="checklist")
    inspector = user_of(principal)
    if inspector is None:
        raise DomainError("inspector_required", _("A round is planned by the inspector who goes."))
    with transaction.atomic():
        inspection = InspectionRound.objects.create(
            grid=grid, checklist=checklist, items=list(checklist.items), planned_for=planned_for, inspector=inspector
        )
        audit.record(
            principal=principal,
            action="inspection.plan",
            obj=inspection,
            grid_path=grid.path,
            changes={"checklist": [None, checklist.pk], "date": [None, planned_for.isoformat()]},
        )
    return inspection


def finding_record(
    *, inspection: InspectionRound, item: int, passed: bool, note: str = "", photo=None, principal, now=None
) -> Finding:
    """One item's result; recorded again while the round is open, it replaces the earlier one."""
    authorize(principal, INSPECT, inspection.grid.path)
    note = _text(note, field="note")
    if not isinstance(item, int) or not 0 <= item < len(inspection.items):
        raise DomainError("finding_item", _("No such item on this round's checklist."), field="item")
    if not passed and not note:
        raise DomainError("finding_note", _("Say what was wrong."), field="note")
    stored_photo = verified_photo(photo) if photo else None
    now = now or timezone.now()
    with transaction.atomic():
        locked = InspectionRound.objects.select_for_update().get(pk=inspection.pk)
        if locked.status != RoundStatus.PLANNED:
            raise Conflict("inspection_completed", _("This round is completed: its findings are final."))
        finding = Finding.objects.filter(inspection=locked, item=item).first()
        before = {"passed": finding.passed, "note": finding.note} if finding else {"passed": None, "note": None}
        if finding is None:
            finding = Finding(inspection=locked, grid_id=locked.grid_id, item=item)
        finding.passed, finding.note = bool(passed), note
        finding.recorded_by, finding.recorded_at = user_of(principal), now
        if stored_photo is not None:
            finding.photo = stored_photo
        finding.save()
        changes = audit.diff(before, {"passed": finding.passed, "note": note})
        changes["item"] = [None, locked.items[item]]
        audit.record(
            principal=principal,
            action="inspection.finding",
            obj=locked,
            grid_path=inspection.grid.path,
            changes=changes,
        )
    return finding


def finding_photo_attach(*, finding: Finding, photo, principal) -> Finding:
    """A photo of what the inspector found (sent from a phone after the item's result; a second
    photo replaces the first). The photo is verified and re-encoded first (`verified_photo`: a
    JPEG, PNG or WebP image within the size limits), so a refused file writes nothing."""
    authorize(principal, INSPECT, finding.grid.path)
    if not photo:
        raise DomainError("photo_required", _("Attach the photo."), field="photo")
    stored = verified_photo(photo)
    with transaction.atomic():
        locked = InspectionRound.objects.select_for_update().get(pk=finding.inspection_id)
        if locked.status != RoundStatus.PLANNED:
            raise Conflict("inspection_completed", _("This round is completed: its findings are final."))
        current = Finding.objects.select_for_update().get(pk=finding.pk)
        replaced = bool(current.photo)
        current.photo = stored
        current.save(update_fields=["photo"])
        audit.record(
            principal=principal,
            action="inspection.photo",
            obj=locked,
            grid_path=finding.grid.path,
            changes={"item": [None, locked.items[current.item]], "photo": ["replaced" if replaced else None, "added"]},
        )
    return current


def round_complete(*, inspection: InspectionRound, principal, now=None) -> InspectionRound:
    """Close the round: every item has a finding; the score is the share of items passed."""
    authorize(principal, INSPECT, inspection.grid.path)
    now = now or timezone.now()
    with transaction.atomic():
        locked = InspectionRound.objects.select_for_update().get(pk=inspection.pk)
        if locked.status == RoundStatus.COMPLETED:
            return locked
        findings = list(locked.findings.all())
        if len(findings) != len(locked.items):
            raise DomainError(
                "inspection_incomplete",
                _("Record every item first: %(done)s of %(total)s done."),
                params={"done": len(findings), "total": len(locked.items)},
            )
        passed = sum(1 for f in findings if f.passed)
        locked.status, locked.completed_at = RoundStatus.COMPLETED, now
        locked.score = round(100 * passed / len(locked.items))
        locked.save(update_fields=["status", "completed_at", "score"])
        audit.record(
            principal=principal,
            action="inspection.complete",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"status": [RoundStatus.PLANNED, RoundStatus.COMPLETED], "score": [None, locked.score]},
        )
    inspection.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return locked


# ---------------------------------------------------------------- rectifications


def rectification_order(
    *, finding: Finding, owner, request: str, due_at: dt.datetime, principal, now=None
) -> Rectification:
    """整改: a failed finding's owner must answer by `due_at`. One per finding (a retry returns it)."""
    authorize(principal, INSPECT, finding.grid.path)
    request = _text(request, field="request", required=True)
    now = now or timezone.now()
    if finding.passed:
        raise DomainError("finding_passed", _("Only a failed item is rectified."), field="finding")
    if due_at <= now:
        raise DomainError("due_in_past", _("The deadline must be in the future."), field="due_at")
    if owner is None or not owner.is_active or not allows(owner, VIEW, finding.grid.path):
        raise DomainError("owner_not_here", _("The owner must be staff of this grid."), field="owner")
    with transaction.atomic():
        existing = Rectification.objects.filter(finding=finding).first()
        if existing is not None:
            return existing
        rectification = Rectification.objects.create(
            finding=finding, grid_id=finding.grid_id, owner=owner, request=request, due_at=due_at
        )
        audit.record(
            principal=principal,
            action="rectification.order",
            obj=rectification,
            grid_path=finding.grid.path,
            changes={"owner": [None, owner.pk], "due_at": [None, due_at.isoformat()], "request": [None, request]},
        )
    return rectification


def rectification_answer(*, rectification: Rectification, answer: str, photo=None, principal) -> Rectification:
    """The owner says what was done, with a photo as evidence where there is one."""
    if user_of(principal) is None or user_of(principal).pk != rectification.owner_id:
        if not allows(principal, VIEW, rectification.grid.path):
            raise NotFound("rectification_not_found", _("No such rectification."))
        raise Forbidden("rectification_not_owner", _("Only its owner answers a rectification."))
    answer = _text(answer, field="answer", required=True)
    fields = {"answer": answer, "recheck_note": ""}
    if photo:
        fields["answer_photo"] = verified_photo(photo)
    return move(rectification, RectificationStatus.ANSWERED, principal=principal, fields=fields)


def rectification_evidence_attach(*, rectification: Rectification, photo, principal) -> Rectification:
    """The owner's evidence photo, sent from a phone before (or with) the answer; while the
    rectification is open or awaiting its re-check (a closed one is final: 409). Verified like
    every photo; a refused file writes nothing."""
    if user_of(principal) is None or user_of(principal).pk != rectification.owner_id:
        if not allows(principal, VIEW, rectification.grid.path):
            raise NotFound("rectification_not_found", _("No such rectification."))
        raise Forbidden("rectification_not_owner", _("Only its owner answers a rectification."))
    if not photo:
        raise DomainError("photo_required", _("Attach the photo."), field="photo")
    stored = verified_photo(photo)
    with transaction.atomic():
        locked = Rectification.objects.select_for_update().get(pk=rectification.pk)
        if locked.status == RectificationStatus.CLOSED:
            raise Conflict("rectification_closed", _("This rectification is closed."))
        replaced = bool(locked.answer_photo)
        locked.answer_photo = stored
        locked.save(update_fields=["answer_photo"])
        audit.record(
            principal=principal,
            action="rectification.evidence",
            obj=locked,
            grid_path=rectification.grid.path,
            changes={"photo": ["replaced" if replaced else None, "added"]},
        )
    return locked


def rectification_recheck(*, rectification: Rectification, passed: bool, note: str = "", principal) -> Rectification:
    """The inspector's re-check: closed, or back to the owner with the reason."""
    authorize(principal, INSPECT, rectification.grid.path)
    note = _text(note, field="note", required=not passed)
    target = RectificationStatus.CLOSED if passed else RectificationStatus.OPEN
    return move(rectification, target, principal=principal, fields={"recheck_note": note})


# ---------------------------------------------------------------- the sweep and the scores

OVERDUE = system("system:rectification-watch", {Capability.HANDLE_ALERTS})


def rectifications_overdue(*, now: dt.datetime | None = None) -> int:
    """An open rectification past its deadline alerts the level above its owner (the community)
    once; the sweep marks it, so a rerun raises nothing new."""
    now = now or timezone.now()
    with transaction.atomic():
        late = list(
            Rectification.objects.select_for_update(of=("self",))
            .filter(status=RectificationStatus.OPEN, due_at__lt=now, escalated_at__isnull=True)
            .select_related("grid")[:1000]
        )
        if not late:
            return 0
        # Marked first: the alerts' audit append holds the chain's head, so it comes last.
        Rectification.objects.filter(pk__in=[r.pk for r in late]).update(escalated_at=now)
        owners = level_owners([(EscalationLevel.COMMUNITY, r.grid.path) for r in late])
        alerts = []
        for r in late:
            alerts.append(
                NewAlert(
                    kind=AlertKind.RECTIFICATION_OVERDUE,
                    dedup_key=f"rectification:{r.pk}",
                    grid_id=r.grid_id,
                    grid_path=r.grid.path,
                    owner_id=owners[(EscalationLevel.COMMUNITY, r.grid.path)],
                    level=EscalationLevel.COMMUNITY,
                    detail={"rectification": r.pk, "due_at": r.due_at.isoformat(), "request": r.request},
                )
            )
        alerts_raise(alerts=alerts, principal=OVERDUE, now=now)
    return len(late)


OVERDUE_SWEEP = ("rectifications_overdue", rectifications_overdue)


def grid_scores(rounds):
    """Scores per grid and month over completed rounds: [(grid code, grid name, month, rounds, average)]."""
    return (
        rounds.filter(status=RoundStatus.COMPLETED)
        .annotate(month=TruncMonth("completed_at"))
        .values("grid__code", "grid__name", "month")
        .annotate(rounds=Count("id"), average=Avg("score"))
        .order_by("grid__code", "month")
    )


# ---------------------------------------------------------------- reading


def round_get(*, user, pk, capability: str = VIEW) -> InspectionRound:
    return InspectionRound.objects.select_related("grid", "inspector", "checklist").get_for(
        user, capability, pk=pk, missing=NotFound("inspection_not_found", _("No such inspection round."))
    )


def finding_get(*, user, pk, capability: str = VIEW) -> Finding:
    return Finding.objects.select_related("grid", "inspection").get_for(
        user, capability, pk=pk, missing=NotFound("finding_not_found", _("No such finding."))
    )


def rectification_get(*, user, pk, capability: str = VIEW) -> Rectification:
    """The owner always sees their own rectification; others as the grid allows."""
    missing = NotFound("rectification_not_found", _("No such rectification."))
    rows = Rectification.objects.select_related("grid", "owner", "finding__inspection")
    own = user_of(user)
    if capability == VIEW and own is not None:
        found = rows.filter(pk=pk, owner_id=own.pk).first() if str(pk).isdigit() else None
        if found is not None:
            return found
    return rows.get_for(user, capability, pk=pk, missing=missing)


def checklist_get(*, user, pk) -> Checklist:
    rows = checklists_for(user)
    found = rows.filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise NotFound("checklist_not_found", _("No such checklist."))
    return found


def rectifications_for(user):
    """The rectifications a user sees: their own to answer, and those of their grids."""
    own = user_of(user)
    visible = Rectification.objects.restrict(user)
    if own is not None:
        visible = Rectification.objects.filter(Q(pk__in=visible.values("pk")) | Q(owner_id=own.pk))
    return visible.select_related("grid", "owner", "finding__inspection").order_by("status", "due_at", "id")
