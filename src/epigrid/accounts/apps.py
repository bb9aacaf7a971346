from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class AccountsConfig(AppConfig):
    name = "epigrid.accounts"
    label = "accounts"
    verbose_name = _("accounts")

    def ready(self):
        register_action_labels(
            {
                "grid_assignment.create": _("Assigned to a grid"),
                "grid_assignment.update": _("Duties changed"),
                "grid_assignment.end": _("Assignment ended"),
                "api_token.issue": _("Device token issued"),
            }
        )
