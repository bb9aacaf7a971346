from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class GatesConfig(AppConfig):
    name = "epigrid.gates"
    label = "gates"
    verbose_name = _("checkpoints")

    def ready(self):
        from epigrid.grids.selectors import register_gap_check

        from .services import checkpoints_with_gaps

        register_gap_check(
            "checkpoint_uncovered",
            _("Checkpoint with an hour of the next 7 days without a guard"),
            checkpoints_with_gaps,
            "gates:checkpoint",
        )
        register_action_labels(
            {
                "checkpoint.open": _("Checkpoint opened"),
                "checkpoint.close": _("Checkpoint closed"),
                "passes.issue": _("Household passes issued"),
                "pass.reissue": _("Pass re-issued"),
                "pass.revoke": _("Pass revoked"),
                "visitor.register": _("Visitor registered"),
                "shift.create": _("Duty shift planned"),
                "shift.check_in": _("Guard checked in"),
                "shift.check_out": _("Guard checked out"),
            }
        )
