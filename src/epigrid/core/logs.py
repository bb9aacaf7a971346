"""Structured logs (structlog) and the optional error reporter (sentry-sdk).

Every line is one JSON object (EPIGRID_LOG_FORMAT=json, the production default) or one readable
line (text, the development default): the request lines of `RequestLogMiddleware`, the slow
queries, and whatever else Django or a library logs through `logging` (rendered by the same
formatter). Every string in a line goes through `core.redaction.redact` last, after a traceback
was rendered, so no ID number, phone, sensitive query value or resident-link token gets out.

A request line names the user by id only (never a name, a username or an ID number), the route by
its URL name (never the path: a path may carry a resident link's token), and carries the request
id that the response's X-Request-ID header, the audit log and the access log of reads carry.
"""

import time
import uuid

import structlog
from django.conf import settings
from django.db import connection
from django.utils.functional import empty

from .middleware import REQUEST_ID_PATTERN
from .redaction import redact

REQUEST_LOGGER = "epigrid.request"
SLOW_QUERY_LOGGER = "epigrid.db.slow"


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def redact_event(_logger, _method, event_dict: dict) -> dict:
    """structlog processor: every string of the line through `redact`."""
    return {key: _redact_value(value) for key, value in event_dict.items()}


_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)
# What a line of the standard library's logging (Django, celery, libraries) gets before rendering.
_FOREIGN_PRE_CHAIN = [structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, _TIMESTAMP]


def formatter(fmt: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The logging formatter of the console handler (settings.LOGGING): JSON or text lines."""
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_FOREIGN_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
    )


def configure_structlog() -> None:
    """structlog's loggers hand their lines to the standard library's logging, so settings.LOGGING
    decides where they go and how they look (the `formatter` above)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            *_FOREIGN_PRE_CHAIN,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def new_request_id(asked: str, pattern) -> str:
    return asked if pattern.fullmatch(asked or "") else uuid.uuid4().hex


def _user_id(request):
    """The user's id when the request already knows who it is; never loads a session for it."""
    user = getattr(request, "user", None)
    if user is None:
        return None
    if getattr(user, "_wrapped", None) is empty:  # a lazy user nobody asked for: anonymous to us
        return None
    return user.pk if getattr(user, "is_authenticated", False) else None


class _QueryCounter:
    def __init__(self, slow_ms: int):
        self.slow_ms = slow_ms
        self.count = 0
        self.slow = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            elapsed = (time.perf_counter() - started) * 1000
            if elapsed >= self.slow_ms:
                # The statement's text without its parameters (they may be personal values).
                self.slow.append((round(elapsed, 1), sql[:500]))


class RequestLogMiddleware:
    """One line per request on the "epigrid.request" logger: request_id, user_id, route, method,
    status, duration_ms, queries, slow_queries (and one "slow_query" line on "epigrid.db.slow" per
    query slower than settings.LOG_SLOW_QUERY_MS). 5xx answers are logged as errors.

    Placed early in MIDDLEWARE (after WhiteNoise: static files are not logged), so answers made by
    the middleware after it (a CSRF refusal, the second-factor redirect) are logged too; it picks
    the request id (the client's X-Request-ID when it is a plain token, else a new one) that
    `RequestContextMiddleware` hands to the audit log.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.pattern = REQUEST_ID_PATTERN
        self.logger = structlog.get_logger(REQUEST_LOGGER)
        self.slow_logger = structlog.get_logger(SLOW_QUERY_LOGGER)

    def __call__(self, request):
        request.request_id = new_request_id(request.headers.get("X-Request-ID", ""), self.pattern)
        counter = _QueryCounter(settings.LOG_SLOW_QUERY_MS)
        started = time.perf_counter()
        response = None
        try:
            with connection.execute_wrapper(counter):
                response = self.get_response(request)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            status = response.status_code if response is not None else 500
            match = getattr(request, "resolver_match", None)
            line = {
                "request_id": request.request_id,
                "user_id": _user_id(request),
                "route": match.view_name if match else None,
                "method": request.method,
                "status": status,
                "duration_ms": duration_ms,
                "queries": counter.count,
                "slow_queries": len(counter.slow),
            }
            for elapsed, sql in counter.slow:
                self.slow_logger.warning(
                    "slow_query", request_id=request.request_id, route=line["route"], duration_ms=elapsed, sql=sql
                )
            if status >= 500:
                self.logger.error("request", **line)
            else:
                self.logger.info("request", **line)
        response["X-Request-ID"] = request.request_id
        return response


def _scrub_event(event, _hint):
    """sentry-sdk before_send: no query string, body, cookies or headers; every message through
    `redact`."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("query_string", "data", "cookies", "headers", "env"):
            request.pop(key, None)
        if isinstance(request.get("url"), str):
            request["url"] = redact(request["url"])
    return _redact_value(event)


def init_error_reporter(dsn: str, *, environment: str, release: str, traces_sample_rate: float = 0.0) -> bool:
    """sentry-sdk, only when a DSN is given: no personal data sent (send_default_pii=False, no
    local variables, no request bodies, events scrubbed by `_scrub_event`)."""
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=_scrub_event,
    )
    return True
