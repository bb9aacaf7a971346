"""/api/v1/mobilization: volunteers, their teams and the wish loop (泉心愿), mounted on the
mobilization router (mobilization/api.py)."""

import datetime as dt

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, In, PlanTime
from epigrid.core.errors import NotFound
from epigrid.core.rates import PathTokenThrottle
from epigrid.grids.selectors import grid_node_get
from epigrid.people import selectors as people_selectors

from . import volunteers as vol
from .choices import ShiftKind, VolunteerSource, VolunteerStatus, WishSource, WishStatus
from .models import Volunteer, VolunteerShift, VolunteerTeam, Wish

router = Router(tags=["mobilization"])

MANAGERS = "`manage_teams` (command center, subdistrict staff, community secretary and staff)"
DOERS = "`do_tasks` (grid members, grid heads, building heads, community and subdistrict staff, command center)"


class VolunteerTeamOut(Schema):
    id: int
    name: str
    grid: str
    description: str
    approved: int

    @staticmethod
    def from_model(t: VolunteerTeam) -> dict:
        approved = getattr(t, "approved", None)
        if approved is None:
            approved = t.members.filter(status=VolunteerStatus.APPROVED).count()
        return {"id": t.pk, "name": t.name, "grid": t.grid.code, "description": t.description, "approved": approved}


class VolunteerOut(Schema):
    id: int
    name: str
    grid: str
    team_id: int | None
    team_name: str
    person_id: int | None
    phone_masked: str
    skills: str
    availability: str
    source: VolunteerSource
    status: VolunteerStatus
    decided_at: dt.datetime | None

    @staticmethod
    def from_model(v: Volunteer) -> dict:
        return {
            "id": v.pk,
            "name": v.name,
            "grid": v.grid.code,
            "team_id": v.team_id,
            "team_name": v.team.name if v.team_id else "",
            "person_id": v.person_id,
            "phone_masked": v.phone_masked,
            "skills": v.skills,
            "availability": v.availability,
            "source": v.source,
            "status": v.status,
            "decided_at": v.decided_at,
        }


class ClaimableOut(Schema):
    id: int
    name: str
    team_name: str
    skills: str


class WishOut(Schema):
    id: int
    text: str
    household_id: int
    household_address: str
    grid: str
    source: WishSource
    status: WishStatus
    volunteer_id: int | None
    volunteer_name: str
    created_at: dt.datetime
    claimed_at: dt.datetime | None
    done_at: dt.datetime | None
    thanked_at: dt.datetime | None
    thanks: str

    @staticmethod
    def from_model(w: Wish) -> dict:
        return {
            "id": w.pk,
            "text": w.text,
            "household_id": w.household_id,
            "household_address": w.household.address,
            "grid": w.grid.code,
            "source": w.source,
            "status": w.status,
            "volunteer_id": w.volunteer_id,
            "volunteer_name": w.volunteer.name if w.volunteer_id else "",
            "created_at": w.created_at,
            "claimed_at": w.claimed_at,
            "done_at": w.done_at,
            "thanked_at": w.thanked_at,
            "thanks": w.thanks,
        }


class WishDetailOut(WishOut):
    claimable: list[ClaimableOut]


class VolunteerTeamIn(In):
    grid: str
    name: str
    description: str = ""


class VolunteerIn(In):
    grid: str
    person_id: int
    skills: str = ""
    availability: str = ""
    team_id: int | None = None


class VolunteerDecisionIn(In):
    team_id: int | None = None
    note: str = ""


class SignupLinkOut(Schema):
    url: str
    token: str


class VolunteerSignupIn(In):
    name: str
    phone: str
    skills: str = ""
    availability: str = ""
    team_id: int | None = None


class VolunteerSignupOut(Schema):
    status: VolunteerStatus
    community: str


class WishIn(In):
    household_id: int
    text: str
    person_id: int | None = None


class WishClaimIn(In):
    volunteer_id: int


class WishNoteIn(In):
    note: str = ""


def _team(user, pk: int | None) -> VolunteerTeam | None:
    return vol.team_get(user=user, pk=pk, capability=vol.MANAGE) if pk is not None else None


@router.get(
    "/mobilization/volunteer-teams",
    response={200: list[VolunteerTeamOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the volunteer teams of the communities the caller sees, "
        "with their count of approved volunteers. Ordered by community and name; not paged. Reads only: no "
        "cascade."
    ),
)
def team_list(request):
    return [VolunteerTeamOut.from_model(t) for t in vol.team_list(user=request.user)]


@router.post(
    "/mobilization/volunteer-teams",
    response={201: VolunteerTeamOut, **ERRORS},
    summary="Set up a volunteer team of a community",
    description=(
        f"Who may call: a user with {MANAGERS} over the community `grid` (403 in sight without it, 404 out of "
        "sight, `grid_not_found`); a grid that is not a community is 400 `grid_not_community`. The same name "
        "again is answered as it is. Audited. No cascade."
    ),
)
def team_create(request, payload: VolunteerTeamIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    team = vol.team_create(grid=grid, name=payload.name, description=payload.description, principal=request.user)
    return Status(201, VolunteerTeamOut.from_model(team))


@router.get(
    "/mobilization/volunteers",
    response={200: list[VolunteerOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the volunteers of the communities the caller sees (phones "
        "masked). Filter: `status` (pending, approved, refused). Pending first; at most 500; not paged. Reads "
        "only: no cascade."
    ),
)
def volunteer_list(request, status: VolunteerStatus | None = None):
    rows = vol.volunteer_list(user=request.user, status=status.value if status else "")[:500]
    return [VolunteerOut.from_model(v) for v in rows]


@router.post(
    "/mobilization/volunteers",
    response={201: VolunteerOut, **ERRORS},
    summary="Register a resident as a volunteer (pending)",
    description=(
        f"Who may call: a user with {MANAGERS} over the community `grid` (403 in sight without it, 404 out of "
        "sight); the person must be in the caller's sight (404 `person_not_found`) and live in that community "
        "(400 `volunteer_not_resident`). Lands as pending, to approve like a sign-up; the same person again is "
        "answered as they are. Audited. No cascade."
    ),
)
def volunteer_add(request, payload: VolunteerIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    person = people_selectors.person_get(user=request.user, pk=payload.person_id)
    volunteer = vol.volunteer_add(
        grid=grid,
        person=person,
        skills=payload.skills,
        availability=payload.availability,
        team=_team(request.user, payload.team_id),
        principal=request.user,
    )
    return Status(201, VolunteerOut.from_model(volunteer))


def _decide(request, pk: int, payload: VolunteerDecisionIn, approve: bool):
    volunteer = vol.volunteer_get(user=request.user, pk=pk, capability=vol.MANAGE)
    volunteer = vol.volunteer_decide(
        volunteer=volunteer,
        approve=approve,
        team=_team(request.user, payload.team_id),
        note=payload.note,
        principal=request.user,
    )
    return VolunteerOut.from_model(vol.volunteer_get(user=request.user, pk=volunteer.pk))


@router.post(
    "/mobilization/volunteers/{pk}/approve",
    response={200: VolunteerOut, **ERRORS},
    summary="Approve a pending volunteer (into a team)",
    description=(
        f"Who may call: a user with {MANAGERS} over the volunteer's community (403 in sight without it, 404 out "
        "of sight, `volunteer_not_found`). Only a pending volunteer is decided (400 `volunteer_transition` "
        "otherwise; approving an approved one changes nothing); `team_id` a team of the same community. Only "
        "an approved volunteer may be given a wish. Audited. No cascade."
    ),
)
def volunteer_approve(request, pk: int, payload: VolunteerDecisionIn):
    return _decide(request, pk, payload, approve=True)


@router.post(
    "/mobilization/volunteers/{pk}/refuse",
    response={200: VolunteerOut, **ERRORS},
    summary="Refuse a pending volunteer",
    description=(
        f"Who may call: a user with {MANAGERS} over the volunteer's community (403 in sight without it, 404 out "
        "of sight, `volunteer_not_found`). Only a pending volunteer is decided (400 `volunteer_transition` "
        "otherwise). Audited. No cascade."
    ),
)
def volunteer_refuse(request, pk: int, payload: VolunteerDecisionIn):
    return _decide(request, pk, payload, approve=False)


@router.get(
    "/mobilization/volunteer-signup-link",
    response={200: SignupLinkOut, **ERRORS},
    summary="The community's public sign-up link (its QR)",
    description=(
        f"Who may call: a user with {MANAGERS} over the community `grid` (403 in sight without it, 404 out of "
        "sight). The URL of the public sign-up form and its signed token (the page `mobilization:signup_qr` "
        "renders it as a QR). Reads only: no cascade."
    ),
)
def signup_link(request, grid: str):
    node = grid_node_get(user=request.user, code=grid, capability=vol.MANAGE)
    token = vol.signup_token(node)
    return {"url": request.build_absolute_uri(reverse("mobilization:signup", args=[token])), "token": token}


@router.post(
    "/mobilization/signup/{token}",
    auth=None,
    throttle=vol.SIGNUP_THROTTLE,
    response={201: VolunteerSignupOut, **ERRORS},
    summary="Sign up as a volunteer (public, by a community's link)",
    description=(
        "Who may call: anyone holding a community's sign-up token (no account; 404 `not_found` for a token not "
        "signed by us). Lands as a pending volunteer for the community to verify; the same phone again while "
        "pending or approved is answered the same. Rate-limited per client address (429). Audited as "
        "`system:volunteer-signup`. No cascade."
    ),
)
def volunteer_signup(request, token: str, payload: VolunteerSignupIn):
    grid = vol.signup_grid(token)
    if grid is None:
        raise NotFound("not_found", _("Not found."))
    team = VolunteerTeam.objects.filter(grid=grid, pk=payload.team_id).first() if payload.team_id else None
    volunteer = vol.volunteer_signup(
        grid=grid,
        name=payload.name,
        phone=payload.phone,
        skills=payload.skills,
        availability=payload.availability,
        team=team,
    )
    return Status(201, {"status": volunteer.status, "community": grid.name})


@router.get(
    "/mobilization/wishes",
    response={200: list[WishOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the wishes of the households the caller sees. Filter: "
        "`status`; without it the open and claimed ones. Oldest first; at most 300; not paged. Reads only: no "
        "cascade."
    ),
)
def wish_list(request, status: WishStatus | None = None):
    rows = vol.wish_list(user=request.user, status=status.value if status else "", open_only=status is None)
    return [WishOut.from_model(w) for w in rows[:300]]


@router.post(
    "/mobilization/wishes",
    response={201: WishOut, **ERRORS},
    summary="Post a wish for a household",
    description=(
        f"Who may call: a user with {DOERS} over the household's grid (403 in sight without it, 404 out of "
        "sight, `household_not_found`). The same open wish of the household again is answered as it is. "
        "Audited on the household too. No cascade (an open wish past `EPIGRID_WISH_OPEN_ALERT_HOURS` alerts "
        "the community from the sweep)."
    ),
)
def wish_post(request, payload: WishIn):
    household = people_selectors.household_get(user=request.user, pk=payload.household_id)
    person = people_selectors.person_get(user=request.user, pk=payload.person_id) if payload.person_id else None
    wish = vol.wish_post(household=household, text=payload.text, person=person, principal=request.user)
    return Status(201, WishOut.from_model(wish))


@router.get(
    "/mobilization/wishes/{pk}",
    response={200: WishDetailOut, **ERRORS},
    description=(
        "Who may call: a user who sees the wish's household (else 404 `wish_not_found`). The wish, and the "
        "approved volunteers of its community it may be given to (names, teams and skills; no phones). Reads "
        "only: no cascade."
    ),
)
def wish_detail(request, pk: int):
    wish = vol.wish_get(user=request.user, pk=pk)
    claimable = [
        {"id": v.pk, "name": v.name, "team_name": v.team.name if v.team_id else "", "skills": v.skills}
        for v in vol.claimable_volunteers(wish)
    ]
    return {**WishOut.from_model(wish), "claimable": claimable}


def _wish(request, pk: int) -> Wish:
    return vol.wish_get(user=request.user, pk=pk, capability=vol.DO)


def _out(request, wish: Wish):
    return WishOut.from_model(vol.wish_get(user=request.user, pk=wish.pk))


@router.post(
    "/mobilization/wishes/{pk}/claim",
    response={200: WishOut, **ERRORS},
    summary="Record that an approved volunteer took the wish",
    description=(
        f"Who may call: a user with {DOERS} over the wish's grid (403 in sight without it, 404 out of sight). "
        "`volunteer_id` an approved volunteer of the wish's community (404 `volunteer_not_found` otherwise; "
        "pending or refused: 409 `volunteer_not_approved`); a wish another volunteer has is 409 "
        "`wish_claimed`; one done or cancelled 400 `wish_transition`. Idempotent; audited. No cascade."
    ),
)
def wish_claim(request, pk: int, payload: WishClaimIn):
    wish = _wish(request, pk)
    volunteer = Volunteer.objects.select_related("grid").filter(pk=payload.volunteer_id).first()
    if volunteer is None:
        raise NotFound("volunteer_not_found", _("No such volunteer in this community."))
    return _out(request, vol.wish_claim(wish=wish, volunteer=volunteer, principal=request.user))


@router.post(
    "/mobilization/wishes/{pk}/release",
    response={200: WishOut, **ERRORS},
    summary="Back to open (the volunteer cannot do it)",
    description=(
        f"Who may call: a user with {DOERS} over the wish's grid (403 in sight without it, 404 out of sight). "
        "A claimed wish goes back to open without its volunteer; any other but open is 400 `wish_transition`. "
        "Audited. No cascade."
    ),
)
def wish_release(request, pk: int):
    return _out(request, vol.wish_release(wish=_wish(request, pk), principal=request.user))


@router.post(
    "/mobilization/wishes/{pk}/done",
    response={200: WishOut, **ERRORS},
    summary="Confirm the wish done",
    description=(
        f"Who may call: a user with {DOERS} over the wish's grid (403 in sight without it, 404 out of sight). "
        "Only a claimed wish is done (400 `wish_transition` otherwise; done again changes nothing). Audited. "
        "No cascade: the resident thanks from the personal link."
    ),
)
def wish_done(request, pk: int, payload: WishNoteIn):
    return _out(request, vol.wish_done(wish=_wish(request, pk), note=payload.note, principal=request.user))


@router.post(
    "/mobilization/wishes/{pk}/cancel",
    response={200: WishOut, **ERRORS},
    summary="Cancel a wish",
    description=(
        f"Who may call: a user with {DOERS} over the wish's grid (403 in sight without it, 404 out of sight). "
        "An open or claimed wish is cancelled (`note` as the reason); a done one is 400 `wish_transition`. "
        "Audited. No cascade."
    ),
)
def wish_cancel(request, pk: int, payload: WishNoteIn):
    return _out(request, vol.wish_cancel(wish=_wish(request, pk), reason=payload.note, principal=request.user))


# ---------------------------------------------------------------- shifts and hours


class VolunteerShiftIn(In):
    kind: ShiftKind
    starts_at: PlanTime  # over, except 值守 at a checkpoint, planned up to 7 days ahead (the service checks)
    ends_at: PlanTime
    note: str = ""
    checkpoint_id: int | None = None  # 值守 at this gate: counts in its 24-hour roster, may be planned ahead
    site: str | None = None  # 消杀 of this compound (grid code) …
    household_id: int | None = None  # … or of this household: completes the disinfection tasks it answers


class VolunteerShiftOut(Schema):
    id: int
    volunteer_id: int
    team_id: int | None
    kind: ShiftKind
    starts_at: dt.datetime
    ends_at: dt.datetime
    minutes: int
    note: str
    checkpoint_id: int | None
    site: str | None
    household_id: int | None
    tasks_done: int  # care disinfection tasks this round completed

    @staticmethod
    def from_model(s: VolunteerShift) -> dict:
        return {
            "id": s.pk,
            "volunteer_id": s.volunteer_id,
            "team_id": s.team_id,
            "kind": s.kind,
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "minutes": s.minutes,
            "note": s.note,
            "checkpoint_id": s.checkpoint_id,
            "site": s.site.code if s.site_id else None,
            "household_id": s.household_id,
            "tasks_done": getattr(s, "tasks_done", 0),
        }


class VolunteerHoursRowOut(Schema):
    kind: str  # "team" or "volunteer"
    id: int
    name: str
    grid: str
    team_name: str
    shifts: int
    hours: float


@router.post(
    "/mobilization/volunteers/{pk}/shifts",
    response={201: VolunteerShiftOut, **ERRORS},
    summary="Record a shift a volunteer served",
    description=(
        f"Who may call: a user with {MANAGERS} over the volunteer's community (403 in sight without it, 404 out "
        "of sight, `volunteer_not_found`). Only an approved volunteer (409 `volunteer_not_approved`); the shift "
        "is over, ends after it starts and lasts at most 24 hours (400 `shift_times`); 值守 at `checkpoint_id` (an "
        "open gate of the community, 404 `checkpoint_not_found` otherwise) counts in the gate's 24-hour roster "
        "and may be planned up to 7 days ahead; a disinfection round at `site` (a compound) or `household_id` "
        "completes, as the system, the open care disinfection tasks due there around it (`tasks_done`); "
        "one overlapping another "
        "of the volunteer is 409 `shift_overlaps`; the same shift again is answered as it is. Counts for the "
        "volunteer and their team at the time. Audited. No cascade."
    ),
)
def shift_record(request, pk: int, payload: VolunteerShiftIn):
    volunteer = vol.volunteer_get(user=request.user, pk=pk, capability=vol.MANAGE)
    checkpoint = vol.checkpoint_get(user=request.user, pk=payload.checkpoint_id) if payload.checkpoint_id else None
    site = grid_node_get(user=request.user, code=payload.site) if payload.site else None
    household = vol.site_household_get(user=request.user, pk=payload.household_id) if payload.household_id else None
    shift = vol.shift_record(
        volunteer=volunteer,
        kind=payload.kind.value,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        note=payload.note,
        checkpoint=checkpoint,
        site=site,
        household=household,
        principal=request.user,
    )
    return Status(201, VolunteerShiftOut.from_model(shift))


@router.get(
    "/mobilization/volunteer-hours",
    response={200: list[VolunteerHoursRowOut], **ERRORS},
    summary="Hours served, per team and per volunteer",
    description=(
        "Who may call: any user with a role; answers the teams (`kind: team`) and then the approved volunteers "
        "(`kind: volunteer`, at most 500, most hours first) of the communities the caller sees, with their "
        "shifts and hours. Reads only: no cascade."
    ),
)
def volunteer_hours(request):
    def row(kind: str, obj, team_name: str) -> dict:
        return {
            "kind": kind,
            "id": obj.pk,
            "name": obj.name,
            "grid": obj.grid.code,
            "team_name": team_name,
            "shifts": obj.shift_count,
            "hours": round(obj.minutes / 60, 2),
        }

    teams = [row("team", t, t.name) for t in vol.hours_by_team(user=request.user)]
    volunteers = vol.hours_by_volunteer(user=request.user)[:500]
    return teams + [row("volunteer", v, v.team.name if v.team_id else "") for v in volunteers]


# ---------------------------------------------------------------- the volunteer's own link

VOLUNTEER_LINK_THROTTLE = PathTokenThrottle("resident_link")  # per link, at the resident links' rate


class VolunteerLinkWishOut(Schema):
    id: int
    text: str
    status: WishStatus
    grid_name: str
    household_address: str  # once the wish is the volunteer's; "" before
    created_at: dt.datetime


def _link_volunteer(token: str) -> Volunteer:
    volunteer = vol.volunteer_by_link(token)
    if volunteer is None:
        raise NotFound("not_found", _("Not found."))
    return volunteer


def _link_wish(w: Wish) -> dict:
    return {
        "id": w.pk,
        "text": w.text,
        "status": w.status,
        "grid_name": w.grid.name,
        "household_address": w.household.address if w.status == WishStatus.CLAIMED else "",
        "created_at": w.created_at,
    }


@router.post(
    "/mobilization/volunteers/{pk}/link",
    response={201: SignupLinkOut, **ERRORS},
    summary="Issue an approved volunteer's personal link",
    description=(
        f"Who may call: a user with {MANAGERS} over the volunteer's community (403 in sight without it, 404 out "
        "of sight, `volunteer_not_found`). Only an approved volunteer (409 `volunteer_not_approved`); a new "
        "link replaces the old one, which stops working. Answers the URL and its token. Audited. No cascade."
    ),
)
def volunteer_link_issue(request, pk: int):
    volunteer = vol.volunteer_get(user=request.user, pk=pk, capability=vol.MANAGE)
    token = vol.volunteer_link_issue(volunteer=volunteer, principal=request.user)
    url = request.build_absolute_uri(reverse("mobilization:volunteer_home", args=[token]))
    return Status(201, {"url": url, "token": token})


@router.get(
    "/mobilization/volunteer/{token}/wishes",
    auth=None,
    throttle=VOLUNTEER_LINK_THROTTLE,
    response={200: list[VolunteerLinkWishOut], **ERRORS},
    summary="The volunteer's wishes to claim (public, by the volunteer's link)",
    description=(
        "Who may call: anyone holding an approved volunteer's current link token (no account; 404 `not_found` "
        "otherwise). The community's open wishes (their compound, not the address) and the ones the volunteer "
        "has claimed (with the household's address), oldest first, at most 100. Rate-limited per link (429). "
        "Reads only: no cascade."
    ),
)
def volunteer_link_wishes(request, token: str):
    return [_link_wish(w) for w in vol.wishes_for_volunteer(_link_volunteer(token))]


@router.post(
    "/mobilization/volunteer/{token}/wishes/{pk}/claim",
    auth=None,
    throttle=VOLUNTEER_LINK_THROTTLE,
    response={200: VolunteerLinkWishOut, **ERRORS},
    summary="Claim a wish (public, by the volunteer's link)",
    description=(
        "Who may call: anyone holding an approved volunteer's current link token (no account; 404 `not_found` "
        "otherwise); the wish must be of the volunteer's community (404 `wish_not_found` otherwise, whatever "
        "its state). Another volunteer's is 409 `wish_claimed`, a done or cancelled one "
        "400 `wish_transition`; claiming one's own again changes nothing. Rate-limited per link (429). "
        "Audited as `system:volunteer-link`. No cascade."
    ),
)
def volunteer_link_claim(request, token: str, pk: int):
    volunteer = _link_volunteer(token)
    wish = Wish.objects.select_related("grid", "household").filter(pk=pk).first()
    if wish is None:
        raise NotFound("wish_not_found", _("No such wish."))
    wish = vol.wish_claim_by_volunteer(wish=wish, volunteer=volunteer)
    return _link_wish(Wish.objects.select_related("grid", "household").get(pk=wish.pk))
