from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "service.schedule": _("Service scheduled"),
    "service.done": _("Service delivered"),
    "service.end": _("Service ended"),
    "supply_request.create": _("Supply request from the resident"),
    "supply_request.done": _("Supply request handled"),
}


class CareConfig(AppConfig):
    name = "epigrid.care"
    label = "care"
    verbose_name = _("household support")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "consequences": [
            "epigrid.care.services.consequences",
        ],
        "order_started": [
            "epigrid.care.services.support_on_order_started",
        ],
        "order_ended": [
            "epigrid.care.services.support_on_order_ended",
        ],
        "case_confirmed": [
            "epigrid.care.services.support_on_case_confirmed",
        ],
        "compound_reopened": [
            "epigrid.care.services.support_on_compound_reopened",
        ],
        "disinfection_done": [
            "epigrid.care.services.disinfection_tasks_on_round",
        ],
        "outbox_handlers": [
            "epigrid.care.services.OUTBOX_MATERIALIZE",
        ],
        "reconcile_checks": [
            "epigrid.care.services.MISSING_SUPPORT",
            "epigrid.care.services.MISSING_COMPOUND_SUPPORT",
        ],
        "sweeps": [
            "epigrid.care.services.SCHEDULES_SWEEP",
            "epigrid.care.services.SERVICE_TASKS_SWEEP",
            "epigrid.care.services.SERVICE_OVERDUE_SWEEP",
        ],
        "household_panels": [
            "epigrid.care.views.household_services_panel",
        ],
        "person_panels": [
            "epigrid.care.views.person_services_panel",
        ],
        "today_panels": [
            "epigrid.care.views.today_services_panel",
        ],
        "action_labels": [
            "epigrid.care.apps.ACTION_LABELS",
        ],
    }
