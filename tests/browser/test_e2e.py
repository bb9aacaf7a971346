"""End to end, in Chromium on a 360 px phone, against `epigrid runserver` with the demo data."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MASKED_ID = re.compile(r"^\d{6}\*{8}[\dX]{4}$")
FULL_ID = re.compile(r"^\d{17}[\dX]$")


def test_member_opens_a_person_file_and_reveals_the_id_number(phone, log_in):
    page = log_in(phone, "member9")
    expect(page.locator("nav.tabbar")).to_be_visible()

    page.click("nav.tabbar a[href='/grids/']")
    expect(page).to_have_url(re.compile(r"/grids/$"))
    page.click("main a[href='/grids/JZXC-HYL-09/']")
    expect(page.locator("h1")).to_contain_text("第9网格")

    page.click("nav.tabs a[href='?tab=persons']")
    expect(page).to_have_url(re.compile(r"tab=persons"))
    page.locator("ul.rows li a[href^='/people/']").first.click()
    expect(page).to_have_url(re.compile(r"/people/\d+/$"))

    masked = page.get_by_test_id("id-masked")
    expect(masked).to_have_text(MASKED_ID)
    shown = masked.inner_text().strip()

    page.locator("#id-number button").click()
    revealed = page.locator("#id-number .revealed")
    expect(revealed).to_have_text(FULL_ID)
    full = revealed.inner_text().strip()
    assert (full[:6], full[-4:]) == (shown[:6], shown[-4:])
    expect(page.get_by_test_id("id-masked")).to_have_count(0)


def test_chinese_by_default_and_the_switch_turns_english(phone, log_in):
    page = phone
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("main h1")).to_have_text("登录")

    page.click("header form button[name=language][value=en]")
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main h1")).to_have_text("Log in")

    log_in(page, "member9")  # the choice is a cookie: it outlives the login
    expect(page.locator("nav.tabbar")).to_contain_text("Grids")

    page.click("header form button[name=language][value=zh-hans]")
    expect(page.locator("nav.tabbar")).to_contain_text("网格")


def test_a_grid_outside_the_members_area_is_not_found(phone, log_in):
    page = log_in(phone, "member9")
    expect(page.locator("nav.tabbar")).to_be_visible()
    response = page.goto("/grids/JZXC-HYL-01/")
    assert response.status == 404
    expect(page.locator("main h1")).to_have_text(re.compile("^(未找到|Not found)$"))
    expect(page.locator("main")).not_to_contain_text("第1网格")


def test_five_wrong_passwords_lock_the_account(phone, log_in):
    # "gridhead9" is used by no other browser test: the lockout would spoil them.
    page = phone
    for _ in range(5):
        log_in(page, "gridhead9", "not-the-password")
        expect(page.locator("main [role=alert]")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/login/$"))
    wrong = page.locator("main [role=alert]").inner_text()

    log_in(page, "gridhead9")  # the right password, too late
    expect(page).to_have_url(re.compile(r"/login/$"))
    alert = page.locator("main [role=alert]")
    expect(alert).to_contain_text(re.compile(r"锁定|locked"))
    expect(alert).to_contain_text("15")  # LOGIN_LOCKOUT_MINUTES
    assert alert.inner_text() != wrong
    expect(page.locator("nav.main-nav, nav.tabbar")).to_have_count(0)


def test_the_commander_gives_the_code_before_anything_else(phone):
    from tests.browser.conftest import PASSWORD, demo_code

    page = phone
    page.goto("/login/")
    page.fill("#id_username", "commander")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/account/mfa/"))
    expect(page.locator("nav.main-nav, nav.tabbar")).to_have_count(0)
    page.goto("/grids/")
    expect(page).to_have_url(re.compile(r"/account/mfa/\?next=%2Fgrids%2F$"))
    page.fill("#id_code", "000000")
    page.click("main form button[type=submit]")
    expect(page.locator("main .errorlist")).to_be_visible()
    page.wait_for_timeout(1100)  # a wrong code holds the device for a second
    page.fill("#id_code", demo_code("commander"))
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/grids/$"))
    expect(page.locator("nav.tabbar")).to_be_visible()
