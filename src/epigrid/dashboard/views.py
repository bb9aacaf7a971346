"""The command dashboard (指挥部看板): a node's figures as tiles, its children as a sortable
table, and the charts of its days, all read from the rollup (`rollup.py`)."""

import datetime as dt
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core import audit, replica
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.scoping import EVERYWHERE, allows, grant_paths
from epigrid.core.views import domain_errors, refused_back, safe_next
from epigrid.core.xlsx import write_ledger, xlsx_response
from epigrid.grids import geo
from epigrid.grids.choices import VERTICAL_LEVELS, GridLevel
from epigrid.grids.models import GridNode, lineage_paths
from epigrid.grids.selectors import grid_children, grid_node_get
from epigrid.oversight import inspections, rollup, thresholds
from epigrid.oversight.models import InspectionRound
from epigrid.response.choices import PointStatus
from epigrid.response.models import EpidemicPoint

from . import maps

VIEW_DASHBOARD = Capability.VIEW_DASHBOARD
SET_THRESHOLDS = thresholds.SET_THRESHOLDS
CHART_DAYS = 90  # the charts show at most the last 90 days

# The tiles, in the order of the method: people, control, health, response, gates, oversight.
TILES = [
    "persons",
    "orders_home_quarantine",
    "orders_centralized_quarantine",
    "orders_hospital_isolation",
    "orders_health_monitoring",
    "key_persons_today",
    "readings_today",
    "missed_today",
    "fevers_today",
    "tests_pending",
    "tests_positive",
    "cases_suspected",
    "cases_confirmed",
    "points_open",
    "tasks_overdue",
    "alerts_open",
    "checkpoints_uncovered",
    "rectifications_open",
    "wishes_open",
    "coverage_gaps",
    "omissions_open",
]
# The children table's columns ("completeness" is derived: received ÷ due).
COLUMNS = [
    "persons",
    "orders_home_quarantine",
    "orders_centralized_quarantine",
    "orders_health_monitoring",
    "key_persons_today",
    "fevers_today",
    "missed_today",
    "completeness",
    "cases_confirmed",
    "tasks_overdue",
    "alerts_open",
]
THRESHOLD_FIGURES = thresholds.FIGURES  # every column but the derived completeness


def _label(key: str) -> str:
    if key == "completeness":
        return _("Readings complete (%)")
    return str(rollup.CURRENT_KEYS[key].label)


def _completeness(values: dict[str, int]) -> int | None:
    due = values.get("readings_due_today", 0)
    if not due:
        return None
    return min(100, round(100 * values.get("readings_today", 0) / due))


@login_required
def home(request):
    """The user's highest node with the dashboard (the commander: the subdistrict)."""
    paths = grant_paths(request.user, VIEW_DASHBOARD)
    nodes = GridNode.objects.exclude(level=GridLevel.THEMATIC)
    if paths is not EVERYWHERE:
        nodes = nodes.filter(path__in=paths or [])
    node = nodes.order_by("depth", "path").first()
    if node is None:  # a role without a dashboard (a guard, a volunteer): say so, not an error page
        return render(request, "dashboard/none.html")
    return redirect("dashboard:node", code=node.code)


@login_required
@domain_errors
@replica.from_replica  # its reads on the replica when one is configured and fresh (core/replica.py)
def node_page(request, code):
    node = grid_node_get(user=request.user, code=code, capability=VIEW_DASHBOARD)
    children = list(grid_children(node=node, levels=VERTICAL_LEVELS))
    figures, refreshed = rollup.figures_for([node.pk, *[c.pk for c in children]])
    mine = figures[node.pk]
    with replica.on_primary():  # set on this page a moment ago: the red cells follow at once
        limits = thresholds.thresholds_current()
    today = timezone.localdate()
    first = rollup.first_day(node.pk) or today
    since = max(first, today - dt.timedelta(days=CHART_DAYS - 1))
    series = rollup.series_for(node.pk, keys=rollup.SERIES_KEYS, since=since, until=today)
    days = [since + dt.timedelta(days=i) for i in range((today - since).days + 1)]

    download = request.GET.get("download", "")
    if download:
        return _download(request, node, download, days, series, children, figures, mine)

    tiles = []
    for key in TILES:
        figure = rollup.CURRENT_KEYS[key]
        value = mine.get(key, 0)
        url = ""
        if figure.link:
            name, query = figure.link
            url = reverse(name) + ("?" + query.format(grid=node.code) if query else "")
        extra = ""
        if key == "readings_today":
            extra = _("of %(due)s due") % {"due": mine.get("readings_due_today", 0)}
            share = _completeness(mine)
            if share is not None:
                extra += f" · {share}%"
        tiles.append({"key": key, "label": figure.label, "value": value, "url": url, "extra": extra})

    rows = []
    for child in children:
        values = {key: figures[child.pk].get(key, 0) for key in COLUMNS}
        values["completeness"] = _completeness(figures[child.pk])
        cells = []
        for key in COLUMNS:
            value = values.get(key, 0)
            limit = limits.get(key)
            cells.append({"value": value, "red": limit is not None and value is not None and value >= limit})
        rows.append({"node": child, "values": values, "cells": cells})
    sort = request.GET.get("sort", "")
    descending = request.GET.get("dir", "desc") != "asc"
    if sort in COLUMNS:
        rows.sort(key=lambda r: (r["values"].get(sort) is None, r["values"].get(sort) or 0), reverse=descending)
        if descending:  # keep "no figure" last either way
            rows.sort(key=lambda r: r["values"].get(sort) is None)

    points = (
        EpidemicPoint.objects.restrict(request.user)
        .filter(grid__path__startswith=node.path)
        .exclude(status=PointStatus.RELEASED)
        .select_related("grid")
        .order_by("proposed_release_at", "declared_at")
    )
    now = timezone.now()
    open_points = [
        {
            "point": p,
            "days_left": (timezone.localdate(p.proposed_release_at) - today).days if p.proposed_release_at else None,
            "closed_days": (now - p.declared_at).days,
        }
        for p in points[:20]
    ]

    scores = list(
        inspections.grid_scores(
            InspectionRound.objects.restrict(request.user).filter(
                grid__path__startswith=node.path, completed_at__gte=timezone.now() - dt.timedelta(days=183)
            )
        )[:40]
    )
    outlined = (
        node.boundary
        or GridNode.objects.filter(path__startswith=node.path, depth=node.depth + 1, boundary__isnull=False).exists()
    )
    crumbs = [
        n
        for n in GridNode.objects.filter(path__in=lineage_paths(node.path)).order_by("depth")
        if allows(request.user, VIEW_DASHBOARD, n.path)
    ]
    tip = [mine.get(f"tip_to_control_{h}h", 0) for h in rollup.TIP_TO_CONTROL_HOURS]
    controlled = mine.get("controlled_total", 0)
    chart_data = {
        "days": [d.isoformat() for d in days],
        "series": series,
        "labels": {key: str(s.label) for key, s in rollup.SERIES_KEYS.items()},
        "tip": {
            "labels": [_("≤ %(hours)s h") % {"hours": h} for h in rollup.TIP_TO_CONTROL_HOURS] + [_("later")],
            "values": _buckets(tip, controlled),
        },
        "text": {
            "epicurve": _("Cases and key persons by day"),
            "completeness": _("Follow-up completeness by day (%)"),
            "orders": _("Orders started and ended by day"),
            "tip": _("Tip to control: key persons by time taken"),
            "completeness_series": _("Readings complete (%)"),
            "count": _("Key persons"),
        },
    }
    return render(
        request,
        "dashboard/node.html",
        {
            "node": node,
            "crumbs": crumbs,
            "tiles": tiles,
            "refreshed": refreshed,
            "replica": replica.serving(),  # where the figures were read: how far behind the primary
            "columns": [{"key": key, "label": _label(key)} for key in COLUMNS],
            "rows": rows,
            "sort": sort,
            "descending": descending,
            "open_points": open_points,
            "chart_data": chart_data,
            "table_days": _day_rows(days, series),
            "series_labels": [s.label for s in rollup.SERIES],
            "tip_rows": list(zip(chart_data["tip"]["labels"], chart_data["tip"]["values"], strict=True)),
            "scores": scores,
            "can_set_thresholds": allows(request.user, SET_THRESHOLDS),
            "map_data": {
                **maps.map_data(request.user, node),
                "figure": maps.COLOUR_BY[0],
                "tiles": settings.MAP_TILE_URL,
                "attribution": settings.MAP_TILE_ATTRIBUTION,
                "labels": {"point": _("Epidemic point"), "checkpoint": _("Checkpoint")},
            }
            if outlined
            else None,
            "thresholds": [
                {"key": key, "label": _label(key), "value": limits.get(key, "")} for key in THRESHOLD_FIGURES
            ],
        },
    )


def _day_rows(days, series) -> str:
    """The last 31 days' numbers as table rows, newest first (built here: ~250 cells a page)."""
    rows = list(zip(days, *[series[k] for k in rollup.SERIES_KEYS], strict=True))[::-1][:31]
    return format_html_join(
        "", "<tr><td>{}</td>{}</tr>", ((d.strftime("%m-%d"), _cells(values)) for d, *values in rows)
    )


def _cells(values) -> str:
    return format_html_join("", "<td>{}</td>", ((v,) for v in values))


def _buckets(cumulative: list[int], total: int) -> list[int]:
    """Cumulative counts (≤2 h, ≤6 h…) as counts per bucket, the last bucket "later"."""
    out, before = [], 0
    for n in cumulative:
        out.append(n - before)
        before = n
    out.append(max(0, total - before))
    return out


def _download(request, node, which, days, series, children, figures, mine):
    """Each chart's numbers (and the children table) as .xlsx."""
    if which == "days":
        headers = [_("Day"), *[str(s.label) for s in rollup.SERIES]]
        rows = [[d.isoformat(), *[series[s.key][i] for s in rollup.SERIES]] for i, d in enumerate(days)]
    elif which == "tip":
        labels = [_("≤ %(hours)s h") % {"hours": h} for h in rollup.TIP_TO_CONTROL_HOURS] + [_("later")]
        tip = [mine.get(f"tip_to_control_{h}h", 0) for h in rollup.TIP_TO_CONTROL_HOURS]
        headers = [_("Time from tip to control"), _("Key persons")]
        rows = [[label, n] for label, n in zip(labels, _buckets(tip, mine.get("controlled_total", 0)), strict=True)]
    elif which == "children":
        headers = [_("Code"), _("Grid"), *[_label(k) for k in COLUMNS]]
        rows = []
        for child in children:
            values = dict(figures[child.pk])
            values["completeness"] = _completeness(values)
            rows.append(
                [child.code, child.name, *[values.get(k, 0) if values.get(k) is not None else "" for k in COLUMNS]]
            )
    else:
        return HttpResponseBadRequest(_("Unknown download."))
    out, count = write_ledger(sheet_name=node.name, headers=headers, rows=rows)
    audit.record(
        principal=request.user,
        action="dashboard.export",
        obj=node,
        grid_path=node.path,
        changes={"table": [None, which], "rows": [None, count]},
    )
    return xlsx_response(out, f"dashboard-{node.code}-{which}.xlsx")


@login_required
@require_POST
def thresholds_save(request):
    """Red-from levels of the children table's figures (blank: none), from the dashboard's form
    or the Rules page's panel; back to the page the form is on."""
    back = safe_next(request, "dashboard:home")
    try:
        thresholds.thresholds_save(
            values={key: request.POST.get(key, "") for key in THRESHOLD_FIGURES}, principal=request.user
        )
    except DomainError as exc:
        if isinstance(exc, NotFound | Forbidden):
            raise PermissionDenied from exc  # a global rule: in sight or not, the role does not allow it
        messages.error(request, exc.render())
        return redirect(back)
    messages.success(request, _("Thresholds saved."))
    return redirect(back)


def rules_thresholds_panel(request):
    """The Rules page's panel (the "rules_panels" point): the thresholds of the dashboard's table."""
    return "dashboard/_rules_thresholds.html", {
        "rows": thresholds.thresholds_rows(),
        "can_edit": allows(request.user, thresholds.SET_THRESHOLDS),
    }


@login_required
@domain_errors
def map_page(request, code):
    """网格地图: the node's grids coloured by a figure, epidemic points and checkpoints as markers;
    a click opens the grid's dashboard."""
    node = grid_node_get(user=request.user, code=code, capability=VIEW_DASHBOARD)
    can_draw = allows(request.user, Capability.MANAGE_GRIDS, node.path)
    figure = request.GET.get("figure", maps.COLOUR_BY[0])
    if figure not in maps.COLOUR_BY:
        figure = maps.COLOUR_BY[0]
    data = maps.map_data(request.user, node)
    return render(
        request,
        "dashboard/map.html",
        {
            "node": node,
            "figure": figure,
            "choices": [(key, _label(key)) for key in maps.COLOUR_BY],
            "map_data": {
                **data,
                "figure": figure,
                "tiles": settings.MAP_TILE_URL,
                "attribution": settings.MAP_TILE_ATTRIBUTION,
                "labels": {"point": _("Epidemic point"), "checkpoint": _("Checkpoint")},
                # The node's own outline, to draw or edit (those who edit the grid tree there).
                "edit": {"code": node.code, "boundary": node.boundary, "around": _around(node)} if can_draw else None,
            },
            "has_outlines": bool(data["features"]),
            "can_draw": can_draw,
        },
    )


def _around(node):
    """Where to put the map for a node without an outline yet: its nearest ancestor's outline."""
    for ancestor in GridNode.objects.filter(path__in=lineage_paths(node.path)).exclude(pk=node.pk).order_by("-depth"):
        if ancestor.boundary:
            return ancestor.boundary
    return None


@login_required
@require_POST
@domain_errors
def outline_save(request, code):
    """The outline drawn on the map page (a GeoJSON geometry in the form's `boundary`)."""
    node = grid_node_get(user=request.user, code=code, capability=Capability.MANAGE_GRIDS)
    back = reverse("dashboard:map", args=[node.code])
    try:
        boundary = json.loads(request.POST.get("boundary", ""))
    except ValueError:
        boundary = None
    try:
        geo.grid_boundary_save(node=node, boundary=boundary, principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Outline of %(name)s saved.") % {"name": node.name})
    return redirect(back)
