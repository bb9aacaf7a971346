from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "plan.save": _("Emergency plan saved"),
    "plan.activate": _("Emergency plan activated"),
    "plan.add_case": _("Case added to the emergency response"),
    "task.done": _("Emergency task done"),
    "exposure.record": _("Exposure recorded"),
    "epidemic_point.update": _("Epidemic point updated"),
    "epidemic_point.release_proposed": _("Epidemic point release proposed"),
    "epidemic_point.released": _("Epidemic point released"),
    "epidemic_point.closed": _("Epidemic point back under closed management"),
}


class ResponseConfig(AppConfig):
    name = "epigrid.response"
    label = "response"
    verbose_name = _("emergency response")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "case_confirmed": [
            "epigrid.response.services.activation_on_case_confirmed",
        ],
        "consequences": [
            "epigrid.response.selectors.consequences",
        ],
        "closed_compounds": [
            "epigrid.response.services.closed_compounds",
        ],
        "today_panels": [
            "epigrid.response.views.today_tasks_panel",
        ],
        "exit_suspensions": [
            "epigrid.response.services.exit_suspended_by_point",
        ],
        "reconcile_checks": [
            "epigrid.response.services.MISSING_ACTIVATION",
            "epigrid.response.services.UNFINISHED_RELEASE",
        ],
        "sweeps": [
            "epigrid.response.services.POINT_RELEASE_SWEEP",
            "epigrid.response.services.OVERDUE_TASK_SWEEP",
        ],
        "action_labels": [
            "epigrid.response.apps.ACTION_LABELS",
        ],
    }
