from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "reconcile.complete": _("Unfinished hand-off completed"),
    "checklist.save": _("Inspection checklist saved"),
    "inspection.plan": _("Inspection planned"),
    "inspection.finding": _("Inspection finding recorded"),
    "inspection.complete": _("Inspection completed"),
    "rectification.order": _("Rectification ordered"),
    "rectification.evidence": _("Rectification evidence photo added"),
    "inspection.photo": _("Inspection photo added"),
    "rectification.answered": _("Rectification answered"),
    "rectification.closed": _("Rectification closed"),
    "rectification.open": _("Rectification sent back"),
    "verification.import": _("Verification list imported"),
    "verification.verified": _("Verification row checked"),
    "verification.placed": _("Verification row placed in a grid"),
    "omission.found": _("Possible omissions found"),
    "omission.confirmed": _("Omission confirmed"),
    "omission.dismissed": _("Omission finding dismissed"),
    "daily_report.drafted": _("Daily reports drafted"),
    "daily_report.remarks": _("Daily report remarks saved"),
    "daily_report.signed": _("Daily report signed"),
    "dashboard.backfill": _("Dashboard figures computed for every past day"),
    "dashboard.export": _("Dashboard figures downloaded"),
    "dashboard.thresholds": _("Dashboard thresholds changed"),
}


class OversightConfig(AppConfig):
    name = "epigrid.oversight"
    label = "oversight"
    verbose_name = _("oversight")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "rules_panels": [
            "epigrid.oversight.retention_views.rules_retention_panel",
        ],
        "job_kinds": [
            "epigrid.oversight.retention.PURGE_JOB_KIND",
            "epigrid.oversight.verification.IMPORT_JOB_KIND",
        ],
        "action_labels": [
            "epigrid.oversight.apps.ACTION_LABELS",
        ],
        "today_panels": [
            "epigrid.oversight.inspection_views.today_rectifications_panel",
            "epigrid.oversight.verification_views.today_verification_panel",
        ],
        "sweeps": [
            "epigrid.oversight.inspections.OVERDUE_SWEEP",
            # last: the dashboard's figures include what the sweeps before it raised
            "epigrid.oversight.rollup.ROLLUP_SWEEP",
            # 日报: drafted from the rollup just refreshed; late ones alert the level above
            "epigrid.oversight.reports.DRAFT_SWEEP",
            "epigrid.oversight.reports.LATE_SWEEP",
            "epigrid.oversight.omissions.OMISSION_SWEEP",
        ],
    }
