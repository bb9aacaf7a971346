"""Issue 11 "Everyone", on a 360 px phone: irreversible actions ask first and say what follows
(确诊, 作废), the navigation follows the role. Works in another grid than 第9网格 (the gate and
monitoring tests' compound) so that a confirmed case there closes nothing they use."""

import datetime as dt
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, demo_code

pytestmark = pytest.mark.browser

GRID = "JZXC-HYL-01"


def _shot(page, name: str, *, full_page: bool = True) -> None:
    """A screenshot for review when EPIGRID_SHOTS_DIR is set (e.g. /tmp/field-shots)."""
    if where := os.environ.get("EPIGRID_SHOTS_DIR"):
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=full_page)


def _api(base: str, method: str, path: str, body=None, token: str = ""):
    request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 URL)
        f"{base}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (our own http://127.0.0.1 URL)
        return json.loads(response.read() or b"null")


def _suspected_case(base: str) -> int:
    """A positive sample of a resident of 第1网格, through the API (the commander's token): a
    suspected case awaiting the experts. Returns the person's id."""
    login = {"username": "commander", "password": PASSWORD, "otp": demo_code("commander")}
    token = _api(base, "POST", "/auth/token", login)["token"]
    persons = _api(base, "GET", f"/persons?grid={GRID}&limit=5", token=token)
    person = persons["items"][0]
    now = dt.datetime.now(dt.UTC).isoformat()
    number = f"FIELD-{person['id']}"
    _api(
        base, "POST", "/samples", {"person_id": person["id"], "specimen_number": number, "sampled_at": now}, token=token
    )
    _api(
        base,
        "POST",
        "/results/batch",
        {"results": [{"specimen_number": number, "result": "positive", "result_at": now, "lab": "疾控"}]},
        token=token,
    )
    return person["id"]


def test_confirming_a_case_asks_first_and_says_what_follows(live_server_url, phone, log_in):
    person_id = _suspected_case(live_server_url)
    page = log_in(phone, "commander")
    page.goto(f"/people/{person_id}/")
    page.get_by_text("登记专家会诊").click()
    page.fill("input[name=held_at]", dt.datetime.now().strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=experts]", "市级专家组")
    select = page.locator("select[name=conclusion]")
    expect(select).to_have_value("")  # no default conclusion: the experts' choice is picked
    select.select_option("confirmed")
    page.locator("#health form:has(select[name=conclusion]) button.button", has_text="保存").click()

    step = page.get_by_test_id("confirm-step")
    expect(step).to_be_visible()
    follows = page.get_by_test_id("consequences")
    expect(follows).to_contain_text("应急预案")
    expect(follows).to_contain_text("第1网格")
    expect(follows).to_contain_text("疫点")
    _shot(page, "confirm-case")
    expect(page.get_by_test_id("health-code")).to_have_count(0)  # nothing happened yet
    page.get_by_test_id("confirm").click()

    expect(page).to_have_url(re.compile(rf"/people/{person_id}/$"))
    expect(page.locator(".messages")).to_contain_text("应急响应已启动")
    expect(page.get_by_test_id("health-code")).to_have_text(re.compile("红码"))


def test_revoking_a_pass_asks_first_and_says_it_is_done(phone, log_in):
    page = log_in(phone, "commander")
    page.goto(f"/gates/passes/{GRID}/")
    if page.locator("ul.rows li code").count() == 0:
        page.locator("main form.actions button.primary").click()
    first = page.locator("ul.rows li").first
    number = first.locator("code").inner_text().strip()
    first.get_by_role("button", name="作废").click()

    expect(page.get_by_test_id("confirm-step")).to_contain_text(number)
    expect(page.get_by_test_id("consequences")).to_contain_text("立即失效")
    _shot(page, "confirm-revoke")
    page.get_by_role("link", name="取消").click()  # cancel: the pass is still there
    expect(page.locator("ul.rows li code", has_text=number)).to_have_count(1)

    page.locator("ul.rows li", has=page.locator("code", has_text=number)).get_by_role("button", name="作废").click()
    page.get_by_test_id("confirm").click()
    expect(page).to_have_url(re.compile(rf"/gates/passes/{GRID}/$"))
    expect(page.locator(".messages")).to_contain_text(f"{number}已作废")
    _shot(page, "revoked")
    expect(page.locator("ul.rows li code", has_text=number)).to_have_count(0)


def test_a_guard_has_the_gate_tab_and_a_grid_member_today_people_alerts(browser, live_server_url, phone, log_in):
    page = log_in(phone, "member9")
    page.goto("/health/today/")
    bar = page.get_by_test_id("tabbar")
    expect(bar).to_be_visible()
    for label in ("今日", "人员", "预警"):
        expect(bar.get_by_role("link", name=label)).to_be_visible()
    for box in [bar.locator("a").nth(i).bounding_box() for i in range(bar.locator("a").count())]:
        if box and box["width"]:
            assert box["height"] >= 44 and box["width"] >= 44
    expect(page.locator("header nav.main-nav")).to_be_hidden()  # the full nav is the desktop's
    _shot(page, "nav-grid-member", full_page=False)
    bar.locator("summary").click()  # 更多: the rest of the member's links
    expect(bar.get_by_role("link", name="重点人员")).to_be_visible()
    _shot(page, "nav-grid-member-more", full_page=False)

    guard = browser.new_context(viewport={"width": 360, "height": 780}, base_url=live_server_url, locale="zh-CN")
    guard_page = log_in(guard.new_page(), "guard")
    guard_page.goto("/gates/")
    bar = guard_page.get_by_test_id("tabbar")
    expect(bar.get_by_role("link", name="卡点")).to_be_visible()
    expect(bar.get_by_role("link", name="人员")).to_have_count(0)
    expect(guard_page.locator("a[href='/people/']")).to_have_count(0)
    _shot(guard_page, "nav-guard", full_page=False)
    guard.close()
