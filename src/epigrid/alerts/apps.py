from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "alert.raise": _("Alert raised"),
    "alert.acknowledge": _("Alert acknowledged"),
    "alert.resolve": _("Alert resolved"),
    "alert.escalate": _("Alert escalated"),
}


class AlertsConfig(AppConfig):
    name = "epigrid.alerts"
    label = "alerts"
    verbose_name = _("alerts")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "timeline_providers": [
            "epigrid.alerts.selectors.alert_timeline",
        ],
        "action_labels": [
            "epigrid.alerts.apps.ACTION_LABELS",
        ],
    }
