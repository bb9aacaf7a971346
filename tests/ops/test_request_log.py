"""Structured request lines (core/logs.py): one JSON line per request, with the request id, the
user's id, the route, the status and the duration; never a name or an ID number."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
from django.test import Client

from epigrid.core import logs
from tests.factories import api, make_id_number


@pytest.fixture
def request_lines():
    """The JSON lines the console handler of `epigrid.request` (and of slow queries) writes."""
    stream = io.StringIO()
    handlers = [logging.getLogger(name).handlers[0] for name in (logs.REQUEST_LOGGER, logs.SLOW_QUERY_LOGGER)]
    saved = [(handler, handler.setStream(stream), handler.formatter) for handler in handlers]
    for handler in handlers:
        handler.setFormatter(logs.formatter("json"))
    lines = []

    def read():
        lines[:] = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
        return lines

    yield read
    for handler, previous, formatter in saved:
        handler.setStream(previous)
        handler.setFormatter(formatter)


def test_one_line_per_request_with_ids_route_status_and_duration(world, request_lines):
    member = world.users["member1"]
    person = world.persons["p1"]
    client = Client()
    client.force_login(member)
    before = len(request_lines())
    response = client.get("/people/", {"q": person.name}, HTTP_X_REQUEST_ID="req-log-1")
    assert response.status_code == 200
    lines = [line for line in request_lines()[before:] if line["event"] == "request"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["request_id"] == "req-log-1" == response["X-Request-ID"]
    assert line["user_id"] == member.pk
    assert line["route"] == "people:persons"
    assert line["method"] == "GET" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["queries"] > 0 and line["slow_queries"] == 0
    assert line["level"] == "info" and line["logger"] == "epigrid.request" and line["timestamp"]
    text = json.dumps(line, ensure_ascii=False)
    # Nor does an ID number typed into the search box (refused with a 400, still logged).
    number = make_id_number()
    refused = client.get("/people/", {"q": number})
    refused_line = [line for line in request_lines() if line["event"] == "request"][-1]
    assert refused_line["status"] == refused.status_code == 400
    assert number not in json.dumps(refused_line)
    assert person.name in response.content.decode(), "the search found the person the line must not name"
    for personal in (member.username, member.full_name, person.name, person.id_number_masked):
        assert personal not in text
    assert "/people/" not in text, "the route's name, never the path (a path may carry a token)"


def test_anonymous_and_refused_requests_are_logged_too(db, request_lines):
    response = Client().get("/people/")
    assert response.status_code == 302
    line = [line for line in request_lines() if line["event"] == "request"][-1]
    assert line["user_id"] is None and line["status"] == 302
    assert line["request_id"] == response["X-Request-ID"] and len(line["request_id"]) == 32


def test_a_resident_link_is_logged_by_its_route_not_its_token(db, request_lines):
    response = Client().get("/r/not-a-real-token-123/")
    assert response.status_code == 404
    line = [line for line in request_lines() if line["event"] == "request"][-1]
    assert line["route"] == "resident" and "not-a-real-token-123" not in json.dumps(line)


def test_slow_queries_are_counted_and_logged_without_their_values(world, settings, request_lines):
    settings.LOG_SLOW_QUERY_MS = 0  # every query is "slow"
    client = Client()
    client.force_login(world.users["member1"])
    client.get(f"/people/{world.persons['p1'].pk}/")
    lines = request_lines()
    request = [line for line in lines if line["event"] == "request"][-1]
    slow = [line for line in lines if line["event"] == "slow_query"]
    assert request["slow_queries"] == request["queries"] == len(slow) > 0
    assert all(line["request_id"] == request["request_id"] and "sql" in line for line in slow)
    assert world.persons["p1"].name not in json.dumps(slow, ensure_ascii=False)


def test_the_error_reporter_is_off_without_a_dsn():
    assert logs.init_error_reporter("", environment="test", release="x") is False
    assert not sentry_sdk.get_client().is_active()


def test_the_error_reporter_sends_no_query_string_body_or_number():
    number = make_id_number()
    event = {
        "message": f"failed for {number}",
        "request": {
            "url": f"https://epigrid.example/people/?q={number}",
            "query_string": f"q={number}",
            "data": {"id_number": number},
            "cookies": {"sessionid": "s"},
            "headers": {"Cookie": "s"},
        },
    }
    scrubbed = logs._scrub_event(event, None)
    assert number not in json.dumps(scrubbed)
    assert set(scrubbed["request"]) == {"url"}


def test_an_api_call_is_logged_with_its_token_users_id(world, request_lines):
    call = api(world, "member1")
    response = call("get", f"/api/v1/persons/{world.persons['p1'].pk}")
    assert response.status_code == 200
    line = [line for line in request_lines() if line["event"] == "request"][-1]
    assert line["user_id"] == world.users["member1"].pk and line["status"] == 200
    assert line["route"] == "api:person_detail" and line["request_id"] == response["X-Request-ID"]
    assert world.persons["p1"].name not in json.dumps(line, ensure_ascii=False)


def test_static_files_and_probes_are_not_logged(db, request_lines):
    assert Client().get("/static/epigrid/app.css").status_code == 200
    assert Client().get("/healthz").status_code == 200
    assert [line for line in request_lines() if line["event"] == "request"] == []


def test_the_error_reporter_starts_with_a_dsn_and_sends_no_personal_data(tmp_path):
    """In a process of its own (sentry-sdk hooks into Django once initialised)."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings'); django.setup();"
        "import sentry_sdk; c = sentry_sdk.get_client(); o = c.options;"
        "print(c.is_active(), o['send_default_pii'], o['include_local_variables'], o['max_request_body_size'])"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "SENTRY_DSN": "https://public@127.0.0.1:9/1",  # nothing listens: nothing is sent
        "EPIGRID_VAR_DIR": str(tmp_path),
        "PYTHONPATH": str(root / "src"),
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "False", "False", "never"]
