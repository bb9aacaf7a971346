"""A ledger import on the desktop: the community office downloads its residents ledger, uploads it
again (the button greys out while the file goes up), and the job page follows the import, its
progress bar polled by htmx, to the per-row report: every row unchanged, none created."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_uploaded_ledger_runs_as_a_job_to_its_report(browser, live_server_url, log_in, tmp_path):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=live_server_url, locale="zh-CN", accept_downloads=True
    )
    context.set_default_timeout(20_000)
    page = log_in(context.new_page(), "community")
    # The ledger as the office exports it (a download of personal data: audited).
    page.goto("/people/import/")
    with page.expect_download() as download:
        page.evaluate("location.href = '/people/export/residents/?grid=JZXC-HYL'")
    ledger = tmp_path / "居民台账.xlsx"
    download.value.save_as(ledger)

    page.goto("/people/import/")
    page.select_option("#id_kind", "residents")
    page.set_input_files("#id_file", str(ledger))
    # What the button is once the form is sent, kept across the navigation to the job page.
    page.evaluate(
        """() => document.addEventListener("submit", () => {
            const b = document.querySelector("form[data-busy-form] button[type=submit]");
            sessionStorage.setItem("busy", JSON.stringify([b.disabled, b.textContent]));
        })"""
    )
    page.locator("form[data-busy-form] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    disabled, label = page.evaluate("JSON.parse(sessionStorage.getItem('busy'))")
    assert disabled and "正在上传" in label  # the upload could not be sent twice
    progress = page.locator("#job-progress")
    first = progress.get_attribute("data-status")  # usually still queued or running here
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") else None)
    expect(progress.locator("progress")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("台账导入")
    # htmx polls the card until the job has ended; then the report is there, sorted by row.
    expect(progress).to_have_attribute("data-status", "done")
    report = page.locator("#import-report")
    expect(report).to_be_visible()
    if first in ("queued", "running"):
        assert polls and all(re.search(r"/jobs/\d+/$", url) for url in polls), polls
    unchanged = int(report.locator("[data-count=unchanged]").inner_text())
    assert unchanged > 200
    expect(report.locator("[data-count=created]")).to_have_text("0")
    expect(report.locator("[data-count=refused]")).to_have_text("0")
    rows = [int(n) for n in report.locator("tbody tr td:first-child").all_inner_texts()]
    assert rows == sorted(rows) and rows[0] == 2
    expect(progress.locator("[data-count=checked]")).to_have_text(f"{unchanged} / {unchanged}")
    expect(progress.locator("form[action$='/cancel/']")).to_have_count(0)  # ended: nothing to cancel
    # The job is listed among the office's background jobs.
    page.goto("/jobs/")
    expect(page.locator("main")).to_contain_text("居民台账.xlsx")
    context.close()
