"""Screenshots of the main pages on a 360 px phone, one or more per role (issue 11).

    PYTHONPATH=src python scripts/screenshots.py [--out docs/screenshots]    # or: make screenshots

Loads the demo into a throw-away SQLite database, serves it with gunicorn on loopback, logs in
through the real login page (second factor included) with Debian's Chromium and writes
NN-role-page.png files (360 px wide, full page, at most MAX_HEIGHT px tall). The server is stopped
at the end, whatever happens.
"""

import argparse
import base64
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

from django_otp.oath import totp
from PIL import Image
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
PHONE = {"width": 360, "height": 780}
MAX_HEIGHT = 2400
PASSWORD = "epigrid-demo-0531"  # noqa: S105 - the demo's published password (README)
# The demo's published TOTP secret (README): the accounts that need a second factor share it.
DEMO_TOTP_KEY = base64.b32decode("MVYGSZ3SNFSC2ZDFNVXS25DPORYC2MBV")
GRID = "JZXC-HYL-09"  # the guard's compound, the grid member's and the grid head's grid
CASE_GRID = "JZXC-HYL-01"  # where the doctor confirms a case (the incident lands there, not in 第9网格)
PASS_NUMBER = "JZXC-HYL-09-0001"  # noqa: S105 - a household pass of the demo, not a secret
SHANGHAI = ZoneInfo("Asia/Shanghai")

# Loopback never goes through the machine's proxy (set for the package registries).
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env, *args) -> str:
    result = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "-m", "epigrid.manage", *args], env=env, check=True, text=True, capture_output=True
    )
    return result.stdout


def _wait(url: str, server) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server did not start")
        try:
            _LOOPBACK.open(url, timeout=30).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not answer in 120 s")


# A code works once per user (django-otp refuses a time step already used): each login of a user
# takes the next step not used yet (the server accepts one step ahead).
_STEPS_USED: dict[str, int] = {}


def _code(username: str) -> str:
    while True:
        now = int(time.time()) // 30
        step = max(now, _STEPS_USED.get(username, -1) + 1)
        if step <= now + 1:
            break
        time.sleep(30 - time.time() % 30 + 0.5)
    _STEPS_USED[username] = step
    return f"{totp(DEMO_TOTP_KEY, drift=step - now):06d}"


def _api(base: str, method: str, path: str, body=None, token: str = ""):
    request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 URL)
        f"{base}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with _LOOPBACK.open(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _suspected_case(base: str) -> int:
    """A positive sample of a resident of CASE_GRID (the commander's token): a suspected case
    awaiting the experts, for the doctor's consultation. Returns the person's id."""
    login = {"username": "commander", "password": PASSWORD, "otp": _code("commander")}
    token = _api(base, "POST", "/auth/token", login)["token"]
    person = _api(base, "GET", f"/persons?grid={CASE_GRID}&limit=5", token=token)["items"][0]
    now = dt.datetime.now(dt.UTC).isoformat()
    number = f"SHOT-{person['id']}"
    sample = {"person_id": person["id"], "specimen_number": number, "sampled_at": now}
    _api(base, "POST", "/samples", sample, token=token)
    result = {"specimen_number": number, "result": "positive", "result_at": now, "lab": "疾控"}
    _api(base, "POST", "/results/batch", {"results": [result]}, token=token)
    return person["id"]


def _scene(env) -> dict:
    """Ids the pages need: a household of 第9网格 with its team (looked after by a party member
    when one is), a resident of it under home isolation with a personal link (their file shows the
    order, the temperatures and the link)."""
    code = (
        "import json\n"
        "from epigrid.people.models import Household\n"
        "from epigrid.mobilization.models import LookedAfter\n"
        "from epigrid.health.models import ResidentLink\n"
        "from epigrid.health.services import resident_link_token\n"
        f"grid = {GRID!r}\n"
        "teams = Household.objects.filter(grid__code__startswith=grid, team__isnull=False).distinct()\n"
        "chained = set(LookedAfter.objects.filter(ended_at__isnull=True).values_list('household_id', flat=True))\n"
        "household = next((h for h in teams if h.pk in chained), None) or teams.first()\n"
        "link = ResidentLink.objects.filter(revoked_at__isnull=True, person__grid__code__startswith=grid)"
        ".order_by('pk').first()\n"
        "print(json.dumps({'household': household.pk, 'person': link.person.pk,"
        " 'link': resident_link_token(person=link.person)}))\n"
    )
    return json.loads(_manage(env, "shell", "-c", code).strip().splitlines()[-1])


class Shots:
    def __init__(self, browser, base: str, out: Path):
        self.browser, self.base, self.out, self.n = browser, base, out, 0
        self.written: list[Path] = []

    def context(self, username: str | None = None):
        context = self.browser.new_context(
            viewport=PHONE, device_scale_factor=1, base_url=self.base, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        context.set_default_timeout(20_000)
        page = context.new_page()
        if username:
            page.goto("/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("main form button[type=submit]")
            page.wait_for_load_state()
            if "/account/mfa/" in page.url:
                page.fill("#id_code", _code(username))
                page.click("main form button[type=submit]")
                page.wait_for_load_state()
            if "/login/" in page.url or "/account/mfa/" in page.url:
                raise SystemExit(f"could not log in as {username}")
        return page

    def take(self, page, role: str, name: str, *, idle: bool = True) -> None:
        if idle:  # (offline, nothing is loading anyway)
            page.wait_for_load_state("networkidle")
        self.n += 1
        path = self.out / f"{self.n:02d}-{role}-{name}.png"
        # The whole page as one tall phone screen (not full_page, which would leave the fixed tab
        # bar in the middle, where the 780 px screen ends), at most MAX_HEIGHT px of it.
        height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
        page.set_viewport_size({"width": PHONE["width"], "height": max(height, PHONE["height"])})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path))
        page.set_viewport_size(PHONE)
        # 256 colours, no dithering: a third of the size, the text as sharp (flat UI colours).
        with Image.open(path) as shot:
            small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(path, optimize=True)
        self.written.append(path)
        print(f"screenshots: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)


def _take_all(shots: Shots, scene: dict, case_person: int, env: dict) -> None:
    # The guard: the gate page idle, then a pass number typed and let through.
    page = shots.context("guard")
    page.goto("/gates/")
    page.locator("ul.rows li a[href^='/gates/']").first.click()
    page.wait_for_load_state()
    shots.take(page, "guard", "gate")
    page.fill("#number", PASS_NUMBER)
    page.fill("#temperature", "36.5")
    page.click("button[name=direction][value=in]")
    expect(page.get_by_test_id("verdict")).to_be_visible()
    shots.take(page, "guard", "gate-passed")
    page.context.close()

    # The grid member: today's work, the persons, a person's file, the alerts, the 返乡申报 poster.
    page = shots.context("member9")
    page.goto("/health/today/")
    shots.take(page, "member9", "today")
    page.goto("/people/")
    shots.take(page, "member9", "persons")
    page.goto(f"/people/{scene['person']}/")
    shots.take(page, "member9", "person")
    page.goto("/alerts/")
    shots.take(page, "member9", "alerts")
    page.goto(f"/control/grids/{GRID}/poster/")
    page.get_by_role("button", name=re.compile("生成海报|Make the poster")).click()
    expect(page.get_by_test_id("poster")).to_be_visible()
    join = page.get_by_test_id("poster-link").get_attribute("href")
    shots.take(page, "member9", "poster")
    page.context.close()

    # The grid head: a household with its team and its party chain.
    page = shots.context("gridhead9")
    page.goto(f"/people/households/{scene['household']}/")
    shots.take(page, "gridhead9", "household")
    page.context.close()

    # Community staff: coverage, the control orders, the party chain.
    page = shots.context("community")
    pages = (("coverage", "/grids/coverage/"), ("orders", "/control/orders/"), ("chain", "/mobilization/chain/"))
    for name, url in pages:
        page.goto(url)
        shots.take(page, "community", name)
    page.context.close()

    # The doctor: the experts' consultation concluding "confirmed" asks first (the confirm step);
    # confirmed, it starts the emergency response the commander sees next.
    page = shots.context("doctor")
    page.goto(f"/people/{case_person}/")
    page.get_by_text("登记专家会诊").click()
    page.fill("input[name=held_at]", dt.datetime.now(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))  # the server's zone
    page.fill("input[name=experts]", "市级专家组")
    page.locator("select[name=conclusion]").select_option("confirmed")
    page.locator("#health form button.button", has_text="保存").click()
    expect(page.get_by_test_id("confirm-step")).to_be_visible()
    shots.take(page, "doctor", "confirm-case")
    page.get_by_test_id("confirm").click()
    page.wait_for_load_state()
    page.context.close()

    # The commander: the dashboard (after a sweep refreshed its rollup) from the subdistrict down
    # to 第9网格, the grid tree, the incidents, the incident just started.
    _manage(env, "sweep")
    page = shots.context("commander")
    page.goto("/dashboard/")
    shots.take(page, "commander", "dashboard")
    page.goto(f"/dashboard/{GRID}/")
    shots.take(page, "commander", "dashboard-grid")
    page.goto("/dashboard/JZXC-HYL/map/")
    page.wait_for_selector("#grid-map path")
    shots.take(page, "commander", "grid-map")
    # 日报: the sweep at 18:30 drafts the day's reports; the command center sees who has signed.
    _manage(env, "sweep", "--at", dt.datetime.now(SHANGHAI).replace(hour=18, minute=30).isoformat())
    page.goto("/reports/")
    shots.take(page, "commander", "daily-reports")
    page.locator("a", has_text="第9网格").first.click()
    shots.take(page, "commander", "daily-report")
    page.goto("/response/plan/")
    shots.take(page, "commander", "plan-editor")
    page.goto("/verification/")
    shots.take(page, "commander", "verification-lists")
    page.goto("/grids/")
    shots.take(page, "commander", "grid-tree")
    page.goto("/response/")
    hrefs = page.eval_on_selector_all("main a[href]", "links => links.map(a => a.getAttribute('href'))")
    href = next((h for h in hrefs if re.fullmatch(r"/response/\d+/", h)), None)
    if href:
        page.goto(href)
        shots.take(page, "commander", "incident")
    else:
        shots.take(page, "commander", "incidents")
    page.context.close()

    # A resident (no account): the personal report link, and the 返乡申报 form of the poster.
    page = shots.context()
    page.goto(f"/r/{scene['link']}/")
    shots.take(page, "resident", "personal-link")
    page.goto(join)
    expect(page.locator("h1")).to_have_text("返乡申报")
    shots.take(page, "resident", "self-registration")
    page.context.close()

    # Offline (the service worker's copies): the gate records a scan without a verdict, the day
    # page keeps a reading; both show what waits to be uploaded.
    page = shots.context("guard")
    page.goto("/gates/")
    page.locator("ul.rows li a[href^='/gates/']").first.click()
    _offline(page)
    page.fill("#number", PASS_NUMBER)
    page.fill("#temperature", "36.5")
    page.click("button[name=direction][value=out]")
    expect(page.get_by_test_id("outbox")).to_be_visible()
    shots.take(page, "guard", "gate-offline", idle=False)
    page.context.close()
    page = shots.context("member9")
    page.goto("/health/today/")
    _offline(page)
    row = page.get_by_test_id("slot-row").filter(has=page.locator("form[data-offline=reading]")).first
    row.locator("input[name=value]").fill("36.5")
    row.locator("button").click()
    expect(page.get_by_test_id("outbox")).to_be_visible()
    shots.take(page, "member9", "today-offline", idle=False)
    page.context.close()


def _offline(page) -> None:
    """Once the service worker controls the page and keeps its copy: the network cut, the page
    reloaded from that copy."""
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    page.reload()
    page.wait_for_function("caches.open('epigrid-pages').then(c => c.match(location.href)).then(r => !!r)")
    page.context.set_offline(True)
    page.reload()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    out = Path(parser.parse_args().out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9][0-9]-*.png"):  # numbering may shift: no stale pictures left behind
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="epigrid-shots-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "EPIGRID_REDIS_CACHE"}}
        env.update(
            DATABASE_URL=f"sqlite:///{tmp}/shots.sqlite3",
            EPIGRID_VAR_DIR=tmp,
            EPIGRID_PRODUCTION="0",
            DEBUG="0",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])),
        )
        print("screenshots: loading the demo …", flush=True)
        _manage(env, "migrate", "--verbosity", "0")
        _manage(env, "demo")
        scene = _scene(env)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(Path(tmp) / "server.log", "w") as log:
            server = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
                [str(BIN / "gunicorn"), "epigrid.config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "60"],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait(f"{base}/login/", server)
                case_person = _suspected_case(base)
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    try:
                        shots = Shots(browser, base, out)
                        _take_all(shots, scene, case_person, env)
                    finally:
                        browser.close()
            except BaseException:
                log.flush()
                print((Path(tmp) / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            finally:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    print(f"screenshots: {len(shots.written)} PNGs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
