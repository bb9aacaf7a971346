from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.capabilities import Capability
from epigrid.core.views import domain_errors, paginate, safe_next

from . import selectors, services


@login_required
def alert_list(request):
    mine = request.GET.get("mine") == "1"
    rows = selectors.alert_list(user=request.user, mine=mine, unresolved=request.GET.get("all") != "1")
    return render(request, "alerts/list.html", {"page": paginate(request, rows), "mine": mine})


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
