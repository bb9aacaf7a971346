"""返乡申报 on a phone: the grid member prints the compound's poster; an arriving resident opens its
link (no account, 360 px), registers, and the registration waits as a tip on the grid member's
list, never as a person."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import make_id_number

pytestmark = pytest.mark.browser

# Where to keep the screenshots of the form and the poster (for review), when asked.
SHOTS = os.environ.get("EPIGRID_SHOTS")


def _shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_self_registration_lands_as_a_tip(browser, live_server_url, phone, log_in):
    page = log_in(phone, "member9")
    page.goto("/control/grids/JZXC-HYL-09/poster/")
    page.get_by_role("button", name=re.compile("生成海报|Make the poster")).click()
    expect(page.get_by_test_id("poster")).to_be_visible()
    expect(page.locator("[data-testid=poster] .qr svg")).to_be_visible()
    _shot(page, "poster-360.png")
    link = page.get_by_test_id("poster-link").get_attribute("href")
    assert re.search(r"/control/join/[\w-]{24,}/$", link)

    resident = browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN").new_page()
    resident.goto(link)
    expect(resident.locator("h1")).to_have_text("返乡申报")
    resident.fill("#id_name", "欧阳娜娜")
    resident.fill("#id_id_number", make_id_number())
    resident.fill("#id_phone", "13912345670")
    resident.select_option("#id_origin_code", "420000")
    resident.fill("#id_origin_detail", "襄阳市襄城区")
    resident.select_option("#id_travel_mode", "train")
    resident.fill("#id_address", "1号楼2单元301")
    _shot(resident, "join-form-360.png")
    # A wrong check digit first: the error shows on the field, nothing is sent on.
    number = make_id_number()
    resident.fill("#id_id_number", number[:-1] + ("0" if number[-1] != "0" else "1"))
    resident.click("button.primary")
    expect(resident.locator("#id_id_number-error")).to_be_visible()
    _shot(resident, "join-form-error-360.png")
    resident.fill("#id_id_number", make_id_number())
    resident.click("button.primary")
    expect(resident.get_by_test_id("registered")).to_be_visible()
    _shot(resident, "join-done-360.png")
    resident.context.close()

    page.goto("/control/self-registrations/")
    row = page.get_by_test_id("self-registration").filter(has_text="欧阳娜娜")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("1号楼2单元301")
    _shot(page, "self-registrations-360.png")
    page.goto("/people/?q=欧阳娜娜")
    expect(page.locator("ul.rows li a[href^='/people/']")).to_have_count(0)
