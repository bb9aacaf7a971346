from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class ControlConfig(AppConfig):
    name = "epigrid.control"
    label = "control"
    verbose_name = _("control")

    def ready(self):
        from epigrid.grids.selectors import register_gap_check
        from epigrid.people.selectors import register_household_panel, register_person_panel

        from .views import household_team_panel, person_control_panel

        register_person_panel(person_control_panel)
        register_household_panel(household_team_panel)

        from .services import controlled_households_without_full_team

        register_gap_check(
            "household_team_incomplete",
            _("Controlled household without a complete team"),
            lambda: controlled_households_without_full_team(),
            "people:household",
        )
        register_action_labels(
            {
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
                "control_rule.save": _("Control rule changed"),
            }
        )
