"""/api/v1: each app's router behind one NinjaAPI, with one error shape for every refusal."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.errors import Throttled as NinjaThrottled

from epigrid.accounts.api import API_AUTH
from epigrid.accounts.api import router as accounts_router
from epigrid.alerts.api import router as alerts_router
from epigrid.control.api import router as control_router
from epigrid.core.api import LocalTimeRenderer
from epigrid.core.errors import DomainError, Forbidden, NotFound, Throttled
from epigrid.core.job_api import router as jobs_router
from epigrid.dashboard.api import router as dashboard_router
from epigrid.gates.api import router as gates_router
from epigrid.grids.api import router as grids_router
from epigrid.health.api import public_router as resident_router
from epigrid.health.api import router as health_router
from epigrid.mobilization.api import router as mobilization_router
from epigrid.oversight.api import router as oversight_router
from epigrid.oversight.inspection_api import router as inspections_router
from epigrid.oversight.report_api import router as reports_router
from epigrid.oversight.retention_api import router as retention_router
from epigrid.oversight.verification_api import router as verification_router
from epigrid.people.api import router as people_router
from epigrid.response.api import router as response_router

from .errors import INT64_MAX, CheckedParser, error_response, invalid, logger, status_error, validation_error

# What CheckedParser refuses, stated in the schema so that a client (or the fuzzer) sees it there.
TEXT_PATTERN = "^[^\\u0000\\u202a-\\u202e\\u2066-\\u2069]*$"


def _state_the_parser_rules(node) -> None:
    """Every integer is 64-bit, every free text free of NUL and bidi controls."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", -INT64_MAX - 1)
            node.setdefault("maximum", INT64_MAX)
        elif node.get("type") == "string" and not {"format", "enum", "pattern", "const"} & node.keys():
            node["pattern"] = TEXT_PATTERN
        for value in node.values():
            _state_the_parser_rules(value)
    elif isinstance(node, list):
        for value in node:
            _state_the_parser_rules(value)


class EpigridAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _state_the_parser_rules(schema.get("paths", {}))
        _state_the_parser_rules(schema.get("components", {}))
        return schema


api = EpigridAPI(
    title="epigrid API",
    version="1",
    description=(
        "Community epidemic prevention, the 0531 grid way.\n\n"
        "**Errors** have one shape everywhere under /api/: `{code, message, messages, field}` — "
        "`code` is stable, `message` is in the language of `Accept-Language` (Chinese by default), "
        "`messages` holds both languages, `field` names the input at fault. A 500 adds `request_id`. "
        "Text may not contain NUL or text-direction control characters, integers must fit in "
        "64 bits, a boolean is `true` or `false` and a number a JSON number, not text (422).\n\n"
        "**Time**: a datetime with an offset is taken as given; one without is Asia/Shanghai "
        "time. Answers always carry `+08:00`. Times of events (`reported_at`, `measured_at`, "
        "`sampled_at`, …) lie between 2019-12-01 and now (10 minutes of clock skew allowed); "
        "planned times (an order's `starts_at`, a shift, an expected arrival) up to a year ahead; "
        "a time out of range is a 422 `time_out_of_range` naming the field (the window moves with "
        "the clock, so the schema cannot state it). The bounds of a list filter (`…_from`, "
        "`…_to`) may be any time. A body field the endpoint does not take, or a query parameter "
        "given twice, is a 422."
    ),
    auth=API_AUTH,
    parser=CheckedParser(),
    renderer=LocalTimeRenderer(),
    urls_namespace="api",
)
api.add_router("", accounts_router)
api.add_router("", grids_router)
api.add_router("", oversight_router)
api.add_router("", inspections_router)
api.add_router("", dashboard_router)
api.add_router("", reports_router)
api.add_router("", verification_router)
api.add_router("", retention_router)
# Before people: its /households/{pk} would otherwise swallow POST /households/passes (405).
api.add_router("", gates_router)
api.add_router("", people_router)
api.add_router("", control_router)
api.add_router("", health_router)
api.add_router("", alerts_router)
api.add_router("", response_router)
api.add_router("", mobilization_router)
api.add_router("", jobs_router)
api.add_router("", resident_router)


def _answer(request, error: DomainError):
    return error_response(error)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return _answer(request, exc)


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _answer(request, NotFound("not_found", _("Not found.")))


@api.exception_handler(PermissionDenied)
def on_forbidden(request, exc):
    return _answer(request, Forbidden("forbidden", _("Your role does not allow this here.")))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    error = DomainError("unauthenticated", _("Log in or send a valid token."))
    error.status = 401
    return _answer(request, error)


@api.exception_handler(ValidationError)
def on_invalid(request, exc: ValidationError):
    if any(error.get("loc", [None])[0] == "path" for error in exc.errors):
        # /persons/None or /persons/abc names no object: the same 404 as an id that does not exist.
        return _answer(request, status_error(404))
    return _answer(request, validation_error(exc.errors))


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    """Ninja's own refusals: an unreadable body, a failed CSRF check, throttling."""
    cause = exc.__cause__
    if isinstance(cause, DomainError):
        return _answer(request, cause)
    if isinstance(cause, RequestDataTooBig):
        return _answer(request, status_error(413))
    if exc.status_code == 400:
        return _answer(request, invalid("malformed_json", _("The request body is not valid JSON."), status=400))
    if isinstance(exc, NinjaThrottled):  # an endpoint's `throttle=` (core/rates.py)
        response = _answer(request, Throttled("throttled", _("Too many requests: wait a minute, then try again.")))
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait))
        return response
    if exc.status_code == 403:
        return _answer(request, Forbidden("csrf_failed", _("The page's security token is missing or old: reload it.")))
    return _answer(request, status_error(exc.status_code))


@api.exception_handler(RequestDataTooBig)
def on_too_large(request, exc):
    return _answer(request, status_error(413))


@api.exception_handler(MultiPartParserError)
def on_unreadable_form(request, exc):
    """A multipart body without its boundary (or cut short): the request cannot be read."""
    return _answer(request, status_error(400))


@api.exception_handler(Exception)
def on_unexpected(request, exc: Exception):
    """A bug: logged with the request id, answered without a stack."""
    logger.exception("API error", exc_info=exc)
    return _answer(request, status_error(500))
