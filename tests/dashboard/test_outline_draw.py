"""网格地图 (issue 13 §2): a grid's outline drawn or edited on the map page, saved through one
audited service with the import's checks, by who edits the grid tree there."""

import json

import pytest
from django.test import Client

from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.grids import geo
from epigrid.grids.models import GridNode

BOX = {"type": "Polygon", "coordinates": [[[117.03, 36.67], [117.031, 36.67], [117.031, 36.671], [117.03, 36.67]]]}


def test_the_service_saves_a_checked_outline_and_audits_its_size(world):
    node = world.nodes["S-C-G1"]
    geo.grid_boundary_save(node=node, boundary=BOX, principal=world.users["secretary"])
    assert GridNode.objects.get(pk=node.pk).boundary == BOX
    event = AuditEvent.objects.get(action="grid.boundary_save")
    assert event.changes == {"positions": [None, 4]} and event.grid_path == node.path


@pytest.mark.parametrize(
    ("boundary", "code"),
    [
        (None, "geo_type"),
        ({"type": "Point", "coordinates": [117, 36]}, "geo_type"),
        ({"type": "Polygon", "coordinates": [[[117, 36], [117.1, 36], [117.1, 36.1], [117, 36.2]]]}, "geo_ring_open"),
        ({"type": "Polygon", "coordinates": [[[217, 36], [117.1, 36], [117.1, 36.1], [217, 36]]]}, "geo_range"),
    ],
)
def test_a_bad_outline_is_refused_and_the_old_one_stays(world, boundary, code):
    node = world.nodes["S-C-G1"]
    geo.grid_boundary_save(node=node, boundary=BOX, principal=world.users["secretary"])
    with pytest.raises(DomainError) as refused:
        geo.grid_boundary_save(node=node, boundary=boundary, principal=world.users["secretary"])
    assert refused.value.code == code
    assert GridNode.objects.get(pk=node.pk).boundary == BOX
    assert AuditEvent.objects.filter(action="grid.boundary_save").count() == 1


def test_only_who_edits_the_grid_tree_there_may_draw(world):
    node = world.nodes["S-C-G1"]
    with pytest.raises(Forbidden):
        geo.grid_boundary_save(node=node, boundary=BOX, principal=world.users["head1"])
    with pytest.raises(NotFound):
        geo.grid_boundary_save(node=node, boundary=BOX, principal=world.users["head2"])
    assert not GridNode.objects.filter(boundary__isnull=False).exists()


def test_the_map_page_offers_the_editor_and_saves_the_drawn_outline(world):
    client = Client()
    client.force_login(world.users["secretary"])
    page = client.get("/dashboard/S-C-G1/map/").content.decode()
    assert 'data-testid="outline-edit"' in page and "leaflet-geoman.min" in page
    data = json.loads(page.split('id="map-data" type="application/json">')[1].split("</script>")[0])
    assert data["edit"]["code"] == "S-C-G1" and data["edit"]["boundary"] is None
    saved = client.post("/dashboard/S-C-G1/outline/", {"boundary": json.dumps(BOX)})
    assert saved.status_code == 302 and saved["Location"] == "/dashboard/S-C-G1/map/"
    assert GridNode.objects.get(code="S-C-G1").boundary == BOX
    refused = client.post("/dashboard/S-C-G1/outline/", {"boundary": "null"})
    assert refused.status_code == 302 and GridNode.objects.get(code="S-C-G1").boundary == BOX
    # A grid head sees the map without the editor.
    client.force_login(world.users["head1"])
    page = client.get("/dashboard/S-C-G1/map/").content.decode()
    assert 'data-testid="outline-edit"' not in page and "leaflet-geoman" not in page
