from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class AlertsConfig(AppConfig):
    name = "epigrid.alerts"
    label = "alerts"
    verbose_name = _("alerts")

    def ready(self):
        from epigrid.people.selectors import register_timeline_provider

        from .selectors import alert_timeline

        register_timeline_provider(alert_timeline)
        register_action_labels(
            {
                "alert.raise": _("Alert raised"),
                "alert.acknowledge": _("Alert acknowledged"),
                "alert.resolve": _("Alert resolved"),
                "alert.escalate": _("Alert escalated"),
            }
        )
