from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class HealthConfig(AppConfig):
    name = "epigrid.health"
    label = "health"
    verbose_name = _("health")

    def ready(self):
        from epigrid.control.services import RELEASE_CONDITIONS
        from epigrid.people.selectors import register_person_panel, register_timeline_provider

        from .selectors import negative_test_condition, temperature_timeline
        from .views import person_health_panel

        RELEASE_CONDITIONS.append(negative_test_condition)
        register_timeline_provider(temperature_timeline)
        register_person_panel(person_health_panel)
        register_action_labels(
            {
                "temperatures.record": _("Temperatures recorded"),
                "resident_link.issue": _("Personal report link issued"),
                "sample.record": _("Sampled"),
                "sample.negative": _("Test result: negative"),
                "sample.positive": _("Test result: positive"),
                "case.suspect": _("Suspected case"),
                "case.confirmed": _("Confirmed case (expert consultation)"),
                "case.excluded": _("Excluded by expert consultation"),
                "test_list.create": _("Test list created"),
                "monitoring_policy.update": _("Report times changed"),
            }
        )
