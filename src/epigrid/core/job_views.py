"""The pages of background jobs (core.jobs): one's jobs, one job with its progress bar (polled by
htmx while it runs), its cancel button and, at the end, its report and the file it made."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from . import jobs
from .errors import Conflict
from .views import domain_errors, refused_back

POLL_SECONDS = 1


def _context(request, job) -> dict:
    kind = jobs.kinds().get(job.kind)
    return {
        "job": job,
        "kind_label": kind.label if kind else job.kind,
        "report_template": kind.template if kind else "",
        "makes_file": bool(kind and kind.makes_file),
        "can_cancel": jobs.may_cancel(request.user, job),
        "is_owner": job.created_by_id == request.user.pk,
        "poll_seconds": POLL_SECONDS,
    }


@login_required
@domain_errors
def job_list(request):
    rows = list(jobs.job_list(user=request.user)[:100])
    return render(request, "core/job_list.html", {"jobs": [jobs.live(j) for j in rows], "kinds": jobs.kinds()})


@login_required
@domain_errors
def job_detail(request, pk):
    job = jobs.job_get(user=request.user, pk=pk)
    context = _context(request, job)
    if request.headers.get("HX-Request"):  # the poll: the progress card alone
        return render(request, "core/_job_progress.html", context)
    return render(request, "core/job_detail.html", context)


@login_required
@require_POST
@domain_errors
def job_cancel(request, pk):
    job = jobs.job_get(user=request.user, pk=pk)
    try:
        job = jobs.job_cancel(job=job, principal=request.user)
    except Conflict as exc:
        return refused_back(request, exc, job.get_absolute_url())
    if job.finished:
        messages.success(request, _("Cancelled: nothing was written."))
    else:
        messages.success(request, _("Cancelling: the job stops at its next rows."))
    return redirect(job.get_absolute_url())


@login_required
@domain_errors
def job_download(request, pk):
    """The file the job made (an export), for who started it only; past its time it says so (410)."""
    handle, file_name = jobs.job_result_open(user=request.user, pk=pk)
    return FileResponse(handle, as_attachment=True, filename=file_name)
