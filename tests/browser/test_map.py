"""网格地图 in a browser: the community's compounds drawn from the demo's outlines, a click on
one opens its dashboard."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_map_draws_the_compounds_and_opens_a_grids_dashboard(phone, log_in):
    errors = []
    phone.on("pageerror", lambda e: errors.append(str(e)))
    page = log_in(phone, "commander")
    page.goto("/dashboard/JZXC-HYL/map/?figure=orders_home_quarantine")
    # ten compounds, then the markers (the demo's checkpoint and any open epidemic point)
    expect(page.locator("#grid-map path.leaflet-interactive").nth(9)).to_be_visible()
    assert page.locator("#grid-map path.leaflet-interactive").count() >= 10
    assert errors == []
    # 第2网格, near its corner (other tests' epidemic points and the gate sit on 第9网格 as markers)
    page.locator("#grid-map path.leaflet-interactive").nth(1).click(position={"x": 6, "y": 6}, force=True)
    expect(page).to_have_url(re.compile(r"/dashboard/JZXC-HYL-02/$"))
