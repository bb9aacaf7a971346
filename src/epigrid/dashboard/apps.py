from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "epigrid.dashboard"
    label = "dashboard"
    verbose_name = _("command dashboard")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "rules_panels": [
            "epigrid.dashboard.views.rules_thresholds_panel",
        ],
    }
