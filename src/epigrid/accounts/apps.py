from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "grid_assignment.create": _("Assigned to a grid"),
    "grid_assignment.update": _("Duties changed"),
    "grid_assignment.end": _("Assignment ended"),
    "api_token.issue": _("Device token issued"),
}


class AccountsConfig(AppConfig):
    name = "epigrid.accounts"
    label = "accounts"
    verbose_name = _("accounts")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "action_labels": [
            "epigrid.accounts.apps.ACTION_LABELS",
        ],
    }
