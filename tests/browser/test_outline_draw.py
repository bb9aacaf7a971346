"""网格地图 in a browser: the commander draws a building's outline on the map page with the
vendored Leaflet-Geoman toolbar and saves it; the map then shows it."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_commander_draws_a_buildings_outline_and_saves_it(phone, log_in):
    errors = []
    phone.on("pageerror", lambda e: errors.append(str(e)))
    page = log_in(phone, "commander")
    page.goto("/dashboard/JZXC-HYL-09-B01/map/")
    expect(page.get_by_test_id("outline-edit")).to_be_visible()
    data = page.evaluate("JSON.parse(document.getElementById('map-data').textContent)")
    assert data["edit"]["boundary"] is None and data["edit"]["around"]  # placed over 第9网格's outline
    expect(page.locator("#grid-map .leaflet-pm-toolbar")).to_have_count(0)  # a plain map until asked
    page.get_by_test_id("outline-start").click()
    page.locator("#grid-map .leaflet-pm-icon-rectangle").click()
    box = page.locator("#grid-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35)
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6)
    expect(page.locator("#grid-map path.leaflet-interactive")).to_have_count(1)
    page.get_by_test_id("outline-save").click()
    expect(page.locator("ul.messages li.msg-success")).to_be_visible()
    saved = page.evaluate("JSON.parse(document.getElementById('map-data').textContent)")
    assert saved["edit"]["boundary"]["type"] == "Polygon"
    assert len(saved["edit"]["boundary"]["coordinates"][0]) == 5  # a rectangle, closed
    assert [f["properties"]["code"] for f in saved["features"]] == ["JZXC-HYL-09-B01"]
    assert errors == []
