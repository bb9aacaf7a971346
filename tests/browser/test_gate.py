"""The gate page on a guard's phone: type a pass number, enter 37.5, see the refusal."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_guard_types_a_pass_number_and_a_fever_is_refused(phone, log_in):
    page = log_in(phone, "guard")
    page.goto("/gates/")
    page.locator("ul.rows li a[href^='/gates/']").first.click()
    expect(page.locator("h1")).to_contain_text("北门")
    page.fill("#number", "JZXC-HYL-09-0001")
    page.fill("#temperature", "37.5")
    page.click("button[name=direction][value=in]")
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_be_visible()
    expect(verdict).to_have_class(re.compile("verdict-refused"))
    expect(verdict).to_contain_text(re.compile("发热|Fever"))
    # The recorded refusal appears in the recent passages without reloading the page.
    expect(page.locator("#recent")).to_contain_text("JZXC-HYL-09-0001")
    expect(verdict).to_have_class(re.compile("verdict-refused"))  # the list's reload leaves the verdict


def test_a_number_that_is_not_of_this_checkpoint_shows_only_that(phone, log_in):
    """Another compound's number answers like one never issued (404), and the answer box shows it."""
    page = log_in(phone, "guard")
    page.goto("/gates/")
    page.locator("ul.rows li a[href^='/gates/']").first.click()
    page.fill("#number", "JZXC-HYL-01-0001")
    page.click("button[name=direction][value=out]")
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_be_visible()
    expect(verdict).to_contain_text(re.compile("不是本检查点的出入证|Not a pass of this checkpoint"))
    expect(page.locator("#answer .code")).to_have_count(0)
