"""Pages of the follow-ups after release: the visits and 14-day health checks in sight, the
open ones first, each completed with a date and a note."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors, refused_back

from . import followups
from .choices import FollowUpStatus


@login_required
@domain_errors
def followup_list(request):
    show = request.GET.get("status", FollowUpStatus.OPEN)
    if show not in FollowUpStatus.values and show != "all":
        show = FollowUpStatus.OPEN
    rows = list(followups.followup_list(user=request.user, status="" if show == "all" else show)[:300])
    for row in rows:
        row.can_do = row.status == FollowUpStatus.OPEN and allows(
            request.user, followups.CAPABILITY[row.kind], row.grid.path
        )
    return render(
        request,
        "mobilization/followups.html",
        {"followups": rows, "show": show, "statuses": FollowUpStatus, "today": timezone.localdate()},
    )


@login_required
@require_POST
@domain_errors
def followup_done(request, pk):
    row = followups.followup_get(user=request.user, pk=pk)
    back = reverse("mobilization:followups")
    try:
        done_on = None
        if request.POST.get("done_on"):
            try:
                done_on = dt.date.fromisoformat(request.POST["done_on"])
            except ValueError:
                raise DomainError("date_invalid", _("Give the date as YYYY-MM-DD."), field="done_on") from None
        followups.followup_done(
            followup=row, done_on=done_on, note=request.POST.get("note", ""), principal=request.user
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Follow-up recorded."))
    return redirect(back)
