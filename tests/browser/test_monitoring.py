"""The resident reports from their personal link; the fever shows on the grid member's screen."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_resident_reports_a_fever_and_the_grid_member_sees_it(browser, live_server_url, phone, log_in):
    page = log_in(phone, "member9")
    page.goto("/people/?q=张子涵")
    page.locator("ul.rows li a[href^='/people/']").first.click()
    link = page.get_by_test_id("resident-link").get_attribute("href")
    assert re.search(r"/r/[\w-]{20,}/$", link)
    expect(page.get_by_test_id("health-code")).to_have_text(re.compile("红码|Red"))

    # The resident: no account, another phone, one field.
    resident = browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN").new_page()
    resident.goto(link)
    expect(resident.get_by_test_id("days-left")).to_have_text(re.compile(r"^\d+$"))
    resident.fill("input[name=value]", "38.4")
    resident.click("button.primary")
    expect(resident.get_by_test_id("result")).to_be_visible()
    expect(resident.get_by_test_id("result")).to_have_class(re.compile("error"))
    resident.context.close()

    page.goto("/health/today/")
    fever = page.get_by_test_id("alert").filter(has_text="张子涵").filter(has_text="38.4")
    expect(fever).to_have_count(1)


def test_comma_decimal_is_refused_with_a_clear_message(browser, live_server_url, phone, log_in):
    page = log_in(phone, "member9")
    page.goto("/people/?q=张梓萱")
    page.locator("ul.rows li a[href^='/people/']").first.click()
    link = page.get_by_test_id("resident-link").get_attribute("href")
    resident = browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN").new_page()
    resident.goto(link)
    resident.fill("input[name=value]", "36,5")
    resident.click("button.primary")
    expect(resident.locator(".errorlist")).to_contain_text("36.5")
    resident.context.close()
