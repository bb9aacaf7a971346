from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "grid_assignment.create": _("Assigned to a grid"),
    "grid_assignment.update": _("Duties changed"),
    "grid_assignment.end": _("Assignment ended"),
    "api_token.issue": _("Device token issued"),
    "api_token.refresh": _("Device token renewed"),
    "api_token.revoke": _("Device token revoked"),
    "api_token.reuse_revoked": _("Device token revoked: its refresh key was used twice"),
    "login.succeeded": _("Logged in"),
    "login.failed": _("Failed login"),
    "mfa.enrol": _("Second factor set up"),
    "mfa.verify": _("Second factor passed"),
    "mfa.verify_failed": _("Wrong second-factor code"),
    "mfa.reset": _("Second factor reset"),
    "user.create": _("Account created"),
    "user.deactivate": _("Account deactivated"),
    "user.reactivate": _("Account reactivated"),
    "user.password_change": _("Password changed"),
    "user.password_reset_issue": _("Password reset link issued"),
    "user.password_reset": _("Password set through a reset link"),
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
