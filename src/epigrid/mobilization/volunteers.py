"""Volunteers and wishes (泉心愿, docs/method.md "3"): a community's teams, its volunteers —
residents on file, or people who signed up by the community's QR without an account, verified by
the community before any duty — and the wish loop post → claim → done → thanks.

Who does what:
- the community's teams and volunteers: `manage_teams` at the community (its secretary and staff,
  the subdistrict, the command center);
- a wish: posted by whoever does the household's tasks (`do_tasks` at the household's grid: its
  grid member, the grid head, the community) or by the resident from the personal link; volunteers
  have no accounts: the claim is either *recorded by that staff for an approved volunteer of the
  community* (the wish handed over by phone or in the WeChat group) or *taken by the approved
  volunteer on their own link* (a token the community issues, `volunteer_link_issue`, like the
  resident's); the same staff confirms it done; the resident thanks from the personal link.
- a wish open longer than settings.WISH_OPEN_ALERT_HOURS raises one alert to the community
  (the sweep `wishes_overdue`).
Every write is atomic and audited; a retry changes nothing."""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, EscalationLevel
from epigrid.alerts.services import NewAlert, alerts_raise, level_owners
from epigrid.core import audit, extensions
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import lookup_hash, seal, unseal
from epigrid.core.errors import Conflict, DomainError, NotFound
from epigrid.core.rates import AddressThrottle
from epigrid.core.scoping import VIEW, SystemPrincipal, allows, authorize, subtree_q, system, user_of
from epigrid.core.transitions import move
from epigrid.core.validators import parse_phone
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode, community_path, compound_path
from epigrid.people.models import Household, Person

from .choices import ShiftKind, VolunteerSource, VolunteerStatus, WishSource, WishStatus
from .models import Volunteer, VolunteerShift, VolunteerTeam, Wish

MANAGE = Capability.MANAGE_TEAMS  # the community's teams and volunteers
DO = Capability.DO_TASKS  # a household's wishes
SIGNUP_SALT = "epigrid.mobilization.volunteer-signup"
# The public sign-up: no account; what it may write is decided by the signed token (a community).
SIGNUP = SystemPrincipal("system:volunteer-signup", set())
# The resident's own link posting or thanking a wish of their household (the token names the person).
RESIDENT_WISH = SystemPrincipal("system:resident-wish", {DO})
# An approved volunteer's own link claiming a wish of their community (the token names the volunteer).
VOLUNTEER_LINK = SystemPrincipal("system:volunteer-link", {DO})
WISH_WATCH = system("system:wish-watch", {Capability.HANDLE_ALERTS})
OPEN_WISHES = (WishStatus.OPEN, WishStatus.CLAIMED)
# Sign-ups sent from one client address, page and API together (settings.THROTTLE_RATES).
SIGNUP_THROTTLE = AddressThrottle("volunteer_signup")


def _text(value, *, field: str, required: bool = False, limit: int = 200) -> str:
    value = " ".join((value or "").split())
    if required and not value:
        raise DomainError(f"{field}_required", _("Fill in this field."), field=field)
    if len(value) > limit:
        raise DomainError(f"{field}_too_long", _("At most %(n)s characters."), field=field, params={"n": limit})
    return value


def _community(grid: GridNode) -> GridNode:
    if grid.level != GridLevel.COMMUNITY:
        raise DomainError("grid_not_community", _("Volunteers and their teams belong to a community."), field="grid")
    return grid


def community_of(path: str) -> GridNode | None:
    return GridNode.objects.filter(path=community_path(path)).first()


# ---------------------------------------------------------------- teams


def team_create(*, grid: GridNode, name: str, description: str = "", principal) -> VolunteerTeam:
    """A team of the community; the same name again is answered as it is."""
    _community(grid)
    authorize(principal, MANAGE, grid.path)
    name = _text(name, field="name", required=True, limit=50)
    description = _text(description, field="description")
    with transaction.atomic():
        team, created = VolunteerTeam.objects.get_or_create(grid=grid, name=name, defaults={"description": description})
        if created:
            audit.record(
                principal=principal,
                action="volunteer_team.create",
                obj=team,
                grid_path=grid.path,
                changes={"name": [None, name]},
            )
    return team


def _team(team: VolunteerTeam | None, grid: GridNode) -> VolunteerTeam | None:
    if team is not None and team.grid_id != grid.pk:
        raise DomainError("team_elsewhere", _("This team belongs to another community."), field="team")
    return team


# ---------------------------------------------------------------- volunteers


def signup_token(grid: GridNode) -> str:
    """The community's sign-up token (its QR's URL): signed, so nothing is stored for it."""
    return signing.dumps(_community(grid).pk, salt=SIGNUP_SALT, compress=True)


def signup_grid(token: str) -> GridNode | None:
    """The community a sign-up token names; None for a token not signed by us."""
    try:
        pk = signing.loads(token or "", salt=SIGNUP_SALT)
    except signing.BadSignature:
        return None
    return GridNode.objects.filter(pk=pk, level=GridLevel.COMMUNITY).first() if isinstance(pk, int) else None


def volunteer_signup(
    *,
    grid: GridNode,
    name: str,
    phone: str,
    skills: str = "",
    availability: str = "",
    team: VolunteerTeam | None = None,
) -> Volunteer:
    """A public sign-up by the community's QR (no account): a *pending* volunteer for the community
    to verify. The same phone again while pending or approved is answered with the same row (a
    double tap); nothing here tells whether a phone is known."""
    _community(grid)
    return _volunteer_by_phone(
        grid=grid,
        name=name,
        phone=phone,
        skills=skills,
        availability=availability,
        team=team,
        source=VolunteerSource.SIGNUP,
        principal=SIGNUP,
        action="volunteer.signup",
    )


def volunteer_add(
    *,
    grid: GridNode,
    person: Person,
    skills: str = "",
    availability: str = "",
    team: VolunteerTeam | None = None,
    principal,
) -> Volunteer:
    """The community registers a resident on file (a party member too) as a volunteer: pending,
    like a sign-up, until approved. The same person again is answered as they are."""
    _community(grid)
    authorize(principal, MANAGE, grid.path)
    if person.archived_at or community_path(person.grid.path) != grid.path:
        raise DomainError("volunteer_not_resident", _("Choose a resident of this community."), field="person")
    skills = _text(skills, field="skills")
    availability = _text(availability, field="availability")
    team = _team(team, grid)
    with transaction.atomic():
        earlier = (
            Volunteer.objects.select_for_update()
            .filter(grid=grid, person=person)
            .exclude(status=VolunteerStatus.REFUSED)
            .first()
        )
        if earlier is not None:
            return earlier
        volunteer = Volunteer.objects.create(
            grid=grid,
            team=team,
            person=person,
            name=person.name,
            skills=skills,
            availability=availability,
            source=VolunteerSource.STAFF,
        )
        audit.record(
            principal=principal,
            action="volunteer.add",
            obj=volunteer,
            grid_path=grid.path,
            changes={"person": [None, person.pk], "team": [None, getattr(team, "name", "")]},
        )
    return volunteer


def volunteer_decide(
    *, volunteer: Volunteer, approve: bool, team: VolunteerTeam | None = None, note: str = "", principal
) -> Volunteer:
    """The community's verification: approved (into a team, where one is named) or refused."""
    authorize(principal, MANAGE, volunteer.grid.path)
    note = _text(note, field="note")
    fields = {"note": note}
    if approve and team is not None:
        fields["team_id"] = _team(team, volunteer.grid).pk
    target = VolunteerStatus.APPROVED if approve else VolunteerStatus.REFUSED
    return move(volunteer, target, principal=principal, fields=fields)


def volunteer_team_set(*, volunteer: Volunteer, team: VolunteerTeam | None, principal) -> Volunteer:
    authorize(principal, MANAGE, volunteer.grid.path)
    team = _team(team, volunteer.grid)
    with transaction.atomic():
        locked = Volunteer.objects.select_for_update().get(pk=volunteer.pk)
        if locked.team_id == getattr(team, "pk", None):
            return locked
        before = locked.team_id
        locked.team = team
        locked.save(update_fields=["team"])
        audit.record(
            principal=principal,
            action="volunteer.team",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"team": [before, getattr(team, "pk", None)]},
        )
    return locked


def volunteer_update(
    *, volunteer: Volunteer, skills: str, availability: str, team: VolunteerTeam | None, principal
) -> bool:
    """Correct a volunteer's skills, availability and team (a ledger's row); True when something
    changed. Their status is the community's verification, never set here."""
    authorize(principal, MANAGE, volunteer.grid.path)
    fields = {
        "skills": _text(skills, field="skills"),
        "availability": _text(availability, field="availability"),
        "team_id": getattr(_team(team, volunteer.grid), "pk", None),
    }
    with transaction.atomic():
        locked = Volunteer.objects.select_for_update().select_related("grid").get(pk=volunteer.pk)
        changed = {k: v for k, v in fields.items() if getattr(locked, k) != v}
        if not changed:
            return False
        before = {k: getattr(locked, k) for k in changed}
        for key, value in changed.items():
            setattr(locked, key, value)
        locked.save(update_fields=list(changed))
        audit.record(
            principal=principal,
            action="volunteer.update",
            obj=locked,
            grid_path=locked.grid.path,
            changes={k.removesuffix("_id"): [before[k], v] for k, v in changed.items()},
        )
    return True


def volunteer_register(
    *,
    grid: GridNode,
    name: str,
    phone: str,
    skills: str = "",
    availability: str = "",
    team: VolunteerTeam | None = None,
    principal,
) -> Volunteer:
    """The community registers someone not on file by name and phone (a row of the 泉心愿
    platform's export): pending until verified, like a sign-up. The same phone again is answered
    as it is."""
    _community(grid)
    authorize(principal, MANAGE, grid.path)
    return _volunteer_by_phone(
        grid=grid,
        name=name,
        phone=phone,
        skills=skills,
        availability=availability,
        team=team,
        source=VolunteerSource.STAFF,
        principal=principal,
        action="volunteer.add",
    )


def _volunteer_by_phone(*, grid, name, phone, skills, availability, team, source: str, principal, action: str):
    """A pending volunteer known by name and phone (a QR sign-up, or the community's entry of a row
    of the 泉心愿 export): the same phone again while pending or approved answers that row."""
    name = _text(name, field="name", required=True, limit=50)
    number = parse_phone(phone)
    skills = _text(skills, field="skills")
    availability = _text(availability, field="availability")
    team = _team(team, grid)
    phone_hash = lookup_hash("phone", number.number)
    with transaction.atomic():
        earlier = (
            Volunteer.objects.select_for_update()
            .filter(grid=grid, phone_hash=phone_hash)
            .exclude(status=VolunteerStatus.REFUSED)
            .first()
        )
        if earlier is not None:
            return earlier
        volunteer = Volunteer.objects.create(
            grid=grid,
            team=team,
            name=name,
            phone_sealed=seal(number.number),
            phone_masked=number.masked,
            phone_hash=phone_hash,
            skills=skills,
            availability=availability,
            source=source,
        )
        audit.record(
            principal=principal,
            action=action,
            obj=volunteer,
            grid_path=grid.path,
            changes={"team": [None, getattr(team, "name", "")]},
        )
    return volunteer


def _link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def volunteer_link_issue(*, volunteer: Volunteer, principal) -> str:
    """A new personal link for an approved volunteer (the old one stops working): the community
    sends it by SMS or WeChat; on it the volunteer sees the community's open wishes and claims one."""
    authorize(principal, MANAGE, volunteer.grid.path)
    if volunteer.status != VolunteerStatus.APPROVED:
        raise Conflict(
            "volunteer_not_approved",
            _("Only a volunteer the community has approved is given duties."),
            field="volunteer",
        )
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        locked = Volunteer.objects.select_for_update().get(pk=volunteer.pk)
        replaced = bool(locked.link_hash)
        locked.link_hash, locked.link_sealed = _link_hash(token), seal(token)
        locked.save(update_fields=["link_hash", "link_sealed"])
        audit.record(
            principal=principal,
            action="volunteer.link",
            obj=locked,
            grid_path=locked.grid.path,
            changes={"replaced": [None, replaced]},
        )
    return token


def volunteer_link_token(volunteer: Volunteer) -> str | None:
    return unseal(bytes(volunteer.link_sealed)) if volunteer.link_hash and volunteer.link_sealed else None


def volunteer_by_link(token: str) -> Volunteer | None:
    """The approved volunteer whose current link is `token` (None: unknown, replaced, or not approved)."""
    if not token:
        return None
    return (
        Volunteer.objects.filter(link_hash=_link_hash(token), status=VolunteerStatus.APPROVED)
        .select_related("grid", "team")
        .first()
    )


def wishes_for_volunteer(volunteer: Volunteer):
    """What the volunteer's link shows: the community's open wishes, and those the volunteer has."""
    return (
        Wish.objects.filter(subtree_q("grid__path", volunteer.grid.path))
        .filter(Q(status=WishStatus.OPEN) | Q(volunteer=volunteer, status=WishStatus.CLAIMED))
        .select_related("grid", "household")
        .order_by("created_at", "id")[:100]
    )


def wish_claim_by_volunteer(*, wish: Wish, volunteer: Volunteer) -> Wish:
    """The volunteer takes an open wish of their community from their own link; another
    community's wish is not found, whatever its state."""
    if community_path(wish.grid.path) != volunteer.grid.path:
        raise NotFound("wish_not_found", _("No such wish."))
    if wish.status != WishStatus.OPEN and wish.volunteer_id != volunteer.pk:
        raise Conflict("wish_claimed", _("Another volunteer has this wish already."), field="volunteer")
    return wish_claim(wish=wish, volunteer=volunteer, principal=VOLUNTEER_LINK)


# ---------------------------------------------------------------- wishes (心愿)


def _wish_create(*, household: Household, person: Person | None, text: str, source: str, principal) -> Wish:
    text = _text(text, field="text", required=True)
    if household.archived_at:
        raise DomainError("household_archived", _("This household's file is archived."), field="household")
    with transaction.atomic():
        # A double tap: the same open wish of the household is answered as it is.
        earlier = (
            Wish.objects.select_for_update().filter(household=household, text=text, status__in=OPEN_WISHES).first()
        )
        if earlier is not None:
            return earlier
        user = user_of(principal)
        wish = Wish.objects.create(
            grid=household.grid,
            household=household,
            person=person,
            text=text,
            source=source,
            posted_by=user if getattr(user, "pk", None) else None,
        )
        audit.record_many(
            principal=principal,
            entries=[
                audit.AuditEntry(
                    "wish.post", "mobilization.wish", str(wish.pk), household.grid.path, {"source": [None, source]}
                ),
                audit.AuditEntry(
                    "wish.post", "people.household", str(household.pk), household.grid.path, {"wish": [None, wish.pk]}
                ),
            ],
        )
    return wish


def wish_post(*, household: Household, text: str, person: Person | None = None, principal) -> Wish:
    """A grid member posts a wish for a household they serve."""
    authorize(principal, DO, household.grid.path)
    if person is not None and person.household_id != household.pk:
        raise DomainError("wish_person_household", _("This person does not live in this household."), field="person")
    return _wish_create(
        household=household, person=person, text=text, source=WishSource.GRID_MEMBER, principal=principal
    )


def wish_post_by_resident(*, person: Person, text: str) -> Wish:
    """The resident posts a wish from the personal link (the caller resolved the token to `person`)."""
    if person.household_id is None:
        raise DomainError("person_without_household", _("You are registered without a household."))
    return _wish_create(
        household=person.household, person=person, text=text, source=WishSource.RESIDENT, principal=RESIDENT_WISH
    )


def claimable_volunteers(wish: Wish):
    """The approved volunteers of the wish's community, who may be given it."""
    return (
        Volunteer.objects.filter(grid__path=community_path(wish.grid.path), status=VolunteerStatus.APPROVED)
        .select_related("team")
        .order_by("team__name", "name")
    )


def wish_claim(*, wish: Wish, volunteer: Volunteer, principal) -> Wish:
    """Record that an approved volunteer of the community took the wish."""
    authorize(principal, DO, wish.grid.path)
    if volunteer.grid.path != community_path(wish.grid.path):
        raise NotFound("volunteer_not_found", _("No such volunteer in this community."))
    if volunteer.status != VolunteerStatus.APPROVED:
        raise Conflict(
            "volunteer_not_approved",
            _("Only a volunteer the community has approved is given a wish."),
            field="volunteer",
        )
    if wish.status == WishStatus.CLAIMED and wish.volunteer_id not in (None, volunteer.pk):
        raise Conflict("wish_claimed", _("Another volunteer has this wish already."), field="volunteer")
    return move(wish, WishStatus.CLAIMED, principal=principal, fields={"volunteer_id": volunteer.pk})


def wish_release(*, wish: Wish, principal) -> Wish:
    """The volunteer cannot do it after all: open again, for another."""
    authorize(principal, DO, wish.grid.path)
    return move(wish, WishStatus.OPEN, principal=principal, fields={"volunteer_id": None, "escalated_at": None})


def wish_done(*, wish: Wish, note: str = "", principal) -> Wish:
    """The grid member confirms the wish came true."""
    authorize(principal, DO, wish.grid.path)
    return move(wish, WishStatus.DONE, principal=principal, fields={"done_note": _text(note, field="note")})


def wish_cancel(*, wish: Wish, reason: str = "", principal) -> Wish:
    authorize(principal, DO, wish.grid.path)
    return move(wish, WishStatus.CANCELLED, principal=principal, reason=_text(reason, field="reason"))


def wish_thank(*, wish: Wish, person: Person, thanks: str = "") -> Wish:
    """The resident thanks from the personal link, for a wish of their own household."""
    if wish.household_id != person.household_id:
        raise NotFound("wish_not_found", _("No such wish."))
    return move(wish, WishStatus.THANKED, principal=RESIDENT_WISH, fields={"thanks": _text(thanks, field="thanks")})


def wishes_overdue(*, now: dt.datetime | None = None) -> int:
    """A wish still open after settings.WISH_OPEN_ALERT_HOURS alerts its community, once (the
    sweep marks it; a wish released back to open may alert again)."""
    now = now or timezone.now()
    limit = now - dt.timedelta(hours=settings.WISH_OPEN_ALERT_HOURS)
    with transaction.atomic():
        late = list(
            Wish.objects.select_for_update(of=("self",))
            .filter(status=WishStatus.OPEN, created_at__lt=limit, escalated_at__isnull=True)
            .select_related("grid", "household")[:1000]
        )
        if not late:
            return 0
        # Marked first: the alerts' audit append holds the chain's head, so it comes last.
        Wish.objects.filter(pk__in=[w.pk for w in late]).update(escalated_at=now)
        owners = level_owners([(EscalationLevel.COMMUNITY, w.grid.path) for w in late])
        alerts = []
        for wish in late:
            alerts.append(
                NewAlert(
                    kind=AlertKind.WISH_OVERDUE,
                    dedup_key=f"wish:{wish.pk}:{wish.claimed_at.isoformat() if wish.claimed_at else 0}",
                    grid_id=wish.grid_id,
                    grid_path=wish.grid.path,
                    person_id=wish.person_id,
                    owner_id=owners[(EscalationLevel.COMMUNITY, wish.grid.path)],
                    level=EscalationLevel.COMMUNITY,
                    detail={
                        "wish": wish.pk,
                        "wish_text": wish.text,
                        "household": wish.household.address,
                        "posted_at": wish.created_at.isoformat(),
                    },
                )
            )
        alerts_raise(alerts=alerts, principal=WISH_WATCH, now=now)
    return len(late)


OVERDUE_SWEEP = ("wishes_overdue", wishes_overdue)


# ---------------------------------------------------------------- shifts and hours

MAX_SHIFT = dt.timedelta(hours=24)
PLAN_AHEAD = dt.timedelta(days=7)  # 值守 at a gate may be planned for the roster's week


def gate_duty_cover(*, checkpoint_ids, start: dt.datetime, end: dt.datetime):
    """Contributed to gates' "roster_cover": approved volunteers' 值守 shifts at these checkpoints
    count in their 24-hour roster."""
    shifts = VolunteerShift.objects.filter(
        checkpoint_id__in=list(checkpoint_ids),
        kind=ShiftKind.GATE_DUTY,
        volunteer__status=VolunteerStatus.APPROVED,
        starts_at__lt=end,
        ends_at__gt=start,
    ).values_list("checkpoint_id", "starts_at", "ends_at", "volunteer__name", "volunteer__team__name")
    label = _("Volunteer %(name)s")
    return [
        (checkpoint_id, starts_at, ends_at, (label % {"name": name}) + (f"（{team}）" if team else ""))
        for checkpoint_id, starts_at, ends_at, name, team in shifts
    ]


def shift_record(
    *,
    volunteer: Volunteer,
    kind: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    note: str = "",
    checkpoint=None,
    site: GridNode | None = None,
    household: Household | None = None,
    principal,
) -> VolunteerShift:
    """A shift an approved volunteer served (值守, 排查, 消杀, 宣传, a service), recorded by the
    community once it is over; it counts for the volunteer and for their team at the time. A shift
    overlapping another of the same volunteer is refused; the same shift again is answered as it is.

    值守 at a `checkpoint` (an open gate of the volunteer's community) counts in the gate's 24-hour
    roster, so it may be planned up to PLAN_AHEAD ahead; its hours count once it is over.

    消杀 of a compound (`site`, a compound grid of the community or any node in it) or of one
    `household` is a round done: the open care disinfection tasks it answers are completed in the
    same transaction ("disinfection_done"), and the shift's `tasks_done` says how many."""
    authorize(principal, MANAGE, volunteer.grid.path)
    if kind not in ShiftKind.values:
        raise DomainError("shift_kind", _("Unknown duty."), field="kind")
    if volunteer.status != VolunteerStatus.APPROVED:
        raise Conflict(
            "volunteer_not_approved",
            _("Only a volunteer the community has approved is given duties."),
            field="volunteer",
        )
    latest = timezone.now() + dt.timedelta(minutes=5)
    if checkpoint is not None:
        if kind != ShiftKind.GATE_DUTY:
            raise DomainError("shift_checkpoint", _("Only gate duty is served at a checkpoint."), field="checkpoint")
        if community_path(checkpoint.grid.path) != volunteer.grid.path:
            raise NotFound("checkpoint_not_found", _("No such checkpoint in this community."))
        if not checkpoint.is_open:
            raise Conflict("checkpoint_closed", _("This checkpoint is closed."), field="checkpoint")
        latest = timezone.now() + PLAN_AHEAD
    if household is not None:
        site = household.grid
    if site is not None:
        if kind != ShiftKind.DISINFECTION:
            raise DomainError("shift_site", _("Only a disinfection round is done at a compound."), field="site")
        if community_path(site.path) != volunteer.grid.path or not compound_path(site.path):
            raise NotFound("site_not_found", _("No such compound or household in this community."))
        if household is not None and household.archived_at is not None:
            raise NotFound("site_not_found", _("No such compound or household in this community."))
        site = GridNode.objects.get(path=compound_path(site.path))
    if not starts_at < ends_at <= latest or ends_at - starts_at > MAX_SHIFT:
        raise DomainError(
            "shift_times", _("A shift ends after it starts, at most 24 hours later, and is over."), field="ends_at"
        )
    note = _text(note, field="note")
    with transaction.atomic():
        Volunteer.objects.select_for_update().get(pk=volunteer.pk)  # one recorder at a time per volunteer
        shifts = VolunteerShift.objects.filter(volunteer=volunteer)
        same = shifts.filter(kind=kind, starts_at=starts_at, ends_at=ends_at).first()
        if same is not None:
            return same
        if shifts.filter(starts_at__lt=ends_at, ends_at__gt=starts_at).exists():
            raise Conflict("shift_overlaps", _("This volunteer has another shift at that time."), field="starts_at")
        shift = VolunteerShift.objects.create(
            volunteer=volunteer,
            grid=volunteer.grid,
            team_id=volunteer.team_id,
            kind=kind,
            checkpoint=checkpoint,
            site=site,
            household=household,
            starts_at=starts_at,
            ends_at=ends_at,
            minutes=int((ends_at - starts_at).total_seconds() // 60),
            note=note,
            recorded_by=user_of(principal),
        )
        audit.record(
            principal=principal,
            action="volunteer.shift",
            obj=volunteer,
            grid_path=volunteer.grid.path,
            changes={
                "kind": [None, kind],
                "minutes": [None, shift.minutes],
                "shift": [None, shift.pk],
                **({"checkpoint": [None, checkpoint.pk]} if checkpoint is not None else {}),
                **({"site": [None, site.code], "household": [None, getattr(household, "pk", None)]} if site else {}),
            },
        )
        shift.tasks_done = 0
        if site is not None:
            # The cascade, as its own system principal for the recorder (care does not know volunteers).
            shift.tasks_done = sum(
                done(
                    grid=site,
                    household=household,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    note=_("Disinfection round by volunteer %(name)s") % {"name": volunteer.name},
                    cause=principal,
                )
                or 0
                for done in extensions.get("disinfection_done")
            )
    return shift


def shift_update(*, shift: VolunteerShift, ends_at: dt.datetime, note: str = "", principal) -> bool:
    """Correct when a recorded shift ended and its note (its volunteer, duty and start are its
    key); the same checks as recording it. True when something changed."""
    authorize(principal, MANAGE, shift.grid.path)
    note = _text(note, field="note")
    if shift.ends_at == ends_at and shift.note == note:
        return False  # as recorded: nothing to check again (a planned 值守 stays planned)
    starts_at = shift.starts_at
    latest = timezone.now() + (PLAN_AHEAD if shift.checkpoint_id else dt.timedelta(minutes=5))
    if not starts_at < ends_at <= latest or ends_at - starts_at > MAX_SHIFT:
        raise DomainError(
            "shift_times", _("A shift ends after it starts, at most 24 hours later, and is over."), field="ends_at"
        )
    with transaction.atomic():
        Volunteer.objects.select_for_update().get(pk=shift.volunteer_id)
        locked = VolunteerShift.objects.select_related("grid").get(pk=shift.pk)
        if locked.ends_at == ends_at and locked.note == note:
            return False
        others = VolunteerShift.objects.filter(volunteer_id=locked.volunteer_id).exclude(pk=locked.pk)
        if others.filter(starts_at__lt=ends_at, ends_at__gt=starts_at).exists():
            raise Conflict("shift_overlaps", _("This volunteer has another shift at that time."), field="ends_at")
        before = {"ends_at": locked.ends_at.isoformat(), "note": locked.note}
        locked.ends_at, locked.note = ends_at, note
        locked.minutes = int((ends_at - starts_at).total_seconds() // 60)
        locked.save(update_fields=["ends_at", "note", "minutes"])
        after = {"ends_at": ends_at.isoformat(), "note": note}
        audit.record(
            principal=principal,
            action="volunteer.shift_update",
            obj=locked.volunteer,
            grid_path=locked.grid.path,
            changes={"shift": [None, locked.pk], **{k: [before[k], after[k]] for k in before if before[k] != after[k]}},
        )
    return True


def _checkpoints():
    # The gate's model through the shift's relation: mobilization does not import gates (a sibling).
    return VolunteerShift._meta.get_field("checkpoint").related_model.objects


def checkpoint_get(*, user, pk):
    """A checkpoint in the user's sight, for a 值守 shift (404 otherwise)."""
    return (
        _checkpoints()
        .select_related("grid")
        .get_for(
            user, VIEW, pk=pk, missing=NotFound("checkpoint_not_found", _("No such checkpoint in this community."))
        )
    )


def site_household_get(*, user, pk) -> Household:
    """A household in the user's sight, for a 消杀 round (404 otherwise)."""
    return Household.objects.select_related("grid").get_for(
        user, VIEW, pk=pk, missing=NotFound("site_not_found", _("No such compound or household in this community."))
    )


def duty_checkpoints(user):
    """The open checkpoints where the user may record volunteers' 值守."""
    return _checkpoints().restrict(user, MANAGE).filter(is_open=True).select_related("grid").order_by("name")[:100]


def _served(prefix: str) -> Q:
    """Shifts that are over (a planned 值守 counts for recognition once served)."""
    return Q(**{f"{prefix}ends_at__lte": timezone.now()})


def hours_by_volunteer(*, user):
    """Approved volunteers in sight with their shifts' hours, most first."""
    return (
        Volunteer.objects.restrict(user)
        .filter(status=VolunteerStatus.APPROVED)
        .select_related("grid", "team")
        .annotate(
            minutes=Coalesce(Sum("shifts__minutes", filter=_served("shifts__")), 0),
            shift_count=Count("shifts", filter=_served("shifts__")),
        )
        .order_by("-minutes", "name", "id")
    )


def hours_by_team(*, user):
    """Teams in sight with the hours their volunteers served in them."""
    return (
        VolunteerTeam.objects.restrict(user)
        .select_related("grid")
        .annotate(
            minutes=Coalesce(Sum("shifts__minutes", filter=_served("shifts__")), 0),
            shift_count=Count("shifts", filter=_served("shifts__")),
        )
        .order_by("grid__path", "name")
    )


# ---------------------------------------------------------------- reading


def team_list(*, user, grid_path: str = ""):
    teams = VolunteerTeam.objects.restrict(user).select_related("grid")
    if grid_path:
        teams = teams.in_subtree(grid_path)
    return teams.annotate(approved=Count("members", filter=Q(members__status=VolunteerStatus.APPROVED))).order_by(
        "grid__path", "name"
    )


def team_get(*, user, pk, capability: str = VIEW) -> VolunteerTeam:
    return VolunteerTeam.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("team_not_found", _("No such team."))
    )


def volunteer_list(*, user, status: str = "", grid_path: str = ""):
    rows = Volunteer.objects.restrict(user).select_related("grid", "team")
    if status:
        rows = rows.filter(status=status)
    if grid_path:
        rows = rows.in_subtree(grid_path)
    return rows.order_by("status", "grid__path", "team__name", "name", "id")


def volunteer_get(*, user, pk, capability: str = VIEW) -> Volunteer:
    return Volunteer.objects.select_related("grid", "team").get_for(
        user, capability, pk=pk, missing=NotFound("volunteer_not_found", _("No such volunteer."))
    )


def wish_list(*, user, status: str = "", open_only: bool = False):
    rows = Wish.objects.restrict(user).select_related("grid", "household", "volunteer__team")
    if status:
        rows = rows.filter(status=status)
    elif open_only:
        rows = rows.filter(status__in=OPEN_WISHES)
    return rows.order_by("status", "created_at", "id")


def wish_get(*, user, pk, capability: str = VIEW) -> Wish:
    return Wish.objects.select_related("grid", "household", "volunteer__grid", "person").get_for(
        user, capability, pk=pk, missing=NotFound("wish_not_found", _("No such wish."))
    )


def household_wishes(household: Household):
    """A household's wishes on its personal link, the open ones and the recent ones."""
    recent = timezone.now() - dt.timedelta(days=30)
    return (
        Wish.objects.filter(household=household)
        .filter(Q(status__in=OPEN_WISHES) | Q(created_at__gte=recent))
        .select_related("volunteer__team")
        .order_by("-created_at")[:20]
    )


def community_grids(user, capability: str = MANAGE):
    """The communities where the user holds `capability` (their teams' sign-up QRs)."""
    return [
        node
        for node in GridNode.objects.restrict(user, capability).filter(level=GridLevel.COMMUNITY).order_by("path")
        if allows(user, capability, node.path)
    ]
