from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "grid_node.create": _("Grid created"),
    "grid.boundary_save": _("Grid outline drawn on the map"),
    "place.create": _("Place registered"),
    "place.update": _("Place changed"),
    "place.archive": _("Place archived"),
    "place.import": _("Place imported from a ledger"),
}


class GridsConfig(AppConfig):
    name = "epigrid.grids"
    label = "grids"
    verbose_name = _("grids")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "action_labels": [
            "epigrid.grids.apps.ACTION_LABELS",
        ],
    }
