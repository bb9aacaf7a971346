"""网格地图: grid outlines and place points from GeoJSON (a FeatureCollection): a Polygon or
MultiPolygon feature whose `properties.code` (or 网格编码) names a grid node sets its boundary; a
Point feature whose `properties.place` (or 场所编号) is a place's id sets its point. Every feature
is checked first (geometry, coordinates, closed rings, size); one bad feature refuses the file and
nothing is written. Coordinates are stored as given (settings.MAP_COORDINATES says which system).
"""

import json
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.scoping import authorize

from .models import GridNode, Place

MAX_POINTS = 20_000  # per outline: a compound's wall is tens, a city district's a few thousand
MAX_FEATURES = 10_000


def _position(value, where: str) -> list[float]:
    if not (isinstance(value, list) and len(value) >= 2 and all(isinstance(v, int | float) for v in value[:2])):
        raise DomainError("geo_position", _("%(where)s: a position is [longitude, latitude]."), params={"where": where})
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise DomainError("geo_range", _("%(where)s: longitude −180…180, latitude −90…90."), params={"where": where})
    return [round(lon, 7), round(lat, 7)]


def _ring(ring, where: str) -> list[list[float]]:
    if not isinstance(ring, list) or len(ring) < 4:
        raise DomainError("geo_ring", _("%(where)s: a ring has at least 4 positions."), params={"where": where})
    points = [_position(p, where) for p in ring]
    if points[0] != points[-1]:
        raise DomainError("geo_ring_open", _("%(where)s: a ring ends where it starts."), params={"where": where})
    return points


def clean_boundary(geometry, where: str = "") -> dict:
    """A GeoJSON Polygon or MultiPolygon, checked and normalised."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise DomainError("geo_type", _("%(where)s: an outline is a Polygon or MultiPolygon."), params={"where": where})
    coordinates = geometry.get("coordinates")
    polygons = [coordinates] if geometry["type"] == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        raise DomainError("geo_empty", _("%(where)s: the outline has no coordinates."), params={"where": where})
    cleaned = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise DomainError("geo_empty", _("%(where)s: the outline has no coordinates."), params={"where": where})
        cleaned.append([_ring(ring, where) for ring in polygon])
    if sum(len(ring) for polygon in cleaned for ring in polygon) > MAX_POINTS:
        raise DomainError("geo_size", _("%(where)s: the outline has too many points."), params={"where": where})
    if geometry["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": cleaned[0]}
    return {"type": "MultiPolygon", "coordinates": cleaned}


def _property(properties: dict, *names) -> str:
    for name in names:
        if properties.get(name) not in (None, ""):
            return str(properties[name]).strip()
    return ""


def geojson_import(*, data: bytes, principal) -> dict:
    """Outlines and points from a GeoJSON file, all or nothing. Returns {"grids": n, "places": n}."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise DomainError("geo_unreadable", _("The file is not GeoJSON (JSON in UTF-8).")) from None
    features = document.get("features") if isinstance(document, dict) else None
    if document.get("type") != "FeatureCollection" or not isinstance(features, list) or not features:
        raise DomainError("geo_unreadable", _("The file is not a GeoJSON FeatureCollection with features."))
    if len(features) > MAX_FEATURES:
        raise DomainError("geo_size", _("Too many features in one file."))
    codes = {
        _property(f.get("properties") or {}, "code", "网格编码")
        for f in features
        if isinstance(f, dict) and isinstance(f.get("geometry"), dict) and f["geometry"].get("type") != "Point"
    }
    nodes = {n.code: n for n in GridNode.objects.restrict(principal, Capability.MANAGE_GRIDS).filter(code__in=codes)}
    place_ids = {
        _property(f.get("properties") or {}, "place", "场所编号")
        for f in features
        if isinstance(f, dict) and isinstance(f.get("geometry"), dict) and f["geometry"].get("type") == "Point"
    }
    places = {
        str(p.pk): p
        for p in Place.objects.restrict(principal, Capability.EDIT_PEOPLE).filter(
            pk__in=[i for i in place_ids if i.isdigit()]
        )
    }
    grids, points, errors = {}, {}, []
    for index, feature in enumerate(features, start=1):
        where = _("feature %(n)s") % {"n": index}
        try:
            if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
                raise DomainError(
                    "geo_feature", _("%(where)s: not a feature with a geometry."), params={"where": where}
                )
            properties = feature.get("properties") or {}
            if feature["geometry"].get("type") == "Point":
                place = places.get(_property(properties, "place", "场所编号"))
                if place is None:
                    raise DomainError(
                        "geo_place",
                        _("%(where)s: no such place in your area (properties.place)."),
                        params={"where": where},
                    )
                points[place.pk] = (place, _position(feature["geometry"].get("coordinates"), where))
            else:
                node = nodes.get(_property(properties, "code", "网格编码"))
                if node is None:
                    raise DomainError(
                        "geo_grid",
                        _("%(where)s: no such grid you may edit (properties.code)."),
                        params={"where": where},
                    )
                grids[node.pk] = (node, clean_boundary(feature["geometry"], where))
        except DomainError as exc:
            errors.append({"index": index, "row": index, **exc.as_dict()})
    if errors:
        raise RowErrors("geo_rejected", _("Some features are not valid; nothing was imported."), rows=errors[:200])
    for node, _boundary in grids.values():
        authorize(principal, Capability.MANAGE_GRIDS, node.path)
    with transaction.atomic():
        for node, boundary in grids.values():
            GridNode.objects.filter(pk=node.pk).update(boundary=boundary)
        for place, (lon, lat) in points.values():
            Place.objects.filter(pk=place.pk).update(longitude=Decimal(str(lon)), latitude=Decimal(str(lat)))
        audit.record(
            principal=principal,
            action="grid.map_import",
            object_type="grids.gridnode",
            changes={"grids": [None, sorted(n.code for n, _b in grids.values())], "places": [None, len(points)]},
        )
    return {"grids": len(grids), "places": len(points)}


def centroid(boundary: dict | None) -> list[float] | None:
    """The mean of the outer ring's points (good enough to pin a marker inside a compound)."""
    if not boundary:
        return None
    ring = boundary["coordinates"][0] if boundary["type"] == "Polygon" else boundary["coordinates"][0][0]
    points = ring[:-1] or ring
    return [sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)]
