from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "checkpoint.open": _("Checkpoint opened"),
    "checkpoint.close": _("Checkpoint closed"),
    "checkpoint.temperature_policy": _("Checkpoint temperature policy changed"),
    "passes.issue": _("Household passes issued"),
    "pass.reissue": _("Pass re-issued"),
    "pass.revoke": _("Pass revoked"),
    "visitor.register": _("Visitor registered"),
    "passage.record": _("Passage at the gate"),
    "passages.record": _("Offline passages recorded"),
    "passes.print": _("Pass cards printed"),
    "gate.typed_misses": _("Too many pass numbers typed that are not of the checkpoint"),
    "shift.create": _("Duty shift planned"),
    "shift.check_in": _("Guard checked in"),
    "shift.check_out": _("Guard checked out"),
}


class GatesConfig(AppConfig):
    name = "epigrid.gates"
    label = "gates"
    verbose_name = _("checkpoints")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "gap_checks": [
            "epigrid.gates.services.CHECKPOINT_GAP",
        ],
        "consequences": [
            "epigrid.gates.selectors.consequences",
        ],
        "action_labels": [
            "epigrid.gates.apps.ACTION_LABELS",
        ],
        "household_search": [
            "epigrid.gates.selectors.households_by_pass_number",
        ],
        "home_pages": [
            "epigrid.gates.views.guard_home",
        ],
        "job_kinds": [
            "epigrid.gates.ledgers.PASS_SHEET_JOB_KIND",
        ],
    }
