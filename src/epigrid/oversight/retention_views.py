"""The retention purge's page (issue 14 §3): for the operator alone (who may edit people
everywhere); the retention settings, what the last dry run found, and two buttons, each starting a
job (oversight.retention.purge_start) whose page follows it. The purge is irreversible: its button
asks first (core.confirm); a dry run writes nothing and is started at once."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.confirm import confirm_page, confirmed
from epigrid.core.views import domain_errors

from . import retention


def rules_retention_panel(request):
    """The Rules page's panel (the "rules_panels" point), for the operator alone: the retention and
    a link to the purge page."""
    if not retention.may_purge(request.user):
        return None
    return "oversight/_rules_retention.html", {"retention_days": settings.RETENTION_DAYS}


@login_required
@domain_errors
def purge_page(request):
    return render(request, "oversight/purge.html", retention.purge_overview(user=request.user))


@login_required
@require_POST
@domain_errors
def purge_start(request):
    dry_run = request.POST.get("dry_run") == "1"
    if not dry_run:
        overview = retention.purge_overview(user=request.user)  # 403 before the question for anyone else
        if not confirmed(request):
            found = overview["last_dry_run"]
            counts = found.result.get("counts", {}) if found else {}
            consequences = [
                _("Persons whose retention has ended are anonymised: names, ID numbers, phones and notes erased."),
                _("Their keys are deleted: their values in the audit log can no longer be read."),
                _("Temperature reports and gate passages older than %(days)s days are deleted.")
                % {"days": overview["retention_days"]},
            ]
            if found:
                consequences.append(
                    _(
                        "The last dry run found %(persons)s person(s), %(temperatures)s temperature report(s) and "
                        "%(passages)s gate passage(s)."
                    )
                    % {
                        "persons": counts.get("persons", 0),
                        "temperatures": counts.get("temperature_reports", 0),
                        "passages": counts.get("gate_passages", 0),
                    }
                )
            return confirm_page(
                request,
                title=_("Purge personal data"),
                question=_("Erase now what the retention no longer allows?"),
                consequences=consequences,
                button=_("Purge"),
                cancel_url=reverse("retention:purge"),
            )
    job = retention.purge_start(principal=request.user, dry_run=dry_run)
    return redirect(job.get_absolute_url())
