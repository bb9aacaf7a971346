"""Notices to households (告知书, docs/method.md "3", SPEC "3" §4): the community office issues a
notice for a grid subtree or for a compound under closed management (the notice on closing the
compound); each affected household sees it on its residents' personal links with a "read"
button, and the notice's page counts the read receipts per grid. A notice with a link is
material pushed to the households (a video, a booklet); `audience` may narrow it to the
households under home quarantine.

A household under home quarantine that has not read a notice meant for it
settings.NOTICE_UNREAD_ALERT_HOURS after issue raises one alert to its liaison (the sweep
`notices_unread`; one alert per notice and household, by its dedup key).

Who does what: issuing is `manage_teams` over the notice's grid (the community's secretary and
staff, the subdistrict, the command center, a grid head for their grid); whoever sees the grid
reads the notice and its counts; reading is the resident's own link (the token names the person)."""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, EscalationLevel
from epigrid.alerts.models import Alert
from epigrid.alerts.services import NewAlert, alerts_raise
from epigrid.control.choices import OrderKind
from epigrid.control.models import ControlOrder
from epigrid.control.selectors import liaisons_for
from epigrid.core import audit, extensions
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.scoping import VIEW, SystemPrincipal, authorize, subtree_q, system, user_of
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode, compound_path, within
from epigrid.people.models import Household, Person

from .choices import NoticeAudience, NoticeScope
from .models import Notice, NoticeRead
from .volunteers import _text

MANAGE = Capability.MANAGE_TEAMS
# The resident's own link marking a notice read (the token names the person).
RESIDENT_NOTICE = SystemPrincipal("system:resident-notice", set())
NOTICE_WATCH = system("system:notice-watch", {Capability.HANDLE_ALERTS})
# How long a notice stays on the personal link, and is watched for unread quarantined households.
NOTICE_DAYS = 30


def closed_compounds():
    """The compounds under closed management, as the emergency response says ("closed_compounds")."""
    closed = Q(pk__in=[])
    for compounds in extensions.get("closed_compounds"):
        closed |= Q(pk__in=compounds().values("pk"))
    return GridNode.objects.filter(closed)


def _link(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 500:
        raise DomainError("link_too_long", _("At most %(n)s characters."), field="link", params={"n": 500})
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise DomainError(
            "link_invalid", _("Give a web address starting with http:// or https://."), field="link"
        ) from None
    return value


def notice_issue(
    *,
    grid: GridNode,
    title: str,
    text: str = "",
    link: str = "",
    audience: str = NoticeAudience.ALL,
    scope: str = NoticeScope.GRID,
    task=None,
    principal,
) -> Notice:
    """Issue a notice for the households under `grid` (scope `closed_compound`: `grid` must be a
    compound under closed management now). From an emergency `task` (张贴告知书): the households
    it concerns, `grid` its grid or a node under it; the notice is shown under the task."""
    authorize(principal, MANAGE, grid.path)
    if task is not None and not within(grid.path, task.grid.path):
        raise DomainError(
            "notice_task_grid", _("A notice from a task is for the task's grid or a grid under it."), field="grid"
        )
    if grid.level in (GridLevel.THEMATIC,) or (grid.level == GridLevel.SUBDISTRICT and scope != NoticeScope.GRID):
        raise DomainError("notice_grid", _("Choose a community, a compound grid or a building."), field="grid")
    if audience not in NoticeAudience.values:
        raise DomainError("notice_audience", _("Choose who the notice is for."), field="audience")
    if scope not in NoticeScope.values:
        raise DomainError("notice_scope", _("Choose who the notice is for."), field="scope")
    if scope == NoticeScope.CLOSED_COMPOUND and not closed_compounds().filter(pk=grid.pk).exists():
        raise DomainError("compound_not_closed", _("This compound is not under closed management."), field="grid")
    title = _text(title, field="title", required=True, limit=100)
    text = (text or "").strip()
    if len(text) > 5000:
        raise DomainError("text_too_long", _("At most %(n)s characters."), field="text", params={"n": 5000})
    link = _link(link)
    if not text and not link:
        raise DomainError("notice_empty", _("Write the notice, or give the link to the material."), field="text")
    with transaction.atomic():
        notice = Notice.objects.create(
            grid=grid,
            scope=scope,
            audience=audience,
            title=title,
            text=text,
            link=link,
            task=task,
            issued_by=user_of(principal),
        )
        audit.record(
            principal=principal,
            action="notice.issue",
            obj=notice,
            grid_path=grid.path,
            changes={
                "title": [None, title],
                "audience": [None, audience],
                "scope": [None, scope],
                **({"task": [None, task.pk]} if task is not None else {}),
            },
        )
    return notice


def _tasks():
    # The task's model through the notice's relation: mobilization does not import response.
    return Notice._meta.get_field("task").related_model.objects


def task_get(*, user, pk):
    """An emergency task in the user's sight (404 otherwise)."""
    return _tasks().select_related("grid", "activation").get_for(
        user, VIEW, pk=pk, missing=NotFound("task_not_found", _("No such task."))
    )


def task_notices(task):
    return Notice.objects.filter(task=task).select_related("grid").order_by("-issued_at", "-id")


def _quarantined_households(path: str):
    """Households under `path` with someone under home quarantine now."""
    return (
        ControlOrder.objects.open()
        .filter(subtree_q("grid__path", path), kind=OrderKind.HOME_QUARANTINE, person__household__isnull=False)
        .values("person__household")
    )


def affected_households(notice: Notice):
    rows = Household.objects.filter(subtree_q("grid__path", notice.grid.path), archived_at__isnull=True)
    if notice.audience == NoticeAudience.QUARANTINED:
        rows = rows.filter(pk__in=_quarantined_households(notice.grid.path))
    return rows


def notices_for(person: Person):
    """The recent notices meant for the person's household, newest first, with `read_at` set."""
    if person.household_id is None:
        return []
    household = person.household
    since = timezone.now() - dt.timedelta(days=NOTICE_DAYS)
    paths = household.grid.lineage_paths
    rows = list(
        Notice.objects.filter(grid__path__in=paths, issued_at__gte=since)
        .select_related("grid")
        .order_by("-issued_at")[:20]
    )
    quarantined = None
    reads = dict(NoticeRead.objects.filter(household=household, notice__in=rows).values_list("notice_id", "read_at"))
    shown = []
    for notice in rows:
        if notice.audience == NoticeAudience.QUARANTINED:
            if quarantined is None:
                quarantined = (
                    ControlOrder.objects.open()
                    .filter(kind=OrderKind.HOME_QUARANTINE, person__household=household)
                    .exists()
                )
            if not quarantined:
                continue
        notice.read_at = reads.get(notice.pk)
        shown.append(notice)
    return shown


def notice_read(*, notice: Notice, person: Person) -> NoticeRead:
    """The resident taps "read": the household's receipt, once (a second tap changes nothing). A
    notice not meant for the household is not found."""
    if person.household_id is None or notice.pk not in {n.pk for n in notices_for(person)}:
        raise NotFound("notice_not_found", _("No such notice."))
    household = person.household
    earlier = NoticeRead.objects.filter(notice=notice, household=household).first()
    if earlier is not None:
        return earlier
    try:
        with transaction.atomic():
            receipt = NoticeRead.objects.create(notice=notice, household=household, grid=household.grid, person=person)
            audit.record(
                principal=RESIDENT_NOTICE,
                action="notice.read",
                obj=notice,
                grid_path=household.grid.path,
                changes={"household": [None, household.pk]},
            )
    except IntegrityError:  # a concurrent tap of the same household
        return NoticeRead.objects.get(notice=notice, household=household)
    return receipt


def read_counts(notice: Notice) -> list[dict]:
    """Per compound grid under the notice: households meant, households that read it."""
    households = list(affected_households(notice).select_related("grid"))
    read = set(NoticeRead.objects.filter(notice=notice).values_list("household_id", flat=True))
    by_grid: dict[str, dict] = {}
    for household in households:
        key = compound_path(household.grid.path) or household.grid.path
        row = by_grid.setdefault(key, {"path": key, "households": 0, "read": 0})
        row["households"] += 1
        row["read"] += household.pk in read
    names = dict(GridNode.objects.filter(path__in=list(by_grid)).values_list("path", "name"))
    codes = dict(GridNode.objects.filter(path__in=list(by_grid)).values_list("path", "code"))
    for row in by_grid.values():
        row["name"], row["code"] = names.get(row["path"], ""), codes.get(row["path"], "")
        row["unread"] = row["households"] - row["read"]
    return sorted(by_grid.values(), key=lambda r: r["path"])


def notices_unread(*, now: dt.datetime | None = None) -> int:
    """The sweep: a household under home quarantine that has not read a notice meant for it
    settings.NOTICE_UNREAD_ALERT_HOURS after issue raises one alert to its liaison.

    The newest notices first; a notice's households already alerted are not looked at again, so
    the next run reaches the rest. All alerts are raised together, last: raising them locks the
    audit chain's head to the commit, and a raise per notice held every audited write in the
    city (gate scans, reports) through the other notices' reads."""
    now = now or timezone.now()
    late = now - dt.timedelta(hours=settings.NOTICE_UNREAD_ALERT_HOURS)
    notices = Notice.objects.filter(issued_at__lt=late, issued_at__gte=now - dt.timedelta(days=NOTICE_DAYS))
    alerts = []
    for notice in notices.select_related("grid").order_by("-issued_at", "-pk")[:200]:
        read = NoticeRead.objects.filter(notice=notice).values("household_id")
        alerted = Alert.objects.filter(
            dedup_key=Concat(Value(f"notice:{notice.pk}:"), Cast(OuterRef("person__household_id"), CharField()))
        )
        orders = (
            ControlOrder.objects.open()
            .filter(
                subtree_q("grid__path", notice.grid.path),
                kind=OrderKind.HOME_QUARANTINE,
                person__household__isnull=False,
                person__household__archived_at__isnull=True,
            )
            .exclude(person__household__in=read)
            .exclude(Exists(alerted))
            .order_by("person__household_id", "id")
            .values_list(
                "person_id",
                "person__household_id",
                "person__household__grid_id",
                "person__household__grid__path",
                "person__grid__path",
                "person__household__address",
            )
        )
        first = {}  # household -> its first order's row
        for row in orders[:2000]:
            first.setdefault(row[1], row)
        owners = liaisons_for([(person, household, path) for person, household, _, _, path, _ in first.values()])
        alerts += [
            NewAlert(
                kind=AlertKind.NOTICE_UNREAD,
                dedup_key=f"notice:{notice.pk}:{household}",
                grid_id=grid_id,
                grid_path=grid_path,
                person_id=person,
                owner_id=owners.get(person),
                level=EscalationLevel.LIAISON,
                detail={
                    "notice": notice.pk,
                    "notice_title": notice.title,
                    "household": address,
                    "issued_at": notice.issued_at.isoformat(),
                },
            )
            for person, household, grid_id, grid_path, _, address in first.values()
        ]
    return len(alerts_raise(alerts=alerts, principal=NOTICE_WATCH, now=now))


UNREAD_SWEEP = ("notices_unread", notices_unread)


# ---------------------------------------------------------------- reading


def notice_list(*, user):
    return Notice.objects.restrict(user).select_related("grid").order_by("-issued_at", "-id")


def notice_get(*, user, pk, capability: str = VIEW) -> Notice:
    return Notice.objects.select_related("grid", "issued_by").get_for(
        user, capability, pk=pk, missing=NotFound("notice_not_found", _("No such notice."))
    )
