from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "temperatures.record": _("Temperatures recorded"),
    "resident_link.issue": _("Personal report link issued"),
    "sample.record": _("Sampled"),
    "sample.duplicate_outside_scope": _("Specimen number used outside the area refused"),
    "sample.negative": _("Test result: negative"),
    "sample.positive": _("Test result: positive"),
    "case.suspect": _("Suspected case"),
    "case.confirmed": _("Confirmed case (expert consultation)"),
    "consultation.record": _("Expert consultation recorded"),
    "case.excluded": _("Excluded by expert consultation"),
    "test_list.create": _("Test list created"),
    "monitoring_policy.update": _("Report times changed"),
    "staff_contact.record": _("Staff contact recorded"),
}


class HealthConfig(AppConfig):
    name = "epigrid.health"
    label = "health"
    verbose_name = _("health")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "release_conditions": [
            "epigrid.health.selectors.negative_test_condition",
        ],
        "timeline_providers": [
            "epigrid.health.selectors.temperature_timeline",
        ],
        "person_panels": [
            "epigrid.health.views.person_health_panel",
        ],
        "person_summaries": [
            "epigrid.health.views.person_summary",
        ],
        "sweeps": [
            "epigrid.health.services.MISSED_SLOT_SWEEP",
        ],
        "action_labels": [
            "epigrid.health.apps.ACTION_LABELS",
        ],
        "person_facts_changed": [
            "epigrid.health.codes.persons_changed",
        ],
        "job_kinds": [
            "epigrid.health.ledgers.RESULTS_JOB_KIND",
        ],
        "ledger_exports": ["epigrid.health.ledgers.LEDGER_EXPORTS"],
    }
