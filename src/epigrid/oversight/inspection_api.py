"""/api/v1/inspections: rounds, findings, rectifications, checklists and scores (督查)."""

import datetime as dt

from django.utils.translation import gettext_lazy as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from epigrid.accounts.models import User
from epigrid.core.api import ERRORS, In, PlanDate, PlanTime, page
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.grids.selectors import grid_node_get

from . import inspections, omissions
from .choices import RectificationStatus, RoundStatus
from .models import Checklist, Finding, InspectionRound, Rectification

router = Router(tags=["inspections"])
INSPECT = Capability.INSPECT
WHO_INSPECTS = "command center, subdistrict staff, community secretary and inspectors"


class ChecklistOut(Schema):
    id: int
    name: str
    grid: str | None
    items: list[str]

    @staticmethod
    def from_model(c: Checklist) -> dict:
        return {"id": c.pk, "name": c.name, "grid": c.grid.code if c.grid else None, "items": c.items}


class ChecklistIn(In):
    name: str
    items: list[str]
    grid: str | None = None


class InspectionFindingOut(Schema):
    id: int
    item: int
    item_text: str
    passed: bool
    note: str
    has_photo: bool
    rectification_id: int | None

    @staticmethod
    def from_model(f: Finding) -> dict:
        rectification = getattr(f, "rectification", None) if hasattr(f, "rectification") else None
        return {
            "id": f.pk,
            "item": f.item,
            "item_text": f.item_text,
            "passed": f.passed,
            "note": f.note,
            "has_photo": bool(f.photo),
            "rectification_id": rectification.pk if rectification else None,
        }


class RoundOut(Schema):
    id: int
    grid: str
    checklist_id: int
    items: list[str]
    planned_for: dt.date
    inspector_id: int
    status: RoundStatus
    score: int | None
    completed_at: dt.datetime | None

    @staticmethod
    def from_model(r: InspectionRound) -> dict:
        return {
            "id": r.pk,
            "grid": r.grid.code,
            "checklist_id": r.checklist_id,
            "items": r.items,
            "planned_for": r.planned_for,
            "inspector_id": r.inspector_id,
            "status": r.status,
            "score": r.score,
            "completed_at": r.completed_at,
        }


class RoundDetailOut(RoundOut):
    findings: list[InspectionFindingOut]


class RoundPage(Schema):
    items: list[RoundOut]
    next_offset: int | None
    total: int | None = None


class RoundIn(In):
    grid: str
    checklist_id: int
    planned_for: PlanDate


class FindingIn(In):
    item: int
    passed: bool
    note: str = ""


class RectificationOut(Schema):
    id: int
    finding_id: int
    inspection_id: int
    grid: str
    owner_id: int
    request: str
    due_at: dt.datetime
    status: RectificationStatus
    answer: str
    answered_at: dt.datetime | None
    recheck_note: str
    closed_at: dt.datetime | None
    has_evidence_photo: bool

    @staticmethod
    def from_model(r: Rectification) -> dict:
        return {
            "has_evidence_photo": bool(r.answer_photo),
            "id": r.pk,
            "finding_id": r.finding_id,
            "inspection_id": r.finding.inspection_id,
            "grid": r.grid.code,
            "owner_id": r.owner_id,
            "request": r.request,
            "due_at": r.due_at,
            "status": r.status,
            "answer": r.answer,
            "answered_at": r.answered_at,
            "recheck_note": r.recheck_note,
            "closed_at": r.closed_at,
        }


class RectificationPage(Schema):
    items: list[RectificationOut]
    next_offset: int | None
    total: int | None = None


class RectificationIn(In):
    owner_id: int
    request: str
    due_at: PlanTime


class AnswerIn(In):
    answer: str


class RecheckIn(In):
    passed: bool
    note: str = ""


class ScoreOut(Schema):
    grid: str
    grid_name: str
    month: dt.date
    rounds: int
    average: float


@router.get(
    "/inspections",
    response={200: RoundPage, **ERRORS},
    summary="Inspection rounds in the caller's grids",
    description=(
        "Who may call: any user with a role; answers the rounds over grids the caller sees. Filters: `grid` "
        "(a subtree, 404 `grid_not_found` out of sight), `status`. Planned first, then by date descending; "
        "`next_offset` pages. Reads only: no cascade."
    ),
)
def round_list(
    request,
    grid: str | None = None,
    status: RoundStatus | None = None,
    limit: int = 50,
    offset: int = 0,
    with_total: bool = False,
):
    rows = InspectionRound.objects.restrict(request.user).select_related("grid")
    if grid:
        rows = rows.in_subtree(grid_node_get(user=request.user, code=grid).path)
    if status:
        rows = rows.filter(status=status)
    items, next_offset, total = page(
        rows.order_by("-status", "-planned_for", "-id"), limit=limit, offset=offset, with_total=with_total
    )
    return {"items": [RoundOut.from_model(r) for r in items], "next_offset": next_offset, "total": total}


@router.post(
    "/inspections",
    response={201: RoundOut, **ERRORS},
    summary="Plan an inspection round",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over `grid` (403 in sight without it, 404 out "
        "of sight). The checklist must be the shared one or one of a grid containing `grid` (400 "
        "`checklist_not_here`); the round keeps a copy of its items. The caller is the inspector. Audited. "
        "No cascade."
    ),
)
def round_plan(request, payload: RoundIn):
    grid = grid_node_get(user=request.user, code=payload.grid, capability=INSPECT)
    checklist = inspections.checklist_get(user=request.user, pk=payload.checklist_id)
    inspection = inspections.round_plan(
        grid=grid, checklist=checklist, planned_for=payload.planned_for, principal=request.user
    )
    return Status(201, RoundOut.from_model(inspection))


@router.get(
    "/inspections/{int:pk}",
    response={200: RoundDetailOut, **ERRORS},
    description=(
        "Who may call: a user who sees the round's grid (else 404 `inspection_not_found`). The round with its "
        "findings, one per item recorded. Reads only: no cascade."
    ),
)
def round_detail(request, pk: int):
    inspection = inspections.round_get(user=request.user, pk=pk)
    findings = inspection.findings.select_related("rectification").order_by("item")
    return {**RoundOut.from_model(inspection), "findings": [InspectionFindingOut.from_model(f) for f in findings]}


@router.post(
    "/inspections/{int:pk}/findings",
    response={200: InspectionFindingOut, **ERRORS},
    summary="Record one item's result",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over the round's grid (403 in sight without "
        "it, 404 out of sight). `item` is the index in the round's items (400 `finding_item`); a failed item "
        "needs a `note` (400 `finding_note`). Recorded again, it replaces the earlier result; a completed "
        "round is 409 `inspection_completed`. The photo: POST /inspections/findings/{id}/photo. Audited. No cascade."
    ),
)
def finding_record(request, pk: int, payload: FindingIn):
    inspection = inspections.round_get(user=request.user, pk=pk, capability=INSPECT)
    finding = inspections.finding_record(
        inspection=inspection, item=payload.item, passed=payload.passed, note=payload.note, principal=request.user
    )
    return InspectionFindingOut.from_model(finding)


@router.post(
    "/inspections/findings/{int:pk}/photo",
    response={200: InspectionFindingOut, **ERRORS},
    summary="Attach a photo to a finding (from a phone)",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over the finding's grid (403 in sight without "
        "it, 404 out of sight). Multipart, the image in `photo`: a JPEG, PNG or WebP image of at most "
        "UPLOAD_IMAGE_MAX_BYTES (10 MB by default) and UPLOAD_IMAGE_MAX_PIXELS; anything else is 400 "
        "(`photo_type`, `photo_too_large`, `photo_damaged`, `photo_payload`) and nothing is stored. The image "
        "is re-encoded (no EXIF, no GPS position) and kept private; a second photo replaces the first. A "
        "completed round is 409 `inspection_completed`. Audited. No cascade."
    ),
)
def finding_photo(request, pk: int, photo: File[UploadedFile]):
    finding = inspections.finding_get(user=request.user, pk=pk, capability=INSPECT)
    return InspectionFindingOut.from_model(
        inspections.finding_photo_attach(finding=finding, photo=photo, principal=request.user)
    )


@router.post(
    "/inspections/rectifications/{int:pk}/evidence",
    response={200: RectificationOut, **ERRORS},
    summary="Attach the evidence photo to a rectification (its owner, from a phone)",
    description=(
        "Who may call: the rectification's owner only (another user who sees it: 403 "
        "`rectification_not_owner`; out of sight: 404). Multipart, the image in `photo`, checked as for a "
        "finding's photo (400 `photo_type`, `photo_too_large`, `photo_damaged`, `photo_payload`; nothing is "
        "stored). While open or answered; a closed one is 409 `rectification_closed`. Then answer it "
        "(POST /rectifications/{id}/answer). Audited. No cascade."
    ),
)
def rectification_evidence(request, pk: int, photo: File[UploadedFile]):
    rectification = inspections.rectification_get(user=request.user, pk=pk)
    return RectificationOut.from_model(
        inspections.rectification_evidence_attach(rectification=rectification, photo=photo, principal=request.user)
    )


@router.post(
    "/inspections/{int:pk}/complete",
    response={200: RoundOut, **ERRORS},
    summary="Complete a round (scores it)",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over the round's grid (403 in sight without "
        "it, 404 out of sight). Every item needs a finding first (400 `inspection_incomplete`); the score is "
        "the share of items passed, in %. Completing a completed round changes nothing. Audited. No cascade."
    ),
)
def round_complete(request, pk: int):
    inspection = inspections.round_get(user=request.user, pk=pk, capability=INSPECT)
    return RoundOut.from_model(inspections.round_complete(inspection=inspection, principal=request.user))


@router.post(
    "/inspections/findings/{int:pk}/rectification",
    response={201: RectificationOut, **ERRORS},
    summary="Order the rectification of a failed item",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over the finding's grid (403 in sight without "
        "it, 404 out of sight). Only a failed item (400 `finding_passed`); the owner must be active staff who "
        "see the grid (400 `owner_not_here`); the deadline in the future (400 `due_in_past`). One per "
        "finding: ordering again answers the existing one. Audited. Cascade: past its deadline unanswered, "
        "the sweep raises a `rectification_overdue` alert to the community."
    ),
)
def rectification_order(request, pk: int, payload: RectificationIn):
    finding = inspections.finding_get(user=request.user, pk=pk, capability=INSPECT)
    owner = User.objects.filter(pk=payload.owner_id, is_active=True).first()
    rectification = inspections.rectification_order(
        finding=finding, owner=owner, request=payload.request, due_at=payload.due_at, principal=request.user
    )
    return Status(201, RectificationOut.from_model(rectification))


@router.get(
    "/rectifications",
    response={200: RectificationPage, **ERRORS},
    summary="Rectifications: one's own to answer and those of one's grids",
    description=(
        "Who may call: any user with a role; answers the rectifications the caller owns and those over grids "
        "the caller sees. Filter: `status`. Open first, then by deadline; `next_offset` pages. Reads only: "
        "no cascade."
    ),
)
def rectification_list(
    request, status: RectificationStatus | None = None, limit: int = 50, offset: int = 0, with_total: bool = False
):
    rows = inspections.rectifications_for(request.user)
    if status:
        rows = rows.filter(status=status)
    items, next_offset, total = page(rows, limit=limit, offset=offset, with_total=with_total)
    return {"items": [RectificationOut.from_model(r) for r in items], "next_offset": next_offset, "total": total}


@router.post(
    "/rectifications/{int:pk}/answer",
    response={200: RectificationOut, **ERRORS},
    summary="Answer a rectification (its owner)",
    description=(
        "Who may call: the rectification's owner only (another user who sees it: 403 "
        "`rectification_not_owner`; out of sight: 404). An open one becomes answered, for the inspector's "
        "re-check; answering again while answered changes nothing, a closed one is 400. The evidence photo: "
        "POST /inspections/rectifications/{id}/evidence. Audited. No cascade."
    ),
)
def rectification_answer(request, pk: int, payload: AnswerIn):
    rectification = inspections.rectification_get(user=request.user, pk=pk)
    return RectificationOut.from_model(
        inspections.rectification_answer(rectification=rectification, answer=payload.answer, principal=request.user)
    )


@router.post(
    "/rectifications/{int:pk}/recheck",
    response={200: RectificationOut, **ERRORS},
    summary="Re-check an answered rectification",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over its grid (403 in sight without it, 404 "
        "out of sight). `passed: true` closes it (final); `passed: false` sends it back to the owner and "
        "needs a `note`. Only an answered one moves (400 `rectification_transition` otherwise). Audited. "
        "No cascade."
    ),
)
def rectification_recheck(request, pk: int, payload: RecheckIn):
    rectification = inspections.rectification_get(user=request.user, pk=pk, capability=INSPECT)
    return RectificationOut.from_model(
        inspections.rectification_recheck(
            rectification=rectification, passed=payload.passed, note=payload.note, principal=request.user
        )
    )


@router.get(
    "/inspections/checklists",
    response={200: list[ChecklistOut], **ERRORS},
    summary="Inspection checklists",
    description=(
        "Who may call: any user with a role; answers the shared checklists and those of grids the caller "
        "sees. Not paged. Reads only: no cascade."
    ),
)
def checklist_list(request):
    return [ChecklistOut.from_model(c) for c in inspections.checklists_for(request.user)]


@router.post(
    "/inspections/checklists",
    response={201: ChecklistOut, **ERRORS},
    summary="Create a checklist",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over `grid`; without `grid` (a shared "
        "checklist), over every root of the grid tree (else 403). 1–40 different items (400 "
        "`checklist_items`). Audited. No cascade."
    ),
)
def checklist_create(request, payload: ChecklistIn):
    grid = grid_node_get(user=request.user, code=payload.grid, capability=INSPECT) if payload.grid else None
    checklist = inspections.checklist_save(name=payload.name, items=payload.items, grid=grid, principal=request.user)
    return Status(201, ChecklistOut.from_model(checklist))


@router.post(
    "/inspections/checklists/{int:pk}",
    response={200: ChecklistOut, **ERRORS},
    summary="Edit a checklist",
    description=(
        f"Who may call: a user with `inspect` ({WHO_INSPECTS}) over the checklist's grid, or over every root "
        "for a shared one (403 otherwise; 404 `checklist_not_found` for one out of sight). Rounds already "
        "planned keep their items. Audited. No cascade."
    ),
)
def checklist_update(request, pk: int, payload: ChecklistIn):
    checklist = inspections.checklist_get(user=request.user, pk=pk)
    if (payload.grid or None) != (checklist.grid.code if checklist.grid else None):
        raise DomainError("checklist_grid", _("A checklist keeps its grid."), field="grid")
    return ChecklistOut.from_model(
        inspections.checklist_save(
            checklist=checklist, name=payload.name, items=payload.items, grid=checklist.grid, principal=request.user
        )
    )


@router.get(
    "/inspections/scores",
    response={200: list[ScoreOut], **ERRORS},
    summary="Inspection scores per grid and month",
    description=(
        "Who may call: any user with a role; the average score of completed rounds per grid and month, over "
        "grids the caller sees. Reads only: no cascade."
    ),
)
def scores(request):
    rows = inspections.grid_scores(InspectionRound.objects.restrict(request.user))
    return [
        {
            "grid": r["grid__code"],
            "grid_name": r["grid__name"],
            "month": r["month"].date() if isinstance(r["month"], dt.datetime) else r["month"],
            "rounds": r["rounds"],
            "average": float(r["average"]),
        }
        for r in rows
    ]


# ---------------------------------------------------------------- 漏报/瞒报


class OmissionOut(Schema):
    id: int
    kind: str
    grid: str
    person_id: int | None
    household_id: int | None
    evidence: dict
    found_at: dt.datetime
    status: str
    reviewed_at: dt.datetime | None
    review_note: str

    @staticmethod
    def from_model(f) -> dict:
        return {
            "id": f.pk,
            "kind": f.kind,
            "grid": f.grid.code,
            "person_id": f.person_id,
            "household_id": f.household_id,
            "evidence": f.evidence,
            "found_at": f.found_at,
            "status": f.status,
            "reviewed_at": f.reviewed_at,
            "review_note": f.review_note,
        }


class OmissionPage(Schema):
    items: list[OmissionOut]
    next_offset: int | None


class OmissionReviewIn(In):
    confirmed: bool
    note: str


@router.get(
    "/omission-findings",
    response={200: OmissionPage, **ERRORS},
    summary="Possible omissions and concealment (漏报/瞒报) found by the checks",
    description=(
        "Who may call: a user with `inspect`; answers the findings in the grids where the caller inspects "
        "(others: an empty list), newest first; filters `kind`, `status` (open, confirmed, dismissed); "
        "`next_offset` pages. Reads only: no cascade."
    ),
)
def omission_list(request, kind: str = "", status: str = "", limit: int = 50, offset: int = 0):
    rows = omissions.findings_for(request.user, capability=Capability.INSPECT).order_by("-found_at", "-id")
    if kind:
        rows = rows.filter(kind=kind)
    if status:
        rows = rows.filter(status=status)
    items, next_offset, _total = page(rows, limit=limit, offset=offset)
    return {"items": [OmissionOut.from_model(f) for f in items], "next_offset": next_offset}


@router.post(
    "/omission-findings/{int:pk}/review",
    response={200: OmissionOut, **ERRORS},
    description=(
        "Who may call: a user with `inspect` over the finding's grid; 403 in sight without it, 404 out of sight "
        "(`finding_not_found`). `confirmed` true: an omission (follow it up in an inspection); false: "
        "dismissed. `note` is required (400 `note_required`). Final: the same verdict again changes nothing, "
        "the other is refused. Audited. "
        "No cascade."
    ),
)
def omission_review(request, pk: int, payload: OmissionReviewIn):
    finding = omissions.finding_get(user=request.user, pk=pk)
    reviewed = omissions.finding_review(
        finding=finding, confirmed=payload.confirmed, note=payload.note, principal=request.user
    )
    return OmissionOut.from_model(omissions.finding_get(user=request.user, pk=reviewed.pk))
