from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "reconcile.complete": _("Unfinished hand-off completed"),
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
    }
