"""A real epigrid server (own SQLite file, demo data) and Debian's Chromium, for the browser tests."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "epigrid-demo-0531"
PHONE = {"width": 360, "height": 780}
_SERVER: dict = {}  # the live server's environment and directory, for epigrid_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _epigrid(*args, env, cwd, timeout=180):
    command = [str(Path(sys.executable).parent / "epigrid"), *args]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}):\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http://127.0.0.1 URL)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {seconds} s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def live_server_url():
    """migrate + demo into a fresh temp dir, then `epigrid runserver --noreload` on a free port."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="epigrid-browser-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
        env.update(EPIGRID_VAR_DIR=tmp, EPIGRID_PRODUCTION="0", DEBUG="0", PYTHONUNBUFFERED="1")
        _epigrid("migrate", "--verbosity", "0", env=env, cwd=tmp)
        _epigrid("demo", env=env, cwd=tmp)
        _SERVER.update(env=env, cwd=tmp)
        port = _free_port()
        log = Path(tmp) / "server.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(Path(sys.executable).parent / "epigrid"), "runserver", "--noreload", f"127.0.0.1:{port}"],
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(f"{url}/login/", server, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture(scope="session")
def epigrid_cli(live_server_url):
    """epigrid_cli("shell", "-c", code): a command on the live server's database (to set a scene
    up the way the operator would at the console)."""
    return lambda *args: _epigrid(*args, env=_SERVER["env"], cwd=_SERVER["cwd"])


@pytest.fixture(scope="session")
def browser(live_server_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def phone(browser, live_server_url, request):
    """A fresh 360×780 phone context (no cookies); a screenshot in test-artifacts/ when the test fails."""
    context = browser.new_context(viewport=PHONE, base_url=live_server_url, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    yield page
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_")
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(console) + "\n")
        except Exception as exc:  # the page may be gone; the report matters more than the picture
            print(f"no screenshot for {name}: {exc}")
    context.close()


# The demo's published TOTP secret (README, `epigrid demo`): its logins that need a second factor
# share it. A code works once per user (django-otp refuses a time step already used), so each
# login of a user takes the next step not used yet (the server accepts one step ahead).
_STEPS_USED: dict[str, int] = {}


def demo_code(username: str) -> str:
    from epigrid.demo.scenario import DEMO_TOTP_KEY

    while True:
        now = int(time.time()) // 30
        step = max(now, _STEPS_USED.get(username, -1) + 1)
        if step <= now + 1:
            break
        time.sleep(30 - time.time() % 30 + 0.5)  # this period's and the next one's are used: wait
    _STEPS_USED[username] = step
    from django_otp.oath import totp

    return f"{totp(DEMO_TOTP_KEY, drift=step - now):06d}"


@pytest.fixture
def log_in():
    """log_in(page, username[, password]): fill the login form and submit it; where the account
    asks for its second factor next, give the code of the demo's TOTP secret."""

    def submit(page, username: str, password: str = PASSWORD):
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
        if "/account/mfa/" in page.url:
            page.fill("#id_code", demo_code(username))
            page.click("main form button[type=submit]")
            page.wait_for_load_state()
            assert "/account/mfa/" not in page.url, f"the demo's code was refused for {username}"
        return page

    return submit
