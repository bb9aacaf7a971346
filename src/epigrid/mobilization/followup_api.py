"""/api/v1/mobilization: the follow-ups after release (visits, 14-day health checks); mounted on
the mobilization router."""

import datetime as dt

from ninja import Router, Schema

from epigrid.core.api import ERRORS, In

from . import followups
from .choices import FollowUpKind, FollowUpStatus
from .models import FollowUp

router = Router(tags=["mobilization"])


class FollowUpOut(Schema):
    id: int
    kind: FollowUpKind
    status: FollowUpStatus
    grid: str
    household_id: int | None
    person_id: int | None
    released_on: dt.date
    due_on: dt.date
    leaders: str
    owner_id: int | None
    done_on: dt.date | None
    note: str

    @staticmethod
    def from_model(f: FollowUp) -> dict:
        return {
            "id": f.pk,
            "kind": f.kind,
            "status": f.status,
            "grid": f.grid.code,
            "household_id": f.household_id,
            "person_id": f.person_id,
            "released_on": f.released_on,
            "due_on": f.due_on,
            "leaders": f.leaders,
            "owner_id": f.owner_id,
            "done_on": f.done_on,
            "note": f.note,
        }


class FollowUpDoneIn(In):
    done_on: dt.date | None = None
    note: str = ""


@router.get(
    "/mobilization/followups",
    response={200: list[FollowUpOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the follow-ups after release (visits by the chain's "
        "leaders, 14-day health checks) of the grids the caller sees. Filter `status` (open, done; default "
        "open). By due date; at most 300; not paged. Reads only: no cascade."
    ),
)
def followup_list(request, status: FollowUpStatus = FollowUpStatus.OPEN):
    return [FollowUpOut.from_model(f) for f in followups.followup_list(user=request.user, status=status.value)[:300]]


@router.post(
    "/mobilization/followups/{pk}/done",
    response={200: FollowUpOut, **ERRORS},
    description=(
        "Who may call: for a visit, a user with `manage_teams` over its grid (community secretary and staff, "
        "grid heads, subdistrict staff, command center); for a health check, `record_health` there (the "
        "medical liaison, grid members); 403 in sight without it, 404 out of sight. `done_on` between the "
        "release and today (400 `done_on_invalid`), a visit needs its `note` (400 `note_required`). Done "
        "once: a retry changes nothing. Audited. No cascade."
    ),
)
def followup_done(request, pk: int, payload: FollowUpDoneIn):
    row = followups.followup_get(user=request.user, pk=pk)
    row = followups.followup_done(followup=row, done_on=payload.done_on, note=payload.note, principal=request.user)
    return FollowUpOut.from_model(row)
