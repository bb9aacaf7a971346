"""网格地图: grid outlines and place points from GeoJSON (a FeatureCollection) or KML: a Polygon or
MultiPolygon feature whose `properties.code` (or 网格编码) names a grid node sets its boundary; a
Point feature whose `properties.place` (or 场所编号) is a place's id sets its point. Every feature
is checked first (geometry, coordinates, closed rings, size); one bad feature refuses the file and
nothing is written. Coordinates are stored as given (settings.MAP_COORDINATES says which system).

KML (what Google Earth, 奥维 and most GIS tools export) is read with the standard library's XML
parser into the same features: a Placemark's Polygon (or a MultiGeometry of them) is an outline,
its Point a place's point; the grid code is the Placemark's ExtendedData `code` (or 网格编码),
else its `name`. A document with a DTD or entities is refused before parsing.
"""

import json
import re
import xml.etree.ElementTree as ET
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
    return _features_import(features, principal=principal, source="geojson")


def map_file_import(*, data: bytes, principal) -> dict:
    """A GeoJSON or a KML file, told apart by its content (a KML is XML: it starts with "<")."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"PK"):
        raise DomainError("geo_kmz", _("This is a KMZ (a zip): unzip it and import the doc.kml inside."))
    if head.startswith(b"<"):
        return kml_import(data=data, principal=principal)
    return geojson_import(data=data, principal=principal)


def _features_import(features: list, *, principal, source: str) -> dict:
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
            if isinstance(feature, dict) and isinstance(feature.get("refused"), DomainError):
                raise feature["refused"]  # a KML placemark that could not be read
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
            changes={
                "grids": [None, sorted(n.code for n, _b in grids.values())],
                "places": [None, len(points)],
                "format": [None, source],
            },
        )
    return {"grids": len(grids), "places": len(points)}


def grid_boundary_save(*, node: GridNode, boundary, principal) -> GridNode:
    """A grid's outline drawn or edited on the map page: checked as an imported one (a Polygon or
    MultiPolygon, closed rings, positions in range, size), by who edits the grid tree there.
    Audited with the number of positions before and after (not the coordinates)."""
    authorize(principal, Capability.MANAGE_GRIDS, node.path)
    cleaned = clean_boundary(boundary, str(node.code))
    with transaction.atomic():
        before = GridNode.objects.select_for_update().values_list("boundary", flat=True).get(pk=node.pk)
        GridNode.objects.filter(pk=node.pk).update(boundary=cleaned)
        audit.record(
            principal=principal,
            action="grid.boundary_save",
            obj=node,
            grid_path=node.path,
            changes={"positions": [_positions(before), _positions(cleaned)]},
        )
    node.boundary = cleaned
    return node


def _positions(boundary) -> int | None:
    if not boundary:
        return None
    polygons = [boundary["coordinates"]] if boundary["type"] == "Polygon" else boundary["coordinates"]
    return sum(len(ring) for polygon in polygons for ring in polygon)


# ---------------------------------------------------------------- KML

_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
MAX_KML_BYTES = 20 * 1024 * 1024


def _local(tag) -> str:
    """The tag without its namespace (KML 2.2, Google's 2.x, or none)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element, name: str) -> list:
    return [c for c in element if _local(c.tag) == name]


def _descendants(element, name: str) -> list:
    return [e for e in element.iter() if _local(e.tag) == name]


def _kml_positions(element, where: str) -> list:
    """A <coordinates> text: "lon,lat[,alt]" tuples separated by white space."""
    found = _descendants(element, "coordinates")
    text = (found[0].text or "") if found else ""
    positions = []
    for chunk in text.split():
        parts = chunk.split(",")
        try:
            positions.append([float(parts[0]), float(parts[1])])
        except (IndexError, ValueError):
            raise DomainError(
                "geo_position", _("%(where)s: a position is [longitude, latitude]."), params={"where": where}
            ) from None
    return positions


def _kml_polygon(polygon, where: str) -> list:
    rings = []
    for boundary in ("outerBoundaryIs", "innerBoundaryIs"):
        for part in _children(polygon, boundary):
            rings.append(_kml_positions(part, where))
    if not rings or not rings[0]:
        raise DomainError("geo_empty", _("%(where)s: the outline has no coordinates."), params={"where": where})
    return rings


def _kml_code(placemark) -> str:
    for data in _descendants(placemark, "Data") + _descendants(placemark, "SimpleData"):
        if data.get("name") in ("code", "网格编码", "place", "场所编号"):
            values = _children(data, "value")
            text = (values[0].text if values else data.text) or ""
            if text.strip():
                return text.strip()
    names = _children(placemark, "name")
    return (names[0].text or "").strip() if names else ""


def _kml_feature(placemark, where: str) -> dict:
    """One Placemark as a GeoJSON feature (its geometry checked later, with the GeoJSON's)."""
    code = _kml_code(placemark)
    polygons = _descendants(placemark, "Polygon")
    points = _descendants(placemark, "Point")
    if polygons:
        coordinates = [_kml_polygon(p, where) for p in polygons]
        geometry = (
            {"type": "Polygon", "coordinates": coordinates[0]}
            if len(coordinates) == 1
            else {"type": "MultiPolygon", "coordinates": coordinates}
        )
        return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}
    if points:
        positions = _kml_positions(points[0], where)
        return {
            "type": "Feature",
            "properties": {"place": code},
            "geometry": {"type": "Point", "coordinates": positions[0] if positions else None},
        }
    # a line or a model: no outline, no point; said, not skipped silently
    return {"type": "Feature", "properties": {"code": code}, "geometry": {"type": "LineString"}}


def kml_features(data: bytes) -> list[dict]:
    """The KML's Placemarks as GeoJSON features (an outline: `code`; a point: `place`), or a
    refusal saying why the file cannot be read. Checks of the geometry itself follow in the import."""
    if len(data) > MAX_KML_BYTES:
        raise DomainError("geo_size", _("The file is too large."))
    try:  # UTF-8 only: the check for a DTD below reads the bytes as they are
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("geo_unreadable", _("The KML file is not in UTF-8: export it again in UTF-8.")) from None
    if _DTD.search(data):
        raise DomainError("geo_unreadable", _("The KML file declares a DTD or entities: export it again without them."))
    try:
        root = ET.fromstring(data)  # noqa: S314 - no DTD (refused above), so no entity to expand
    except ET.ParseError as exc:
        raise DomainError(
            "geo_unreadable", _("The file is not valid KML (XML): %(problem)s"), params={"problem": str(exc)}
        ) from None
    if _local(root.tag) != "kml":
        raise DomainError("geo_unreadable", _("The file is not KML: its root element is not <kml>."))
    features = []
    for index, placemark in enumerate(_descendants(root, "Placemark"), start=1):
        where = _("placemark %(n)s") % {"n": index}
        try:
            features.append(_kml_feature(placemark, where))
        except DomainError as exc:  # reported with the other placemarks' problems, by number
            features.append({"type": "Feature", "properties": {}, "geometry": {}, "refused": exc})
    if not features:
        raise DomainError("geo_unreadable", _("The KML file has no Placemark."))
    return features


def kml_import(*, data: bytes, principal) -> dict:
    """Outlines and points from a KML file, all or nothing, as from GeoJSON."""
    return _features_import(kml_features(data), principal=principal, source="kml")


def centroid(boundary: dict | None) -> list[float] | None:
    """The mean of the outer ring's points (good enough to pin a marker inside a compound)."""
    if not boundary:
        return None
    ring = boundary["coordinates"][0] if boundary["type"] == "Polygon" else boundary["coordinates"][0][0]
    points = ring[:-1] or ring
    return [sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)]
