from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class CareConfig(AppConfig):
    name = "epigrid.care"
    label = "care"
    verbose_name = _("household support")

    def ready(self):
        from epigrid.health.sweeps import register_sweep
        from epigrid.health.views import TODAY_PANELS
        from epigrid.people.selectors import register_household_panel, register_person_panel

        from .services import schedules_reconcile, service_overdue_alerts, service_tasks_materialize
        from .views import household_services_panel, person_services_panel, today_services_panel

        register_sweep("service_schedules", schedules_reconcile)
        register_sweep("service_tasks", service_tasks_materialize)
        register_sweep("service_overdue_alerts", service_overdue_alerts)
        register_household_panel(household_services_panel)
        register_person_panel(person_services_panel)
        TODAY_PANELS.append(today_services_panel)
        register_action_labels(
            {
                "service.schedule": _("Service scheduled"),
                "service.done": _("Service delivered"),
                "supply_request.create": _("Supply request from the resident"),
                "supply_request.done": _("Supply request handled"),
            }
        )
