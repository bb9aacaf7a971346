from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.views.decorators.http import require_POST

from epigrid.core import lists
from epigrid.core.capabilities import Capability
from epigrid.core.views import domain_errors, safe_next
from epigrid.grids.selectors import grid_choices, grid_node_get

from . import selectors, services
from .choices import AlertKind, AlertStatus

# "severity": urgent first, then the oldest (the order a list of alerts is worked in).
COLUMNS = [
    lists.Column("severity", _l("Severity"), ("-severity", "raised_at")),
    lists.Column("raised", _l("Raised"), ("raised_at",)),
    lists.Column("kind", _l("Kind"), ("kind", "raised_at")),
    lists.Column("grid", _l("Grid"), ("grid__path", "raised_at")),
]
FILTERS = ("grid", "status", "kind", "from", "to")


@login_required
@domain_errors
def alert_list(request):
    mine = request.GET.get("mine") == "1"
    status = request.GET.get("status", "")
    if request.GET.get("all") == "1":  # the older "including resolved" link
        status = "any"
    code = request.GET.get("grid", "")
    grid = grid_node_get(user=request.user, code=code) if code else None
    kind = request.GET.get("kind", "")
    rows = selectors.alert_list(
        user=request.user,
        mine=mine,
        unresolved=status == "",
        kind=kind if kind in AlertKind.values else "",
        grid_path=grid.path if grid else "",
    )
    if status in AlertStatus.values:
        rows = rows.filter(status=status)
    dates, shown = lists.date_range(request, "raised_at")
    sort, order = lists.sort_order(request, COLUMNS, default="severity")
    return render(
        request,
        "alerts/list.html",
        {
            "page": lists.numbered_page(request, rows.filter(**dates).order_by(*order)),
            "mine": mine,
            "grid": grid,
            "grids": grid_choices(user=request.user),
            "status": status,
            "statuses": [("", _("Not resolved")), *AlertStatus.choices, ("any", _("Any status"))],
            "kinds": AlertKind.choices,
            "kind": kind,
            "dates": shown,
            "sort_links": lists.sort_links(request, COLUMNS, sort),
            "filtered": lists.filters_active(request, FILTERS),
            "keep": [("mine", "1")] if mine else [],
        },
    )


@login_required
@require_POST
@domain_errors
def alert_move(request, pk, action):
    alert = selectors.alert_get(user=request.user, pk=pk, capability=Capability.HANDLE_ALERTS)
    if action == "acknowledge":
        services.alert_acknowledge(alert=alert, principal=request.user)
    else:
        services.alert_resolve(alert=alert, resolution=request.POST.get("resolution", ""), principal=request.user)
        messages.success(request, _("Alert resolved."))
    return redirect(safe_next(request, "alerts:list"))
