"""One error shape for everything under /api/: {code, message, messages, field}.

Ninja's own answers ({"detail": ...}), Django's HTML pages (unknown route, 500) and plain-text
ones (405) are turned into the shape here, and pydantic's validation messages are translated
so that `message` is in the caller's language (Accept-Language; Chinese by default).
"""

import json
import logging
import re

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from ninja.parser import Parser

from epigrid.core.context import current_origin
from epigrid.core.errors import DomainError

logger = logging.getLogger("epigrid.api")

INT64_MAX = 2**63 - 1
# NUL breaks PostgreSQL text; bidi overrides and isolates make a name or an address display as
# something else than what is stored ("Trojan source").
_FORBIDDEN_CHARS = re.compile("[\x00\u202a-\u202e\u2066-\u2069]")
_DIGITS = re.compile(r"[+-]?\d+")


def invalid(code: str, message, *, field: str | None = None, params: dict | None = None, status: int = 422):
    error = DomainError(code, message, field=field, params=params)
    error.status = status
    return error


def _check_text(value, field: str) -> None:
    if _FORBIDDEN_CHARS.search(value):
        raise invalid(
            "invalid_characters",
            _("This text contains invisible control characters (NUL or text-direction marks): retype it."),
            field=field or None,
        )


def _check_value(value, field: str) -> None:
    """Walk a parsed JSON body: no forbidden characters in any string, no integer beyond 64 bits."""
    if isinstance(value, str):
        _check_text(value, field)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise invalid("number_out_of_range", _("This number is too large."), field=field or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(str(key), field)
            _check_value(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{field}.{index}" if field else str(index))


class CheckedParser(Parser):
    """JSON bodies and query strings are checked before any schema sees them."""

    def parse_body(self, request):
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise invalid("malformed_json", _("The request body is not valid JSON."), status=400) from None
        if not isinstance(data, dict):  # every body of this API is an object
            raise invalid("invalid", _("Give a JSON object."))
        _check_value(data, "")
        return data

    def parse_querydict(self, data, list_fields, request):
        for key, values in data.lists():
            if not (key.isascii() and key.isidentifier()):
                continue  # a parameter or form part no endpoint names (ours are identifiers): ignored
            # A query parameter given twice: the last one would win silently.
            if len(values) > 1 and key not in list_fields and data is request.GET:
                raise invalid("repeated_parameter", _("Give this parameter once."), field=key)
            for value in values:
                if not isinstance(value, str):  # an uploaded file
                    continue
                _check_text(value, key)
                if _DIGITS.fullmatch(value.strip()) and not -INT64_MAX - 1 <= int(value) <= INT64_MAX:
                    raise invalid("number_out_of_range", _("This number is too large."), field=key)
        return super().parse_querydict(data, list_fields, request)


# pydantic's error types, in the words of a grid member (both languages via the catalog).
_VALIDATION_MESSAGES = {
    "missing": _("This field is required."),
    "string_type": _("Give text here."),
    "string_too_short": _("Too short."),
    "string_too_long": _("Too long: at most %(max_length)s characters."),
    "string_pattern_mismatch": _("Not in the expected form."),
    "int_type": _("Give a whole number."),
    "int_parsing": _("Give a whole number."),
    "int_from_float": _("Give a whole number."),
    "float_type": _("Give a number."),
    "float_parsing": _("Give a number."),
    "decimal_parsing": _("Give a number."),
    "bool_type": _("Give true or false."),
    "bool_parsing": _("Give true or false."),
    "greater_than": _("Must be greater than %(gt)s."),
    "greater_than_equal": _("Must be at least %(ge)s."),
    "less_than": _("Must be less than %(lt)s."),
    "less_than_equal": _("Must be at most %(le)s."),
    "enum": _("Not one of the allowed values: %(expected)s."),
    "literal_error": _("Not one of the allowed values: %(expected)s."),
    "date_type": _("Give a date like 2022-02-06."),
    "date_parsing": _("Give a date like 2022-02-06."),
    "date_from_datetime_parsing": _("Give a date like 2022-02-06."),
    "date_from_datetime_inexact": _("Give a date like 2022-02-06."),
    "datetime_type": _("Give a date and time like 2022-02-06T11:00:00+08:00."),
    "datetime_parsing": _("Give a date and time like 2022-02-06T11:00:00+08:00."),
    "datetime_from_date_parsing": _("Give a date and time like 2022-02-06T11:00:00+08:00."),
    "timezone_aware": _("Give a date and time like 2022-02-06T11:00:00+08:00."),
    "list_type": _("Give a list."),
    "too_short": _("Give at least %(min_length)s items."),
    "too_long": _("Give at most %(max_length)s items."),
    "dict_type": _("Give a JSON object."),
    "model_type": _("Give a JSON object."),
    "model_attributes_type": _("Give a JSON object."),
    "json_invalid": _("The request body is not valid JSON."),
    "extra_forbidden": _("This field is not accepted here."),
    "uuid_parsing": _("Not in the expected form."),
    "time_out_of_range": _("Out of range: give a time between %(earliest)s and %(latest)s."),
}
_IGNORED_LOC = {"body", "query", "path", "form", "payload", "file", "header", "cookie"}


def validation_error(errors: list[dict]) -> DomainError:
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", []) if part not in _IGNORED_LOC]
    kind = first.get("type", "")
    context = {key: _plain(value) for key, value in (first.get("ctx") or {}).items()}
    message = _VALIDATION_MESSAGES.get(kind)
    if kind == "value_error" and isinstance((first.get("ctx") or {}).get("error"), DomainError):
        return (first["ctx"]["error"]) if not loc else _with_field(first["ctx"]["error"], ".".join(loc))
    if message is None:
        message, context = _("Invalid value."), {}
    try:
        str(message) % context if context else str(message)
    except (KeyError, TypeError, ValueError):
        context = {}
        message = _("Invalid value.")
    # The time window's own code: clients (and the fuzzer) tell it from a malformed value.
    code = "time_out_of_range" if kind == "time_out_of_range" else "invalid"
    return invalid(code, message, field=".".join(loc) or None, params=context)


def _with_field(error: DomainError, field: str) -> DomainError:
    error.field = error.field or field
    error.status = 422
    return error


def _plain(value):
    return value if isinstance(value, (int, float, str)) else str(value)


# Ninja's {"detail": ...} answers and Django's pages, by status.
STATUS_ERRORS = {
    400: ("bad_request", _("The request could not be read.")),
    401: ("unauthenticated", _("Log in or send a valid token.")),
    403: ("forbidden", _("Your role does not allow this here.")),
    404: ("not_found", _("Not found.")),
    405: ("method_not_allowed", _("This address does not accept this method.")),
    413: ("too_large", _("The request is too large.")),
    429: ("throttled", _("Too many requests: wait a moment and try again.")),
    500: (
        "server_error",
        _("Something went wrong on the server; it has been logged. Quote request id %(request_id)s."),
    ),
}


def status_error(status: int) -> DomainError:
    code, message = STATUS_ERRORS.get(status, STATUS_ERRORS[500 if status >= 500 else 400])
    error = DomainError(code, message, params={"request_id": current_origin().request_id} if status >= 500 else None)
    error.status = status
    return error


def error_response(error: DomainError, *, extra: dict | None = None) -> JsonResponse:
    body = error.as_dict()
    if error.status >= 500:
        body["request_id"] = current_origin().request_id
    body.update(extra or {})
    return JsonResponse(body, status=error.status, json_dumps_params={"ensure_ascii": False})


class ApiErrorShapeMiddleware:
    """Answers under /api/ that did not come from our handlers (an unknown route's HTML 404, a
    405 in plain text, Django's 400/413/500 pages) are given the one error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json") and _is_shaped(response):
            return response
        shaped = error_response(status_error(response.status_code))
        for header in ("Allow", "Retry-After", "X-Request-ID"):
            if header in response:
                shaped[header] = response[header]
        return shaped

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        for kind, status in _EXCEPTION_STATUS:
            if isinstance(exception, kind):
                return error_response(status_error(status))
        logger.exception("API error %s", current_origin().request_id, exc_info=exception)
        return error_response(status_error(500))


_EXCEPTION_STATUS = ((RequestDataTooBig, 413), (Http404, 404), (PermissionDenied, 403), (SuspiciousOperation, 400))


def _is_shaped(response) -> bool:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and "code" in body and "message" in body
