"""The map's data (网格地图): a node's children (or, for a compound, itself) as GeoJSON features
with their figures, and markers for open epidemic points and checkpoints."""

from django.urls import reverse

from epigrid.gates.models import Checkpoint
from epigrid.grids.choices import GridLevel
from epigrid.grids.geo import centroid
from epigrid.grids.models import GridNode
from epigrid.oversight import rollup
from epigrid.response.choices import PointStatus
from epigrid.response.models import EpidemicPoint

# What the map may colour the grids by.
COLOUR_BY = ["orders_home_quarantine", "missed_today", "cases_confirmed", "fevers_today", "alerts_open"]


def map_data(user, node: GridNode) -> dict:
    shown = list(
        GridNode.objects.filter(path__startswith=node.path, depth__in=(node.depth, node.depth + 1))
        .exclude(level=GridLevel.THEMATIC)
        .order_by("path")
    )
    children = [n for n in shown if n.depth == node.depth + 1 and n.boundary]
    areas = children or [n for n in shown if n.pk == node.pk and n.boundary]
    figures, refreshed = rollup.figures_for([n.pk for n in areas])
    features = [
        {
            "type": "Feature",
            "geometry": n.boundary,
            "properties": {
                "code": n.code,
                "name": n.name,
                "url": reverse("dashboard:node", args=[n.code]),
                "figures": {key: figures[n.pk].get(key, 0) for key in COLOUR_BY},
            },
        }
        for n in areas
    ]
    outlines = {
        n.path: n.boundary
        for n in GridNode.objects.filter(path__startswith=node.path, level=GridLevel.GRID, boundary__isnull=False)
    }
    markers = []
    for point in (
        EpidemicPoint.objects.restrict(user)
        .filter(grid__path__startswith=node.path)
        .exclude(status=PointStatus.RELEASED)
        .select_related("grid")
    ):
        at = centroid(outlines.get(point.grid.path[:12]) or point.grid.boundary)
        if at:
            markers.append(
                {
                    "kind": "point",
                    "at": at,
                    "label": f"{point.grid.name} · {point.get_status_display()}",
                    "url": reverse("response:incident", args=[point.activation_id]),
                }
            )
    for checkpoint in Checkpoint.objects.filter(grid__path__startswith=node.path, is_open=True).select_related("grid"):
        at = centroid(outlines.get(checkpoint.grid.path))
        if at:
            markers.append(
                {
                    "kind": "checkpoint",
                    "at": [at[0] + 0.0004, at[1]],
                    "label": f"{checkpoint.grid.name} {checkpoint.name}",
                    "url": reverse("gates:checkpoint", args=[checkpoint.pk]),
                }
            )
    return {
        "type": "FeatureCollection",
        "features": features,
        "markers": markers,
        "refreshed_at": refreshed.isoformat() if refreshed else None,
    }
