"""督查 on a phone (issue 13 §4): the inspector plans a round over 第9网格, records an item as
failed with a note and a photo taken on the phone, and orders its rectification, all on a 360 px
screen."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def test_an_inspector_records_a_failed_item_with_a_photo_and_orders_its_rectification(phone, log_in):
    page = log_in(phone, "inspector")
    page.goto("/inspections/")
    page.fill("#ir-grid", "JZXC-HYL-09")
    page.locator("form:has(#ir-grid) button").click()
    expect(page).to_have_url(re.compile(r"/inspections/\d+/$"))
    expect(page.locator("main h1")).to_contain_text("第9网格")

    item = page.locator("#item-0")
    item.locator("input[name=passed][value=no]").check()
    item.locator("#note-0").fill("门岗登记本缺三户")
    item.locator("#photo-0").set_input_files(files=[{"name": "gate.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}])
    item.locator("form button").first.click()
    item = page.locator("#item-0")
    expect(item.locator(".tag.error")).to_be_visible()
    expect(item).to_contain_text("门岗登记本缺三户")
    photo = item.locator("a[href*='/finding/'][href$='/photo/']")
    expect(photo).to_be_visible()
    # The photo is served back, re-encoded as a JPEG, to the inspector who sees the grid.
    served = page.request.get(photo.get_attribute("href"))
    assert served.status == 200 and served.headers["content-type"] == "image/jpeg"

    item.locator("details summary").click()
    expect(item.locator("#rq-0")).to_have_value("门岗登记本缺三户")
    item.locator("#rq-0").fill("补齐门岗登记，拍照上传")
    item.locator("details form button").click()
    rectification = page.locator("#item-0 a[href*='/inspections/rectifications/']")
    expect(rectification).to_have_text("补齐门岗登记，拍照上传")
    # Nothing of the page runs off a phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.goto("/inspections/")
    expect(page.get_by_test_id("open-rectifications")).to_contain_text("补齐门岗登记，拍照上传")
