"""After release ("1": residents first, SPEC "3" §5): when a control order is released
("order_ended") or an epidemic point's compound reopens ("compound_reopened"), the system makes
the follow-up, inside the releasing transaction (all or nothing):

- a visit (登门慰问) of the household — or of the reopened compound — by the community and street
  leaders of the chain (the secretaries of the 社区党委 and the 街道党工委 over it, named in
  `leaders`; owned by the community office), due 3 days after the release;
- for a released person, a 14-day post-release health check owned by the medical liaison of the
  grid (the nearest one up the tree), due 14 days after the release.

Each is made once (`key`). Who completes it, with a date and a note: a visit `manage_teams` over
its grid (community staff, grid heads), a health check `record_health` there (the medical
liaison, grid members)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment
from epigrid.alerts.choices import EscalationLevel
from epigrid.alerts.services import level_owner
from epigrid.control.choices import OrderStatus
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.scoping import VIEW, authorize, system
from epigrid.core.transitions import move
from epigrid.grids.models import GridNode, lineage_paths

from .choices import RESPONSIBLE_ROLES, FollowUpKind, FollowUpStatus, OrgKind
from .models import FollowUp, PartyMember
from .volunteers import _text

VISIT_DAYS = 3
HEALTH_CHECK_DAYS = 14
CAPABILITY = {FollowUpKind.VISIT: Capability.MANAGE_TEAMS, FollowUpKind.HEALTH_CHECK: Capability.RECORD_HEALTH}
FOLLOWUP_CAPABILITIES = {Capability.MANAGE_TEAMS}


def _principal(cause):
    return system("system:release-followup", FOLLOWUP_CAPABILITIES, cause=cause)


def chain_leaders(path: str) -> str:
    """The community and street leaders of the chain over `path`: the secretaries of the 社区党委
    and the 街道党工委 (names, nearest first)."""
    members = (
        PartyMember.objects.active()
        .filter(
            org__grid__path__in=lineage_paths(path),
            org__dissolved_at__isnull=True,
            org__kind__in=(OrgKind.COMMUNITY_COMMITTEE, OrgKind.STREET_COMMITTEE),
            role__in=RESPONSIBLE_ROLES,
        )
        .select_related("person", "org")
        .order_by("-org__grid__depth")
    )
    return "、".join(f"{m.person.name}（{m.org.name}）" for m in members)[:200]


def medical_liaison(path: str):
    paths = lineage_paths(path)
    rows = (
        GridAssignment.objects.active()
        .filter(node__path__in=paths, role=Role.MEDICAL_LIAISON)
        .select_related("user", "node")
        .order_by("-node__depth", "id")
    )
    row = rows.first()
    return row.user if row else None


def _create(*, kind, key, grid, released_on, household=None, person=None, owner=None, leaders="", principal):
    if FollowUp.objects.filter(key=key).exists():
        return None
    days = VISIT_DAYS if kind == FollowUpKind.VISIT else HEALTH_CHECK_DAYS
    row = FollowUp.objects.create(
        kind=kind,
        key=key,
        grid=grid,
        household=household,
        person=person,
        released_on=released_on,
        due_on=released_on + dt.timedelta(days=days),
        leaders=leaders,
        owner=owner,
    )
    audit.record(
        principal=principal,
        action="followup.create",
        obj=row,
        grid_path=grid.path,
        changes={"kind": [None, kind], "key": [None, key]},
    )
    return row


def followups_on_order_ended(*, order, cause) -> None:
    """ "order_ended": a released order brings a visit of the household and the person's 14-day
    health check (a transferred order does not: the person is still under a measure)."""
    if order.status != OrderStatus.RELEASED:
        return
    principal = _principal(cause)
    person = order.person
    released_on = timezone.localdate(order.released_at or timezone.now())
    household = person.household
    grid = household.grid if household else person.grid
    with transaction.atomic():
        if household is not None:
            _create(
                kind=FollowUpKind.VISIT,
                key=f"visit:household:{household.pk}:{released_on.isoformat()}",
                grid=grid,
                household=household,
                person=person,
                released_on=released_on,
                owner=level_owner(level=EscalationLevel.COMMUNITY, grid_path=grid.path),
                leaders=chain_leaders(grid.path),
                principal=principal,
            )
        _create(
            kind=FollowUpKind.HEALTH_CHECK,
            key=f"health:order:{order.pk}",
            grid=person.grid,
            household=household,
            person=person,
            released_on=released_on,
            owner=medical_liaison(person.grid.path),
            principal=principal,
        )


def followups_on_compound_reopened(*, grid: GridNode, cause) -> None:
    """ "compound_reopened": the released epidemic point's compound gets a visit by the leaders."""
    principal = _principal(cause)
    released_on = timezone.localdate()
    _create(
        kind=FollowUpKind.VISIT,
        key=f"visit:compound:{grid.pk}:{released_on.isoformat()}",
        grid=grid,
        released_on=released_on,
        owner=level_owner(level=EscalationLevel.COMMUNITY, grid_path=grid.path),
        leaders=chain_leaders(grid.path),
        principal=principal,
    )


def followup_done(*, followup: FollowUp, done_on: dt.date | None = None, note: str = "", principal) -> FollowUp:
    """Done, with the date it was done (today by default, not in the future) and a note."""
    authorize(principal, CAPABILITY[followup.kind], followup.grid.path)
    done_on = done_on or timezone.localdate()
    if done_on > timezone.localdate() or done_on < followup.released_on:
        raise DomainError("done_on_invalid", _("Give a date between the release and today."), field="done_on")
    note = _text(note, field="note", required=followup.kind == FollowUpKind.VISIT, limit=500)
    return move(followup, FollowUpStatus.DONE, principal=principal, fields={"done_on": done_on, "note": note})


# ---------------------------------------------------------------- reading


def followup_list(*, user, status: str = FollowUpStatus.OPEN):
    rows = FollowUp.objects.restrict(user).select_related("grid", "household", "person", "owner")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("status", "due_on", "id")


def followup_get(*, user, pk, capability: str = VIEW) -> FollowUp:
    return FollowUp.objects.select_related("grid", "household", "person").get_for(
        user, capability, pk=pk, missing=NotFound("followup_not_found", _("No such follow-up."))
    )


def consequences(action: str, obj) -> list[str]:
    """ "consequences": what the release will set, for the confirm step (reads only)."""
    if action != "order_release":
        return []
    text = _("%(name)s gets a visit by the chain's leaders within %(v)s days and a %(h)s-day health check.")
    return [text % {"name": obj.person.name, "v": VISIT_DAYS, "h": HEALTH_CHECK_DAYS}]
