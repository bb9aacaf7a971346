"""网格地图 (issue 13 §2): outlines and points from KML beside GeoJSON, read with the standard
library's XML parser, all or nothing; a file that is not readable KML is refused saying why."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.models import AuditEvent
from epigrid.grids import geo
from epigrid.grids.models import GridNode, Place


def _ring(west, south, size=0.001, close=True):
    points = [(west, south), (west + size, south), (west + size, south + size), (west, south + size)]
    if close:
        points.append((west, south))
    return " ".join(f"{x},{y},0" for x, y in points)


def _polygon(west, south, hole=False, close=True):
    inner = (
        f"<innerBoundaryIs><LinearRing><coordinates>{_ring(west + 0.0002, south + 0.0002, 0.0002)}"
        "</coordinates></LinearRing></innerBoundaryIs>"
        if hole
        else ""
    )
    return (
        f"<Polygon><outerBoundaryIs><LinearRing><coordinates>\n  {_ring(west, south, close=close)}\n"
        f"</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>"
    )


def _kml(*placemarks, namespace=' xmlns="http://www.opengis.net/kml/2.2"'):
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<kml{namespace}><Document><name>幸福里</name>'
        + "".join(placemarks)
        + "</Document></kml>"
    ).encode()


def _placemark(name, geometry, code=None):
    extended = f'<ExtendedData><Data name="code"><value>{code}</value></Data></ExtendedData>' if code else ""
    return f"<Placemark><name>{name}</name>{extended}{geometry}</Placemark>"


def test_outlines_and_points_come_from_kml(world):
    clinic = world.places["clinic"]
    data = _kml(
        # the code in ExtendedData; a hole in the outline (a school inside the compound)
        _placemark("幸福里小区", _polygon(117.03, 36.67, hole=True), code="S-C-G1"),
        # no ExtendedData: the name is the code; two polygons make a MultiPolygon
        _placemark(
            "S-C-G2", "<MultiGeometry>" + _polygon(117.04, 36.67) + _polygon(117.05, 36.67) + "</MultiGeometry>"
        ),
        _placemark(str(clinic.pk), "<Point><coordinates>117.031,36.671,0</coordinates></Point>"),
    )
    assert geo.map_file_import(data=data, principal=world.users["secretary"]) == {"grids": 2, "places": 1}
    g1, g2 = GridNode.objects.get(code="S-C-G1"), GridNode.objects.get(code="S-C-G2")
    assert g1.boundary["type"] == "Polygon" and len(g1.boundary["coordinates"]) == 2  # outer ring and hole
    assert g1.boundary["coordinates"][0][0] == [117.03, 36.67]
    assert g2.boundary["type"] == "MultiPolygon" and len(g2.boundary["coordinates"]) == 2
    clinic.refresh_from_db()
    assert (float(clinic.longitude), float(clinic.latitude)) == (117.031, 36.671)
    assert AuditEvent.objects.get(action="grid.map_import").changes["format"] == [None, "kml"]


def test_kml_without_a_namespace_is_read_too(world):
    data = _kml(_placemark("x", _polygon(117.03, 36.67), code="S-C-G1"), namespace="")
    assert geo.kml_import(data=data, principal=world.users["secretary"]) == {"grids": 1, "places": 0}


def test_one_bad_placemark_refuses_the_file_and_names_it(world):
    data = _kml(
        _placemark("ok", _polygon(117.03, 36.67), code="S-C-G1"),
        _placemark("open", _polygon(117.04, 36.67, close=False), code="S-C-G2"),
        _placemark("NOPE", _polygon(117.05, 36.67)),
        _placemark("road", "<LineString><coordinates>117,36 117.1,36.1</coordinates></LineString>", code="S-C-G2"),
        _placemark(
            "bad",
            "<Polygon><outerBoundaryIs><LinearRing><coordinates>117;36 x</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon>",
            code="S-C-G2",
        ),
    )
    with pytest.raises(RowErrors) as refused:
        geo.map_file_import(data=data, principal=world.users["secretary"])
    rows = {r["row"]: r["code"] for r in refused.value.rows}
    assert rows == {2: "geo_ring_open", 3: "geo_grid", 4: "geo_type", 5: "geo_position"}
    assert not GridNode.objects.filter(boundary__isnull=False).exists()
    # A grid head may not draw the tree.
    with pytest.raises(RowErrors):
        geo.kml_import(data=_kml(_placemark("x", _polygon(117.0, 36.6), code="S-C")), principal=world.users["head1"])


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<kml><Document><Placemark>", "geo_unreadable"),  # cut off
        (b"<html><body>not a map</body></html>", "geo_unreadable"),
        (_kml(), "geo_unreadable"),  # no placemark
        (
            b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<kml><Placemark><name>&b;</name></Placemark></kml>",
            "geo_unreadable",
        ),
        ('<?xml version="1.0" encoding="UTF-16"?><kml></kml>'.encode("utf-16"), "geo_unreadable"),
        (b"PK\x03\x04 zipped", "geo_kmz"),
    ],
)
def test_a_file_that_is_not_readable_kml_is_refused_saying_why(world, data, code):
    with pytest.raises(DomainError) as refused:
        geo.map_file_import(data=data, principal=world.users["secretary"])
    assert refused.value.code == code and not isinstance(refused.value, RowErrors)
    assert not GridNode.objects.filter(boundary__isnull=False).exists()


def test_the_import_page_takes_a_kml_file(world):
    client = Client()
    client.force_login(world.users["secretary"])
    upload = SimpleUploadedFile("grids.kml", _kml(_placemark("x", _polygon(117.03, 36.67), code="S-C-G1")))
    response = client.post("/grids/map-import/", {"file": upload}, follow=True)
    assert response.status_code == 200
    assert GridNode.objects.get(code="S-C-G1").boundary["type"] == "Polygon"
    bad = SimpleUploadedFile("grids.kml", _kml(_placemark("NOPE", _polygon(117.04, 36.67))))
    report = client.post("/grids/map-import/", {"file": bad})
    assert report.status_code == 422 and 'class="errors"' in report.content.decode()
    broken = SimpleUploadedFile("grids.kml", b"<kml><Placemark>")
    refused = client.post("/grids/map-import/", {"file": broken})
    assert refused.status_code == 302  # back to the form, the reason at its top
    assert GridNode.objects.filter(boundary__isnull=False).count() == 1
    assert not Place.objects.filter(longitude__isnull=False).exists()
