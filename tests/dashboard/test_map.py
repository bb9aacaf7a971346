"""网格地图 (issue 13 §2): outlines imported from GeoJSON all or nothing, the map coloured by a
figure with points and checkpoints as markers, within the user's area."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from epigrid.core.errors import RowErrors
from epigrid.grids import geo
from epigrid.grids.models import GridNode
from epigrid.oversight import rollup


def _box(west, south, size=0.001):
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def _feature(code, geometry):
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


def test_outlines_are_imported_all_or_nothing(world):
    good = _feature("S-C-G1", _box(117.03, 36.67))
    open_ring = _feature(
        "S-C-G2", {"type": "Polygon", "coordinates": [[[117.0, 36.6], [117.1, 36.6], [117.1, 36.7], [117.0, 36.5]]]}
    )
    outside = _feature("S-C-G2", _box(200, 36.6))
    unknown = _feature("NOPE", _box(117.0, 36.6))
    with pytest.raises(RowErrors) as exc:
        geo.geojson_import(data=_collection(good, open_ring, outside, unknown), principal=world.users["secretary"])
    assert [r["row"] for r in exc.value.rows] == [2, 3, 4]
    assert not GridNode.objects.filter(boundary__isnull=False).exists()
    counts = geo.geojson_import(data=_collection(good), principal=world.users["secretary"])
    assert counts == {"grids": 1, "places": 0}
    assert GridNode.objects.get(code="S-C-G1").boundary["type"] == "Polygon"
    # A grid head may not draw the tree: the community's grid is no grid of theirs.
    with pytest.raises(RowErrors):
        geo.geojson_import(data=_collection(_feature("S-C", _box(117.0, 36.6))), principal=world.users["head1"])


def test_the_map_colours_the_grids_and_opens_their_dashboards(world):
    geo.geojson_import(
        data=_collection(_feature("S-C-G1", _box(117.03, 36.67)), _feature("S-C-G2", _box(117.04, 36.67))),
        principal=world.users["secretary"],
    )
    rollup.refresh()
    client = Client()
    client.force_login(world.users["secretary"])
    page = client.get("/dashboard/S-C/map/?figure=cases_confirmed").content.decode()
    data = json.loads(page.split('id="map-data" type="application/json">')[1].split("</script>")[0])
    assert [f["properties"]["code"] for f in data["features"]] == ["S-C-G1", "S-C-G2"]
    assert data["figure"] == "cases_confirmed" and data["features"][0]["properties"]["url"] == "/dashboard/S-C-G1/"
    assert 'id="grid-map"' in client.get("/dashboard/S-C/").content.decode()  # the dashboard's panel
    client.force_login(world.users["member1"])
    assert client.get("/dashboard/S-C/map/").status_code == 404
    mine = client.get("/dashboard/S-C-G1/map/").content.decode()
    assert "S-C-G2" not in mine


def test_the_import_page(world):
    client = Client()
    client.force_login(world.users["secretary"])
    upload = SimpleUploadedFile("grids.geojson", _collection(_feature("S-C-G2", _box(117.05, 36.67))))
    assert client.post("/grids/map-import/", {"file": upload}).status_code == 302
    assert GridNode.objects.get(code="S-C-G2").boundary is not None
    bad = SimpleUploadedFile("grids.geojson", b"not json")
    assert client.post("/grids/map-import/", {"file": bad}, follow=True).status_code == 200
    client.force_login(world.users["member1"])
    assert client.post("/grids/map-import/", {"file": upload}).status_code == 403
