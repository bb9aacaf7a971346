"""Login throttling under parallel guesses (security issue item 6), against a real server
(gunicorn, 4 workers) on loopback, with the production password hasher (Argon2).

Three bursts of 40 requests released at once (a barrier), each from its own loopback address
(127.0.0.x; the server sees it as REMOTE_ADDR):

- `one_user`: 40 wrong passwords for one username: at most AXES_FAILURE_LIMIT password checks
  (answers 400 `login_failed`); the rest 429 `login_locked`;
- `many_users`: 40 usernames once each: at most LOGIN_IP_FAILURE_LIMIT password checks;
- then the guessed user from another address with the right password: 200.

`over` is how many password checks went past the limit: the target is 0, with no other answer
(no 500). The token endpoint's own rate per address (THROTTLE_RATES["token_issue"]) is raised for
the server so that only the lockout is measured. The same in both scales (40 is the figure).
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from epigrid.accounts.models import User

from .gates import _free_port, _stop_server
from .report import line, note, verdict

GUESSES = 40
PASSWORD = "bench-login-password-0531"  # a bench user's, in a throwaway database


def _start_server(port: int, log) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    env = dict(os.environ, EPIGRID_RATE_TOKEN_ISSUE="100000/min")
    return subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [str(gunicorn), "epigrid.config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "4", "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _post_token(port: int, source: str, username: str, password: str, otp: str = "") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        body = json.dumps({"username": username, "password": password} | ({"otp": otp} if otp else {}))
        conn.request(
            "POST",
            "/api/v1/auth/token",
            body=body,
            headers={"Content-Type": "application/json", "Host": "127.0.0.1"},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_ready(server: subprocess.Popen, port: int, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login/", headers={"Host": "127.0.0.1"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    log.seek(0)
    raise SystemExit(f"bench login: gunicorn did not answer on port {port}:\n{log.read().decode()[-2000:]}")


def _burst(port: int, source: str, attempts: list[tuple[str, str]]) -> Counter:
    barrier, statuses, lock = threading.Barrier(len(attempts)), Counter(), threading.Lock()

    def one(username, password):
        barrier.wait()
        try:
            status = _post_token(port, source, username, password)
        except OSError as exc:
            status = type(exc).__name__
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=one, args=attempt) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def run(scale, raw) -> None:
    staff = list(User.objects.filter(username__startswith="gm-").order_by("pk")[:4])
    for user in staff:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    victim = staff[0].username
    # Grid members log in with a second factor: the victim's real login from elsewhere gives its code.
    device, _created = TOTPDevice.objects.get_or_create(user=staff[0], name="bench", defaults={"confirmed": True})
    limit, address_limit = settings.AXES_FAILURE_LIMIT, settings.LOGIN_IP_FAILURE_LIMIT
    note(f"login: {GUESSES} parallel guesses, limits {limit} per user and address, {address_limit} per address")
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        server = _start_server(port, log)
        try:
            _wait_ready(server, port, log)
            start = time.perf_counter()
            one_user = _burst(port, "127.0.0.2", [(victim, f"guess-{i}") for i in range(GUESSES)])
            names = [u.username for u in staff] + [f"nobody-{i}" for i in range(GUESSES - len(staff))]
            many_users = _burst(port, "127.0.0.3", [(name, "guess") for name in names])
            seconds = time.perf_counter() - start
            elsewhere = _post_token(port, "127.0.0.4", victim, PASSWORD, f"{totp(device.bin_key):06d}")
        finally:
            _stop_server(server)
            if server.returncode not in (0, -15):
                log.seek(0)
                note(f"gunicorn exited {server.returncode}: {log.read().decode()[-1000:]}")

    def figures(statuses: Counter, cap: int) -> tuple[str, int, int]:
        checked, locked = statuses[400], statuses[429]
        errors = sum(n for status, n in statuses.items() if status not in (400, 429))
        return f"checked={checked}/{cap} locked={locked} errors={errors}", max(0, checked - cap), errors

    one_text, one_over, one_errors = figures(one_user, limit)
    many_text, many_over, many_errors = figures(many_users, address_limit)
    over, errors = one_over + many_over, one_errors + many_errors
    ok = over == 0 and errors == 0 and elsewhere == 200
    line(
        f"login.parallel guesses={GUESSES} one_user: {one_text} many_users: {many_text} "
        f"victim_elsewhere={elsewhere} over={over} wall={seconds:.1f}s target: over=0, no errors {verdict(ok)}"
    )
    if errors:
        note(f"login: answers one_user={dict(one_user)} many_users={dict(many_users)}")
