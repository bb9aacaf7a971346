"""Issue 11 "Offline", on a 360 px phone with Playwright's offline mode: a visitor registered at
the gate and an alert acknowledged and resolved on the day page while offline wait in IndexedDB
with client ids ("N 条待上传"), go through their batch endpoints when the network returns, and a
second replay of the same rows (the answer lost: the phone sends them again) stores nothing twice.
Offline, the visitor is never shown a green 放行 the gate could not check."""

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_offline import _kept_for_offline
from tests.factories import make_id_number

pytestmark = pytest.mark.browser

# The queue as the page keeps it (static/epigrid/offline.js): read it, and put rows back.
READ_QUEUE = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("epigrid-offline", 1);
  open.onsuccess = () => {
    const get = open.result.transaction("outbox").objectStore("outbox").getAll();
    get.onsuccess = () => resolve(get.result);
    get.onerror = () => reject(get.error);
  };
  open.onerror = () => reject(open.error);
})"""
PUT_BACK = """(items) => new Promise((resolve, reject) => {
  const open = indexedDB.open("epigrid-offline", 1);
  open.onsuccess = () => {
    const t = open.result.transaction("outbox", "readwrite");
    items.forEach((item) => t.objectStore("outbox").put(item));
    t.oncomplete = () => resolve(items.length);
    t.onerror = () => reject(t.error);
  };
  open.onerror = () => reject(open.error);
})"""


def _replayed(page, items) -> None:
    """The same rows sent again, by the page, as after a lost answer: back in the queue, then a
    page load (which sends what waits) empties it."""
    page.evaluate(PUT_BACK, items)
    page.reload()
    page.wait_for_function(f"({READ_QUEUE})().then(items => items.length === 0)", polling=300, timeout=15_000)


def test_a_visitor_registered_offline_waits_then_is_registered_once(phone, log_in, epigrid_cli):
    page = log_in(phone, "guard")
    expect(page).to_have_url(re.compile(r"/gates/\d+/$"))
    _kept_for_offline(page)
    name = f"离线访客{uuid.uuid4().hex[:4]}"

    page.context.set_offline(True)
    page.reload()
    page.click("details#visitor summary")
    page.fill("#v-name", name)
    page.fill("#v-phone", "13912345678")
    page.fill("#v-id", make_id_number())
    page.fill("#v-visiting", "3-1-101")
    page.fill("#v-reason", "送菜")
    page.fill("#v-temperature", "36.5")
    page.click("#visitor-form button.primary")
    verdict = page.locator("#visitor-answer [data-testid=verdict]")
    expect(verdict).to_contain_text("离线：仅记录，稍后核验")
    expect(verdict).to_contain_text(name)
    expect(verdict).to_have_class(re.compile("verdict-offline"))
    expect(page.locator("#visitor-answer .verdict-allowed")).to_have_count(0)
    expect(page.locator("#visitor-answer")).not_to_contain_text("放行")
    outbox = page.get_by_test_id("outbox")
    expect(outbox).to_have_text("1 条待上传")
    expect(page.locator("#v-name")).to_have_value("")  # ready for the next visitor
    queued = page.evaluate(READ_QUEUE)
    assert [(i["kind"], i["row"]["name"]) for i in queued] == [("visitor", name)], queued
    client_id = queued[0]["client_id"]

    page.context.set_offline(False)  # the network returns: sent, checked by the server
    expect(outbox).not_to_contain_text("待上传", timeout=15_000)
    expect(outbox).to_contain_text("已上传 1 条")
    expect(page.locator("#recent")).to_contain_text(name)

    _replayed(page, queued)
    expect(page.locator("#recent")).to_contain_text(name)
    # Exactly one visitor and one passage for the client id, however often it was sent.
    epigrid_cli(
        "shell",
        "-c",
        "from epigrid.gates.models import Passage, Visitor\n"
        f"assert Passage.objects.filter(client_id={client_id!r}).count() == 1\n"
        f"assert Visitor.objects.filter(name={name!r}).count() == 1\n",
    )


RAISE_ALERT = """
from epigrid.accounts.models import User
from epigrid.alerts.services import ESCALATION, NewAlert, alerts_raise
from epigrid.people.models import Person
user = User.objects.get(username="member9")
node = user.grid_assignments.get().node
person = Person.objects.in_subtree(node.path).select_related("grid").order_by("pk").first()
alerts_raise(principal=ESCALATION, alerts=[NewAlert(
    kind="fever", dedup_key="offline-test:{key}", grid_id=person.grid_id, grid_path=person.grid.path,
    person_id=person.pk, owner_id=user.pk, severity="urgent", detail={{"value": "38.6", "test": "{key}"}},
)])
"""

ALERT_MOVED_ONCE = """
from epigrid.alerts.models import Alert
from epigrid.core.models import AuditEvent
alert = Alert.objects.get(dedup_key="offline-test:{key}")
assert (alert.status, alert.resolution) == ("resolved", "已电话联系，复测正常"), (alert.status, alert.resolution)
assert str(alert.acknowledged_client_id) == "{ack}" and str(alert.resolved_client_id) == "{res}"
moves = AuditEvent.objects.filter(object_type="alerts.alert", object_id=str(alert.pk))
assert moves.filter(action="alert.acknowledge").count() == 1, list(moves.values_list("action", flat=True))
assert moves.filter(action="alert.resolve").count() == 1, list(moves.values_list("action", flat=True))
"""


def test_an_alert_handled_offline_waits_then_moves_once(phone, log_in, epigrid_cli):
    key = uuid.uuid4().hex[:8]
    epigrid_cli("shell", "-c", RAISE_ALERT.format(key=key))
    page = log_in(phone, "member9")
    page.goto("/health/today/")
    _kept_for_offline(page)
    mine = page.request.get("/api/v1/alerts?mine=true&limit=200").json()["items"]
    alert_id = next(a["id"] for a in mine if a["detail"].get("test") == key)

    page.context.set_offline(True)
    page.reload()
    form = page.locator(f"form[data-offline=alert][data-alert='{alert_id}']")
    row = page.get_by_test_id("alert").filter(has=form)
    form.locator("button[data-action=acknowledge]").click()
    outbox = page.get_by_test_id("outbox")
    expect(outbox).to_have_text("1 条待上传")
    expect(row.get_by_test_id("queued-alert")).to_have_text("已确认 · 待上传")
    expect(form.locator("button[data-action=acknowledge]")).to_have_count(0)

    form.locator("button[data-action=resolve]").click()  # no note: asked for one, nothing queued
    expect(outbox).to_have_text("1 条待上传")
    form.locator("input[name=resolution]").fill("已电话联系，复测正常")
    form.locator("button[data-action=resolve]").click()
    expect(outbox).to_have_text("2 条待上传")
    expect(row.get_by_test_id("queued-alert")).to_have_text("已办结 · 待上传")
    expect(form).to_be_hidden()
    queued = page.evaluate(READ_QUEUE)
    moves = {i["row"]["action"]: i["client_id"] for i in queued if i["kind"] == "alert"}
    assert set(moves) == {"acknowledge", "resolve"}, queued

    page.context.set_offline(False)  # sent; the day page reloads without the handled alert
    expect(outbox).to_be_hidden(timeout=15_000)
    expect(page.locator(f"form[data-alert='{alert_id}']")).to_have_count(0, timeout=15_000)
    handled = page.request.get("/api/v1/alerts?mine=true&include_resolved=true&limit=200").json()["items"]
    assert next(a["status"] for a in handled if a["id"] == alert_id) == "resolved"

    _replayed(page, queued)
    epigrid_cli("shell", "-c", ALERT_MOVED_ONCE.format(key=key, ack=moves["acknowledge"], res=moves["resolve"]))
    assert json.dumps(queued)  # the queue held nothing that could not be sent as JSON


def test_a_row_the_server_refuses_is_listed_with_why_and_can_be_removed(phone, log_in):
    page = log_in(phone, "guard")
    expect(page).to_have_url(re.compile(r"/gates/\d+/$"))
    _kept_for_offline(page)
    name = f"无此户访客{uuid.uuid4().hex[:4]}"

    page.context.set_offline(True)
    page.reload()
    page.click("details#visitor summary")
    page.fill("#v-name", name)
    page.fill("#v-phone", "13912345678")
    page.fill("#v-id", make_id_number())
    page.fill("#v-visiting", "99-9-999")  # no such household in this compound
    page.fill("#v-reason", "送菜")
    page.fill("#v-temperature", "36.5")
    page.click("#visitor-form button.primary")
    outbox = page.get_by_test_id("outbox")
    expect(outbox).to_contain_text("1 条待上传")

    page.context.set_offline(False)
    refused = page.get_by_test_id("outbox-refused")
    expect(refused).to_be_visible(timeout=15_000)
    refused.locator("summary").click()
    expect(refused.locator("li")).to_have_count(1)
    expect(refused.locator("li")).to_contain_text(name)  # what was typed, and why the server refused it
    assert len(page.evaluate(READ_QUEUE)) == 1  # kept on the phone until its user has seen it

    page.once("dialog", lambda dialog: dialog.accept())
    refused.locator("[data-outbox-clear]").click()
    expect(outbox).to_be_hidden()
    assert page.evaluate(READ_QUEUE) == []
