from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "tip.create": _("Tip recorded"),
    "key_person.report": _("Reported as a key person"),
    "key_person.assessed": _("Key person assessed"),
    "key_person.controlled": _("Key person under control"),
    "key_person.closed": _("Key person closed"),
    "control_order.start": _("Control order started"),
    "control_order.active": _("Control order period changed"),
    "control_order.release_proposed": _("Release proposed"),
    "control_order.released": _("Released (解除隔离)"),
    "control_order.transferred": _("Transferred to another measure"),
    "team_member.add": _("Team member added"),
    "team_member.end": _("Team member removed"),
    "risk_area.save": _("Risk area changed"),
    "tip.self_register": _("Self-registration received (poster QR)"),
    "tip.check": _("Self-registration checked"),
    "poster.issue": _("Registration poster made"),
    "control_rule.save": _("Control rule changed"),
}


class ControlConfig(AppConfig):
    name = "epigrid.control"
    label = "control"
    verbose_name = _("control")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "person_panels": [
            "epigrid.control.views.person_control_panel",
        ],
        "household_panels": [
            "epigrid.control.views.household_team_panel",
        ],
        "today_panels": [
            "epigrid.control.views.today_self_registrations_panel",
        ],
        "gap_checks": [
            "epigrid.control.selectors.TEAM_GAP",
        ],
        "sweeps": [
            "epigrid.control.services.RELEASE_SWEEP",
        ],
        "action_labels": [
            "epigrid.control.apps.ACTION_LABELS",
        ],
        "timeline_values": [
            "epigrid.control.choices.TIMELINE_VALUES",
        ],
    }
