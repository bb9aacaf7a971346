"""The command dashboard's figures for other tools (a big screen, the city's platform)."""

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema

from epigrid.core.api import ERRORS, FilterDate, In
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.replica import from_replica
from epigrid.grids.choices import VERTICAL_LEVELS
from epigrid.grids.selectors import grid_children, grid_node_get
from epigrid.oversight import rollup, thresholds

router = Router(tags=["dashboard"])


class ThresholdOut(Schema):
    figure: str
    label: str
    value: int | None  # None: the figure never shows red


class ThresholdsIn(In):
    # {figure: whole number ≥ 0, or null for none}; the figures not named keep theirs.
    thresholds: dict[str, int | None]


@router.get(
    "/dashboard-thresholds",
    response={200: list[ThresholdOut], **ERRORS},
    summary="The dashboard's thresholds: a child node is red in the table from this value",
    description=(
        "Who may call: any signed-in user (configuration, not grid data). Every figure of the dashboard's "
        "children table that may have a threshold, its label in the caller's language, and its value "
        "(null: none). Reads only: no cascade."
    ),
)
def thresholds_list(request):
    return thresholds.thresholds_rows()


@router.put(
    "/dashboard-thresholds",
    response={200: list[ThresholdOut], **ERRORS},
    summary="Set dashboard thresholds (the figures named; null removes one)",
    description=(
        "Who may call: a user with `approve_release` (who sets the rules: the command center, subdistrict "
        "staff, community secretaries); 403 otherwise. An unknown figure (400 `threshold_unknown`) or a "
        "value outside 0–10,000,000 (400 `threshold_invalid`) refuses the whole change. Answers every "
        "threshold after the change. Audited (`dashboard.thresholds`, before and after). No cascade."
    ),
)
def thresholds_put(request, payload: ThresholdsIn):
    thresholds.thresholds_save(values=payload.thresholds, principal=request.user)
    return thresholds.thresholds_rows()


class NodeFiguresOut(Schema):
    code: str
    name: str
    level: str
    figures: dict[str, int]


class DashboardOut(NodeFiguresOut):
    refreshed_at: dt.datetime | None
    children: list[NodeFiguresOut]
    days: list[dt.date]
    series: dict[str, list[int]]


@router.get(
    "/dashboard/{code}",
    response={200: DashboardOut, **ERRORS},
    summary="A grid node's dashboard figures, its children's, and its series by day",
    description=(
        "Who may call: a user with `view_dashboard` over the node (grid members, grid heads, community "
        "and subdistrict staff, the commander, inspectors, medical liaisons); 403 in sight without it, 404 "
        "`grid_not_found` out of sight. `figures` are the subtree's current figures as of `refreshed_at` "
        "(the rollup the sweep keeps; a figure absent is 0); `series` the figures by day from `since` to "
        "`until` (default: the last 30 days, at most 366). Aggregates only, no personal data. Reads only: no cascade."
    ),
)
@from_replica  # read on the replica when one is configured and fresh (core/replica.py)
def dashboard(request, code: str, since: FilterDate | None = None, until: FilterDate | None = None):
    node = grid_node_get(user=request.user, code=code, capability=Capability.VIEW_DASHBOARD)
    until = until or timezone.localdate()
    since = since or until - dt.timedelta(days=29)
    if since > until or (until - since).days > 365:
        raise DomainError("date_range", _("Give since ≤ until, at most 366 days apart."), field="since")
    children = list(grid_children(node=node, levels=VERTICAL_LEVELS))
    figures, refreshed = rollup.figures_for([node.pk, *[c.pk for c in children]])
    return {
        "code": node.code,
        "name": node.name,
        "level": node.level,
        "figures": figures[node.pk],
        "refreshed_at": refreshed,
        "children": [{"code": c.code, "name": c.name, "level": c.level, "figures": figures[c.pk]} for c in children],
        "days": [since + dt.timedelta(days=i) for i in range((until - since).days + 1)],
        "series": rollup.series_for(node.pk, keys=rollup.SERIES_KEYS, since=since, until=until),
    }
