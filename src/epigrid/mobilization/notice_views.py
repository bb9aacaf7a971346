"""Pages of the notices to households (告知书): the notices in sight with the form to issue one
(for a grid, or a compound under closed management; a link makes it material pushed to the
households), a notice with its read receipts per grid, and the panel on the resident's link."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_node_get
from epigrid.health.services import resident_link_person, resident_link_throttle

from . import notices
from .choices import NoticeAudience, NoticeScope
from .models import Notice

GRID_CHOICES = 300


@login_required
@domain_errors
def notice_list(request):
    """告知书: the notices of the grids in sight, newest first; where the user may, a form to issue
    one for a grid (community, compound, building) or a compound under closed management."""
    if request.method == "POST":
        scope = request.POST.get("scope", NoticeScope.GRID)
        field = "compound" if scope == NoticeScope.CLOSED_COMPOUND else "grid"
        grid = grid_node_get(user=request.user, code=request.POST.get(field, "").strip())
        notice = notices.notice_issue(
            grid=grid,
            scope=scope,
            audience=request.POST.get("audience", NoticeAudience.ALL),
            title=request.POST.get("title", ""),
            text=request.POST.get("text", ""),
            link=request.POST.get("link", ""),
            principal=request.user,
        )
        messages.success(request, _("The notice is issued: %(title)s") % {"title": notice.title})
        return redirect("mobilization:notice", pk=notice.pk)
    grids = [
        g
        for g in GridNode.objects.restrict(request.user, notices.MANAGE)
        .filter(level__in=["community", "grid", "building"])
        .order_by("path")[:GRID_CHOICES]
        if allows(request.user, notices.MANAGE, g.path)
    ]
    closed = [g for g in notices.closed_compounds().order_by("path") if allows(request.user, notices.MANAGE, g.path)]
    return render(
        request,
        "mobilization/notices.html",
        {
            "notices": notices.notice_list(user=request.user)[:200],
            "grids": grids,
            "closed": closed,
            "audiences": NoticeAudience,
        },
    )


@login_required
@domain_errors
def notice(request, pk):
    """A notice: its text or link, and per grid how many households it is meant for and how many read it."""
    obj = notices.notice_get(user=request.user, pk=pk)
    rows = [r for r in notices.read_counts(obj) if allows(request.user, "view", r["path"])]
    return render(
        request,
        "mobilization/notice.html",
        {
            "notice": obj,
            "rows": rows,
            "households": sum(r["households"] for r in rows),
            "read": sum(r["read"] for r in rows),
        },
    )


# ---------------------------------------------------------------- the resident's personal link


def resident_notices_panel(request, person, token):
    """On the personal-link page: the notices meant for the household, each with "read"."""
    rows = notices.notices_for(person)
    if not rows:
        return None
    return "mobilization/_resident_notices.html", {"token": token, "notices": rows}


def resident_notice_read(request, token, pk):
    person = resident_link_person(token)
    if person is None:
        raise Http404
    if request.method == "POST":
        notice = Notice.objects.select_related("grid").filter(pk=pk).first()
        if notice is None:
            raise Http404
        try:
            resident_link_throttle(request)
            notices.notice_read(notice=notice, person=person)
        except notices.NotFound:
            raise Http404 from None
        except DomainError as exc:
            messages.error(request, exc.render())
        else:
            messages.success(request, _("Thank you: the community knows you have read it."))
    return redirect("resident", token=token)


def task_notice_panel(request, task):
    """Under an emergency task (张贴告知书 and the others): the notices issued from it, and where the
    user may issue one for the task's grid, the form to issue a 告知书 to its households."""
    issued = list(notices.task_notices(task)[:5])
    can_issue = allows(request.user, notices.MANAGE, task.grid.path)
    if not issued and not can_issue:
        return None
    return "mobilization/_task_notices.html", {
        "task": task,
        "issued": issued,
        "can_issue": can_issue,
        "audiences": NoticeAudience,
    }


@login_required
@require_POST
@domain_errors
def task_notice_issue(request, pk):
    """A 告知书 issued from an emergency task to the households of its grid."""
    task = notices.task_get(user=request.user, pk=pk)
    notice = notices.notice_issue(
        grid=task.grid,
        task=task,
        audience=request.POST.get("audience", NoticeAudience.ALL),
        title=request.POST.get("title", ""),
        text=request.POST.get("text", ""),
        link=request.POST.get("link", ""),
        principal=request.user,
    )
    messages.success(request, _("The notice is issued: %(title)s") % {"title": notice.title})
    return redirect("mobilization:notice", pk=notice.pk)
