"""The per-node rollup behind the command dashboard.

Each figure is one grouped query over its source (counted per leaf grid path), rolled up to every
ancestor in Python over grid nodes (O(nodes × depth), never per person), and written as
`NodeFigure` rows (current) or `NodeDay` rows (a series by day). The sweep refreshes the current
figures and the last two days every run; older days are written once (backfill) and then only
when `epigrid dashboard --all` asks. A dashboard view reads its node's rows and its children's:
a few dozen rows whatever the size of the city.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.alerts.choices import AlertKind, AlertStatus
from epigrid.alerts.models import Alert
from epigrid.control.choices import OPEN_ORDER_STATUSES, OrderKind
from epigrid.control.models import ControlOrder, KeyPerson
from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.scoping import SystemPrincipal
from epigrid.gates.choices import Verdict
from epigrid.gates.models import Passage
from epigrid.gates.services import uncovered_checkpoints
from epigrid.grids.models import GridNode, lineage_paths
from epigrid.health.choices import CaseStatus, SampleResult
from epigrid.health.models import Case, Sample, TemperatureReport
from epigrid.health.services import MONITORED_KINDS, policy, slot_moment
from epigrid.mobilization.choices import WishStatus
from epigrid.mobilization.models import Wish
from epigrid.people.models import Person
from epigrid.response.choices import PointStatus, TaskStatus
from epigrid.response.models import EpidemicPoint, Task

from .choices import OmissionStatus, RectificationStatus
from .models import NodeDay, NodeFigure, OmissionFinding, Rectification
from .selectors import coverage_audit

ROLLUP = SystemPrincipal("system:dashboard-rollup", ())
AUDITOR = SystemPrincipal("system:dashboard-rollup", (Capability.VIEW,))
# Tip → control: how long from the first tip to the order, cumulative buckets (hours).
TIP_TO_CONTROL_HOURS = (2, 6, 24, 72)


@dataclass(frozen=True)
class Figure:
    key: str
    label: Any
    # (now) -> rows of (leaf grid path, count); one grouped query.
    rows: Any
    # The list behind the tile: (url name, query) where "{grid}" becomes the node's code.
    link: tuple[str, str] | None = None


def _grouped(queryset, path: str = "grid__path"):
    return queryset.values(path).annotate(n=Count("*")).values_list(path, "n")


def _day_start(now: dt.datetime) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time()))


def _open_orders(kind: str):
    return lambda now: _grouped(ControlOrder.objects.filter(status__in=OPEN_ORDER_STATUSES, kind=kind))


def _readings_due(now: dt.datetime):
    """Slot readings due today so far: for each slot whose window has closed, the persons under
    a monitored order that started by the slot (the missed-slot sweep's own rule)."""
    pol = policy()
    today = timezone.localdate(now)
    totals: dict[str, int] = defaultdict(int)
    for slot in range(len(pol.slot_times)):
        at = slot_moment(today, slot, pol)
        if now < at + dt.timedelta(minutes=pol.window_minutes):
            continue
        orders = ControlOrder.objects.filter(
            status__in=OPEN_ORDER_STATUSES, kind__in=MONITORED_KINDS, starts_at__lte=at
        )
        for path, n in _grouped(orders):
            totals[path] += n
    return totals.items()


def _tip_to_control(hours: int | None):
    def rows(now):
        controlled = KeyPerson.objects.filter(controlled_at__isnull=False)
        if hours is not None:
            controlled = controlled.filter(controlled_at__lte=F("tip__reported_at") + dt.timedelta(hours=hours))
        return _grouped(controlled)

    return rows


def _uncovered_checkpoints(now: dt.datetime):
    """Open checkpoints with an hour of the next 24 without anyone on duty, counted where each
    lies: the gate's own rule (gates.services.uncovered_checkpoints, volunteers' 值守 included)."""
    totals: dict[str, int] = defaultdict(int)
    for path in uncovered_checkpoints(start=now, hours=24).values():
        totals[path] += 1
    return totals.items()


def _coverage_gaps(now: dt.datetime):
    """The 零疏漏 audit's gaps, counted where each lies (the audit as the system sees it): one
    grouped query per kind of gap, no finding built."""
    by_path: dict[str, int] = {}
    coverage_audit(user=AUDITOR, limit=0, gaps_by_path=by_path)
    return [(path, n) for path, n in by_path.items() if path]


def _open_wishes(now: dt.datetime):
    return _grouped(Wish.objects.filter(status__in=(WishStatus.OPEN, WishStatus.CLAIMED)))


CURRENT: list[Figure] = [
    Figure(
        "persons",
        _("Residents"),
        lambda now: _grouped(Person.objects.filter(archived_at__isnull=True)),
        ("people:persons", "grid={grid}"),
    ),
    *[
        Figure(
            f"orders_{kind.value}",
            kind.label,
            _open_orders(kind.value),
            ("control:orders", f"kind={kind.value}&grid={{grid}}"),
        )
        for kind in OrderKind
    ],
    Figure(
        "key_persons_today",
        _("New key persons today"),
        lambda now: _grouped(KeyPerson.objects.filter(created_at__gte=_day_start(now))),
        ("control:key_persons", "grid={grid}"),
    ),
    Figure("readings_due_today", _("Readings due today"), _readings_due),
    Figure(
        "readings_today",
        _("Readings received today"),
        lambda now: _grouped(TemperatureReport.objects.filter(local_date=timezone.localdate(now), slot__isnull=False)),
    ),
    Figure(
        "missed_today",
        _("Readings missed today"),
        lambda now: _grouped(
            Alert.objects.filter(
                kind=AlertKind.MISSED_SLOT, dedup_key__startswith=f"missed:{timezone.localdate(now).isoformat()}:"
            )
        ),
        ("alerts:list", "kind=missed_slot&grid={grid}"),
    ),
    Figure(
        "fevers_today",
        _("Fevers today"),
        lambda now: _grouped(TemperatureReport.objects.filter(local_date=timezone.localdate(now), is_fever=True)),
        ("alerts:list", "kind=fever&grid={grid}"),
    ),
    Figure(
        "tests_pending",
        _("Tests pending"),
        lambda now: _grouped(Sample.objects.filter(result=SampleResult.PENDING)),
        ("health:test_lists", ""),
    ),
    Figure(
        "tests_positive",
        _("Positive tests"),
        lambda now: _grouped(Sample.objects.filter(result=SampleResult.POSITIVE)),
        ("alerts:list", "kind=positive_test&grid={grid}"),
    ),
    Figure(
        "cases_suspected",
        _("Suspected cases"),
        lambda now: _grouped(Case.objects.filter(status=CaseStatus.SUSPECTED)),
        ("response:list", ""),
    ),
    Figure(
        "cases_confirmed",
        _("Confirmed cases"),
        lambda now: _grouped(Case.objects.filter(status=CaseStatus.CONFIRMED)),
        ("response:list", ""),
    ),
    Figure(
        "points_open",
        _("Open epidemic points"),
        lambda now: _grouped(EpidemicPoint.objects.exclude(status=PointStatus.RELEASED)),
        ("response:list", ""),
    ),
    Figure(
        "tasks_overdue",
        _("Emergency tasks overdue"),
        lambda now: _grouped(Task.objects.filter(status=TaskStatus.OPEN, due_at__lt=now)),
        ("alerts:list", "kind=task_overdue&grid={grid}"),
    ),
    Figure(
        "alerts_open",
        _("Open alerts"),
        lambda now: _grouped(Alert.objects.filter(status=AlertStatus.OPEN)),
        ("alerts:list", "grid={grid}"),
    ),
    Figure(
        "checkpoints_uncovered",
        _("Checkpoints without a guard in the next 24 h"),
        _uncovered_checkpoints,
        ("gates:list", ""),
    ),
    Figure(
        "rectifications_open",
        _("Open rectifications"),
        lambda now: _grouped(Rectification.objects.exclude(status=RectificationStatus.CLOSED)),
        ("inspections:rectifications", ""),
    ),
    Figure("coverage_gaps", _("Coverage gaps"), _coverage_gaps, ("oversight:coverage", "grid={grid}")),
    Figure("wishes_open", _("Open wishes"), _open_wishes, ("mobilization:wishes", "")),
    Figure(
        "omissions_open",
        _("Possible omissions to review"),
        lambda now: _grouped(OmissionFinding.objects.filter(status=OmissionStatus.OPEN)),
        ("inspections:omissions", ""),
    ),
    Figure(
        "controlled_total",
        _("Key persons under control"),
        lambda now: _grouped(KeyPerson.objects.filter(controlled_at__isnull=False)),
    ),
    *[
        Figure(
            f"tip_to_control_{hours}h",
            _("Under control within %(hours)s h of the tip") % {"hours": hours},
            _tip_to_control(hours),
        )
        for hours in TIP_TO_CONTROL_HOURS
    ],
]
CURRENT_KEYS = {figure.key: figure for figure in CURRENT}


def _local_day(field: str):
    return TruncDate(field, tzinfo=timezone.get_current_timezone())


def _by_day(queryset, field: str):
    """Rows of (leaf grid path, day, count) for `queryset` grouped on the local day of `field`."""
    day = F(field) if field == "local_date" else _local_day(field)
    return (
        queryset.annotate(day=day)
        .values("grid__path", "day")
        .annotate(n=Count("*"))
        .values_list("grid__path", "day", "n")
    )


@dataclass(frozen=True)
class Series:
    key: str
    label: Any
    # (since) -> rows of (leaf grid path, day, count)
    rows: Any


SERIES: list[Series] = [
    Series(
        "cases",
        _("Confirmed cases"),
        lambda since: _by_day(Case.objects.filter(confirmed_at__gte=since), "confirmed_at"),
    ),
    Series(
        "key_persons",
        _("New key persons"),
        lambda since: _by_day(KeyPerson.objects.filter(created_at__gte=since), "created_at"),
    ),
    Series(
        "orders_started",
        _("Orders started"),
        lambda since: _by_day(ControlOrder.objects.filter(starts_at__gte=since), "starts_at"),
    ),
    Series(
        "orders_ended",
        _("Orders ended"),
        lambda since: _by_day(ControlOrder.objects.filter(released_at__gte=since), "released_at"),
    ),
    Series(
        "readings",
        _("Readings received"),
        lambda since: _by_day(
            TemperatureReport.objects.filter(local_date__gte=timezone.localdate(since), slot__isnull=False),
            "local_date",
        ),
    ),
    Series(
        "missed",
        _("Readings missed"),
        lambda since: _by_day(Alert.objects.filter(kind=AlertKind.MISSED_SLOT, raised_at__gte=since), "raised_at"),
    ),
    Series(
        "fevers",
        _("Fevers"),
        lambda since: _by_day(
            TemperatureReport.objects.filter(local_date__gte=timezone.localdate(since), is_fever=True), "local_date"
        ),
    ),
]
SERIES.extend(
    [
        Series(
            "tasks_done",
            _("Emergency tasks done"),
            lambda since: _by_day(Task.objects.filter(status=TaskStatus.DONE, done_at__gte=since), "done_at"),
        ),
        Series(
            "gate_refusals",
            _("Refused at a checkpoint"),
            lambda since: _by_day(Passage.objects.filter(verdict=Verdict.REFUSED, at__gte=since), "at"),
        ),
    ]
)
SERIES_KEYS = {series.key: series for series in SERIES}


def _node_paths() -> dict[str, int]:
    return dict(GridNode.objects.values_list("path", "pk"))


def refresh(*, now: dt.datetime | None = None, days: int | None = 2) -> int:
    """Recompute every current figure and the series of the last `days` days (None: all of
    them). Runs inside the caller's transaction: readers see the old rows until it commits."""
    now = now or timezone.now()
    nodes = _node_paths()
    current: dict[tuple[int, str], int] = defaultdict(int)
    for figure in CURRENT:
        for path, n in figure.rows(now):
            for ancestor in lineage_paths(path or ""):
                pk = nodes.get(ancestor)
                if pk is not None:
                    current[pk, figure.key] += n
    NodeFigure.objects.all().delete()
    NodeFigure.objects.bulk_create(
        [NodeFigure(node_id=pk, figure=key, value=value, refreshed_at=now) for (pk, key), value in current.items()],
        batch_size=2000,
    )
    if days is None:
        since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    else:
        since = _day_start(now) - dt.timedelta(days=days - 1)
    since_day = timezone.localdate(since)
    daily: dict[tuple[int, str, dt.date], int] = defaultdict(int)
    for series in SERIES:
        for path, day, n in series.rows(since):
            if day is None or day < since_day:
                continue
            for ancestor in lineage_paths(path or ""):
                pk = nodes.get(ancestor)
                if pk is not None:
                    daily[pk, series.key, day] += n
    NodeDay.objects.filter(day__gte=since_day).delete()
    NodeDay.objects.bulk_create(
        [NodeDay(node_id=pk, figure=key, day=day, value=value) for (pk, key, day), value in daily.items()],
        batch_size=2000,
    )
    return len(current) + len(daily)


def rollup_sweep(*, now: dt.datetime | None = None) -> int:
    """The sweep's step: the first run (no series yet) backfills every day."""
    backfill = not NodeDay.objects.exists()
    written = refresh(now=now, days=None if backfill else 2)
    if backfill:
        audit.record(
            principal=ROLLUP,
            action="dashboard.backfill",
            object_type="dashboard.nodeday",
            changes={"rows": [None, written]},
        )
    return written


ROLLUP_SWEEP = ("dashboard_rollup", rollup_sweep)


# ---------------------------------------------------------------- reads


def figures_for(node_ids) -> tuple[dict[int, dict[str, int]], dt.datetime | None]:
    """{node id: {figure: value}} for the nodes (missing figures are 0) and when they were refreshed."""
    result: dict[int, dict[str, int]] = {pk: {} for pk in node_ids}
    refreshed = None
    for node_id, figure, value, at in NodeFigure.objects.filter(node_id__in=list(node_ids)).values_list(
        "node_id", "figure", "value", "refreshed_at"
    ):
        result[node_id][figure] = value
        refreshed = at
    return result, refreshed


def series_for(node_id: int, *, keys, since: dt.date, until: dt.date) -> dict[str, list[int]]:
    """{series: [value per day from `since` to `until`]} for one node (days without a row are 0)."""
    span = (until - since).days + 1
    result = {key: [0] * span for key in keys}
    for figure, day, value in NodeDay.objects.filter(
        node_id=node_id, figure__in=list(keys), day__gte=since, day__lte=until
    ).values_list("figure", "day", "value"):
        result[figure][(day - since).days] = value
    return result


def first_day(node_id: int) -> dt.date | None:
    return NodeDay.objects.filter(node_id=node_id).order_by("day").values_list("day", flat=True).first()
