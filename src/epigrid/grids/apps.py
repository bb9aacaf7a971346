from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from epigrid.core.labels import register_action_labels


class GridsConfig(AppConfig):
    name = "epigrid.grids"
    label = "grids"
    verbose_name = _("grids")

    def ready(self):
        register_action_labels(
            {
                "grid_node.create": _("Grid created"),
                "place.create": _("Place registered"),
                "place.update": _("Place changed"),
                "place.archive": _("Place archived"),
                "place.import": _("Place imported from a ledger"),
            }
        )
