"""泉心愿 in a browser (issue 12 acceptance): a volunteer signs up from the community's QR page on a
phone, the community office approves them and gives them their link, and the volunteer claims a
resident's wish on the phone."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_volunteer_signs_up_is_approved_and_claims_a_wish_on_a_phone(browser, phone, log_in, live_server_url):
    office = log_in(phone, "community")
    office.goto("/mobilization/volunteers/qr/JZXC-HYL/")
    expect(office.locator("svg").first).to_be_visible()
    signup = office.get_by_test_id("signup-link").get_attribute("href")

    # The volunteer, on their own phone, without an account.
    volunteer_phone = browser.new_context(viewport={"width": 360, "height": 780}, base_url=live_server_url)
    page = volunteer_phone.new_page()
    page.goto(signup)
    page.fill("input[name=name]", "赵志愿")
    page.fill("input[name=phone]", "13900005311")
    page.fill("input[name=skills]", "开车")
    page.locator("form button").last.click()
    expect(page.get_by_test_id("signed-up")).to_be_visible()

    # The office approves (htmx swaps the row) and makes the volunteer's link.
    office.goto("/mobilization/volunteers/")
    row = office.locator("li", has_text="赵志愿")
    row.get_by_role("button", name=re.compile("^(通过|Approve)$")).click()
    expect(
        office.locator("li", has_text="赵志愿").get_by_role("link", name=re.compile("专属链接|Personal link"))
    ).to_be_visible()
    office.locator("li", has_text="赵志愿").get_by_role("link", name=re.compile("专属链接|Personal link")).click()
    office.locator("main form button").click()
    link = office.get_by_test_id("volunteer-link").locator("a").get_attribute("href")

    # On the phone: the open wishes of the community, one claimed.
    page.goto(link)
    wishes = page.get_by_test_id("wishes")
    expect(wishes.get_by_role("button", name=re.compile("认领|Claim")).first).to_be_visible()
    wishes.get_by_role("button", name=re.compile("认领|Claim")).first.click()
    expect(page.get_by_test_id("wishes").locator(".tag.staff").first).to_be_visible()  # "yours", with the address
    volunteer_phone.close()
