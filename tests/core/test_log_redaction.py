"""No ID number or phone in a log line (issue 9 item 9): request lines of the development server,
Django's "Not Found" warnings, whatever reaches the console, and gunicorn's access and error
logs all go through one redaction, which takes out 18-digit ID numbers, mainland mobile numbers,
the values of sensitive query parameters and resident-link tokens."""

import datetime as dt
import io
import logging
import runpy
from pathlib import Path

from django.core.servers.basehttp import WSGIRequestHandler
from django.test import Client
from gunicorn.config import Config
from hypothesis import given
from hypothesis import strategies as st

from epigrid.config.gunicorn import RedactingLogger
from epigrid.core.redaction import redact
from epigrid.core.validators import id_check_char

ID_NUMBER = "37010219951222516X"
PHONE = "13800138000"
ROOT = Path(__file__).resolve().parents[2]


def test_redact_takes_out_numbers_in_their_usual_forms():
    lines = {
        f"GET /people/?q={ID_NUMBER} HTTP/1.1": "GET /people/?q=[redacted] HTTP/1.1",
        f"GET /people/?q={ID_NUMBER.lower()}&page=2": "GET /people/?q=[redacted]&page=2",
        f"GET /api/v1/persons?grid=S-C-G1&q={PHONE}": "GET /api/v1/persons?grid=S-C-G1&q=[redacted]",
        "GET /people/?q=%E5%BC%A0%E4%B8%89": "GET /people/?q=[redacted]",
        "GET /people/?Q=张三&grid=S-C": "GET /people/?Q=[redacted]&grid=S-C",
        f"Not Found: /people/{ID_NUMBER}/": "Not Found: /people/[redacted]/",
        f"Not Found: /people/{PHONE}/": "Not Found: /people/[redacted]/",
        "id 370102 19951222 516X here": "id [redacted] here",
        "call +86 138-0013-8000 now": "call [redacted] now",
        "call 8613800138000": "call [redacted]",
        f"/x?next=/people/%20{ID_NUMBER}": "/x?next=/people/%20[redacted]",
        "/login/?next=/people/%3Fq%3D%E5%BC%A0%26grid%3DS-C": "/login/?next=/people/%3Fq%3D[redacted]%26grid%3DS-C",
        "GET /r/Zx9_k-3fQ2/request/ HTTP/1.1": "GET /r/[redacted]/request/ HTTP/1.1",
        "GET /api/v1/resident/abcDEF123/temperature": "GET /api/v1/resident/abcDEF123/temperature",
    }
    for line, expected in lines.items():
        assert redact(line) == expected, line
    # What is not personal stays: ids, grid codes, times, longer digit runs, the request id.
    for line in (
        "GET /people/12345/?grid=S-C-G1&page=2 HTTP/1.1",
        "[02/Dec/2026 10:44:10] 200 4512 12ms",
        "order 123456789012345678901 (21 digits)",
        "request 9f1c0e5a4b7d4e2a8c3b1f6d5e4a3b2c",
        "GET /people/?faq=13 HTTP/1.1",
    ):
        assert redact(line) == line


def _id_numbers():
    digits = st.text(alphabet="0123456789", min_size=17, max_size=17)
    return digits.map(lambda first17: first17 + id_check_char(first17))


_not_digit = st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=20)


@given(before=_not_digit, number=_id_numbers(), after=_not_digit)
def test_no_id_number_survives_redaction(before, number, after):
    assert number not in redact(before + number + after)
    assert number.lower() not in redact(before + number.lower() + after)


@given(before=_not_digit, rest=st.text(alphabet="0123456789", min_size=10, max_size=10), after=_not_digit)
def test_no_mobile_number_survives_redaction(before, rest, after):
    phone = "1" + rest
    assert phone not in redact(before + phone + after)


def test_not_found_warnings_from_django_do_not_carry_the_number(world, caplog):
    client = Client()
    client.force_login(world.users["member1"])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(f"/people/{ID_NUMBER}/?q={PHONE}").status_code == 404
        assert client.get(f"/people/{PHONE}/").status_code == 404
    assert [r.levelname for r in caplog.records if r.name == "django.request"] == ["WARNING", "WARNING"]
    assert "Not Found: /people/[redacted]/" in caplog.text
    assert ID_NUMBER not in caplog.text and PHONE not in caplog.text


def _configured_handler(logger_name: str) -> logging.Handler:
    logger = logging.getLogger(logger_name)
    handlers = logger.handlers or logging.getLogger().handlers
    assert handlers, f"{logger_name} has no handler"
    return handlers[0]


def _captured(handler: logging.Handler):
    stream = io.StringIO()
    previous = handler.setStream(stream)
    return stream, previous


def test_the_development_servers_request_lines_do_not_carry_the_number():
    """runserver (and `epigrid demoserver`) log each request line whole, query string included."""
    handler = _configured_handler("django.server")
    stream, previous = _captured(handler)
    try:
        request_handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
        request_handler.request = None
        for line in (
            f"GET /people/?q={ID_NUMBER} HTTP/1.1",
            f"GET /api/v1/persons?q={PHONE}&grid=S-C-G1 HTTP/1.1",
            f"GET /people/{ID_NUMBER}/ HTTP/1.1",
        ):
            request_handler.requestline = line
            request_handler.log_request(200, 1234)
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    assert output.count("[redacted]") == 3 and "GET /people/?q=[redacted] HTTP/1.1" in output
    assert ID_NUMBER not in output and PHONE not in output


def test_whatever_reaches_the_console_is_redacted():
    handler = _configured_handler("epigrid.anything")
    stream, previous = _captured(handler)
    try:
        logging.getLogger("epigrid.anything").warning("import of %s failed for %s", ID_NUMBER, PHONE)
        try:
            raise ValueError(f"bad value {ID_NUMBER}")
        except ValueError:
            logging.getLogger("epigrid.anything").exception("while reading /people/?q=%s", PHONE)
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    assert "import of [redacted] failed for [redacted]" in output
    assert "ValueError: bad value [redacted]" in output
    assert ID_NUMBER not in output and PHONE not in output


class _Response:
    status = "200 OK"
    sent = 1234
    headers = [("Content-Type", "text/html"), ("X-Request-ID", "9f1c0e5a")]


def _environ(uri: str) -> dict:
    path, _, query = uri.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_USER_AGENT": "Mozilla/5.0",
        "HTTP_REFERER": f"https://epigrid.example/people/?q={PHONE}",
    }


def _gunicorn_lines(directory: Path, access_log_format=None) -> str:
    directory.mkdir()
    cfg = Config()
    cfg.set("accesslog", str(directory / "access.log"))
    cfg.set("errorlog", str(directory / "error.log"))
    if access_log_format:
        cfg.set("access_log_format", access_log_format)
    logger = RedactingLogger(cfg)
    try:
        for uri in (f"/people/?q={ID_NUMBER}", f"/api/v1/persons?phone={PHONE}", f"/people/{ID_NUMBER}/", "/r/tok3n/"):
            environ = _environ(uri)
            logger.access(_Response(), environ, environ, dt.timedelta(milliseconds=12))
        logger.error("Error handling request %s", f"/people/?q={PHONE}")
    finally:
        for log in (logger.access_log, logger.error_log):
            for handler in list(log.handlers):
                handler.close()
                log.removeHandler(handler)
    return (directory / "access.log").read_text() + (directory / "error.log").read_text()


def test_gunicorns_logs_through_our_logger_class_carry_no_number(tmp_path):
    # gunicorn's own format (whole request line, referrer) and ours (the path alone) alike.
    default = _gunicorn_lines(tmp_path / "default")
    ours = _gunicorn_lines(tmp_path / "ours", runpy.run_path(str(ROOT / "gunicorn.conf.py"))["access_log_format"])
    for output in (default, ours):
        assert output.count("GET /") == 4, output
        assert ID_NUMBER not in output and PHONE not in output and "tok3n" not in output, output
        assert "Error handling request /people/?q=[redacted]" in output
    assert "/people/?q=[redacted]" in default  # the request line, its query redacted
    access_lines = ours.split("Error handling")[0]
    assert "?q=" not in access_lines and "9f1c0e5a" in access_lines  # the path alone, and the request id


def test_the_checkouts_gunicorn_config_uses_the_redacting_logger():
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["logger_class"] == "epigrid.config.gunicorn.RedactingLogger"
    for atom in ("%(r)s", "%(q)s", "%(f)s"):
        assert atom not in settings["access_log_format"]
    cfg = Config()
    cfg.set("logger_class", settings["logger_class"])
    assert cfg.logger_class is RedactingLogger
