from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "reconcile.complete": _("Unfinished hand-off completed"),
    "checklist.save": _("Inspection checklist saved"),
    "inspection.plan": _("Inspection planned"),
    "inspection.finding": _("Inspection finding recorded"),
    "inspection.complete": _("Inspection completed"),
    "rectification.order": _("Rectification ordered"),
    "rectification.answered": _("Rectification answered"),
    "rectification.closed": _("Rectification closed"),
    "rectification.open": _("Rectification sent back"),
}


class OversightConfig(AppConfig):
    name = "epigrid.oversight"
    label = "oversight"
    verbose_name = _("oversight")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "action_labels": [
            "epigrid.oversight.apps.ACTION_LABELS",
        ],
        "today_panels": [
            "epigrid.oversight.inspection_views.today_rectifications_panel",
        ],
        "sweeps": [
            "epigrid.oversight.inspections.OVERDUE_SWEEP",
            # last: the dashboard's figures include what the sweeps before it raised
            "epigrid.oversight.rollup.ROLLUP_SWEEP",
        ],
    }
