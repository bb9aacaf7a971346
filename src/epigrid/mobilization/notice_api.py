"""/api/v1/mobilization: notices to households (告知书) with their read receipts per grid; mounted
on the mobilization router."""

import datetime as dt

from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, In
from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.grids.selectors import grid_node_get

from . import notices
from .choices import NoticeAudience, NoticeScope
from .models import Notice

router = Router(tags=["mobilization"])


class NoticeOut(Schema):
    id: int
    grid: str
    scope: NoticeScope
    audience: NoticeAudience
    title: str
    text: str
    link: str
    task_id: int | None
    issued_at: dt.datetime

    @staticmethod
    def from_model(n: Notice) -> dict:
        return {
            "id": n.pk,
            "grid": n.grid.code,
            "scope": n.scope,
            "audience": n.audience,
            "title": n.title,
            "text": n.text,
            "link": n.link,
            "task_id": n.task_id,
            "issued_at": n.issued_at,
        }


class NoticeGridReadsOut(Schema):
    grid: str
    name: str
    households: int
    read: int


class NoticeDetailOut(NoticeOut):
    reads: list[NoticeGridReadsOut]


class NoticeIn(In):
    grid: str | None = None  # required unless `task_id` is given (then the task's grid by default)
    task_id: int | None = None  # issued from this emergency task (张贴告知书): the households it concerns
    title: str
    text: str = ""
    link: str = ""
    audience: NoticeAudience = NoticeAudience.ALL
    scope: NoticeScope = NoticeScope.GRID


@router.get(
    "/mobilization/notices",
    response={200: list[NoticeOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the notices to households (告知书) issued for the grids the "
        "caller sees. Newest first; at most 200; not paged. Reads only: no cascade."
    ),
)
def notice_list(request):
    return [NoticeOut.from_model(n) for n in notices.notice_list(user=request.user)[:200]]


@router.post(
    "/mobilization/notices",
    response={201: NoticeOut, **ERRORS},
    summary="Issue a notice to the households of a grid (告知书)",
    description=(
        "Who may call: a user with `manage_teams` (command center, subdistrict staff, community secretary and "
        "staff, grid heads) over `grid` (403 in sight without it, 404 out of sight). `scope` `closed_compound` "
        "needs a compound under closed management now (400 `compound_not_closed`); `audience` `quarantined` "
        "narrows it to the households under home quarantine. Text or `link` (http/https, 400 `link_invalid`) is "
        "required (400 `notice_empty`). With `task_id` (an emergency task in sight, 404 `task_not_found`) the "
        "notice is issued from that task: `grid` defaults to the task's and must lie under it (400 "
        "`notice_task_grid`); it is shown under the task on the incident page. "
        "Shown on the affected residents' personal links. Audited. No cascade; "
        "the sweep `notices_unread` alerts the liaison of a quarantined household that has not read it after "
        "`EPIGRID_NOTICE_UNREAD_ALERT_HOURS`."
    ),
)
def notice_issue(request, payload: NoticeIn):
    task = notices.task_get(user=request.user, pk=payload.task_id) if payload.task_id else None
    if payload.grid:
        grid = grid_node_get(user=request.user, code=payload.grid)
    elif task is not None:
        grid = task.grid
    else:
        raise DomainError("grid_required", _("Choose the grid."), field="grid")
    notice = notices.notice_issue(
        grid=grid,
        title=payload.title,
        text=payload.text,
        link=payload.link,
        audience=payload.audience,
        scope=payload.scope,
        task=task,
        principal=request.user,
    )
    return Status(201, NoticeOut.from_model(notice))


@router.get(
    "/mobilization/notices/{pk}",
    response={200: NoticeDetailOut, **ERRORS},
    description=(
        "Who may call: any user who sees the notice's grid (404 otherwise); answers the notice and, per compound "
        "grid the caller sees, how many households it is meant for and how many read it. Reads only: no cascade."
    ),
)
def notice_get(request, pk: int):
    notice = notices.notice_get(user=request.user, pk=pk)
    reads = [
        {"grid": r["code"], "name": r["name"], "households": r["households"], "read": r["read"]}
        for r in notices.read_counts(notice)
        if allows(request.user, "view", r["path"])
    ]
    return {**NoticeOut.from_model(notice), "reads": reads}
