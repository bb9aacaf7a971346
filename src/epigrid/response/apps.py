from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class ResponseConfig(AppConfig):
    name = "epigrid.response"
    label = "response"
    verbose_name = _("emergency response")

    def ready(self):
        from epigrid.health.services import case_confirmed
        from epigrid.health.sweeps import register_sweep

        from .services import on_case_confirmed, points_propose_release, tasks_overdue_alerts

        case_confirmed.connect(on_case_confirmed, dispatch_uid="response.activate")
        from epigrid.health.views import TODAY_PANELS

        from .views import today_tasks_panel

        TODAY_PANELS.append(today_tasks_panel)
        from epigrid.gates.services import EXIT_SUSPENSIONS

        from .services import exit_suspended_by_point

        EXIT_SUSPENSIONS.append(exit_suspended_by_point)
        register_sweep("epidemic_points_proposed", points_propose_release)
        register_sweep("overdue_task_alerts", tasks_overdue_alerts)
        register_action_labels(
            {
                "plan.save": _("Emergency plan saved"),
                "plan.activate": _("Emergency plan activated"),
                "plan.add_case": _("Case added to the emergency response"),
                "task.done": _("Emergency task done"),
                "exposure.record": _("Exposure recorded"),
                "epidemic_point.update": _("Epidemic point updated"),
                "epidemic_point.release_proposed": _("Epidemic point release proposed"),
                "epidemic_point.released": _("Epidemic point released"),
                "epidemic_point.closed": _("Epidemic point back under closed management"),
            }
        )
