from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "epigrid.core"
    label = "core"
    verbose_name = "core"
    # Core contributes to its own points like any app (core.extensions): dotted paths.
    extensions = {
        "sweeps": [
            "epigrid.core.access.PURGE_SWEEP",
            "epigrid.core.jobs.REDISPATCH_SWEEP",
            "epigrid.core.jobs.RESULTS_SWEEP",
        ],
        "action_labels": [
            "epigrid.core.access.ACTION_LABELS",
            "epigrid.core.jobs.ACTION_LABELS",
        ],
    }

    def ready(self):
        from . import (
            checks,  # noqa: F401 - registers the deployment checks
            lookups,  # noqa: F401 - registers `__any_of` on every field
        )
