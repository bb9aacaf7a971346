"""The command dashboard in a browser (issue 13 acceptance): the commander drills from the
subdistrict down to 第9网格, every level with its tiles, its children and drawn charts."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_commander_drills_from_the_subdistrict_to_grid_9(phone, log_in, epigrid_cli):
    epigrid_cli("sweep")  # the rollup the dashboard reads (beat does this every two minutes)
    page = log_in(phone, "commander")
    page.goto("/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/JZXC/$"))
    expect(page.locator("main h1")).to_contain_text("建筑新村街道")
    expect(page.locator("[data-figure=persons] b")).not_to_have_text("0")
    page.get_by_test_id("children").locator("a[href='/dashboard/JZXC-HYL/']").click()
    expect(page.locator("main h1")).to_contain_text("花园路社区")
    page.get_by_test_id("children").locator("a[href='/dashboard/JZXC-HYL-09/']").click()
    expect(page).to_have_url(re.compile(r"/dashboard/JZXC-HYL-09/$"))
    expect(page.locator("main h1")).to_contain_text("第9网格")
    # the breadcrumb leads back up, the charts are drawn, a tile opens the list behind it
    expect(page.locator("nav.crumbs a[href='/dashboard/JZXC/']")).to_be_visible()
    expect(page.locator("[data-chart=epicurve] canvas")).to_have_count(1)
    page.locator("a[data-figure=orders_home_quarantine]").click()
    expect(page).to_have_url(re.compile(r"/control/orders/\?kind=home_quarantine&grid=JZXC-HYL-09$"))
