"""/api/v1: each app's router behind one NinjaAPI, with one error shape for every refusal."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.errors import Throttled as RateExceeded

from epigrid.accounts.api import API_AUTH
from epigrid.accounts.api import router as accounts_router
from epigrid.alerts.api import router as alerts_router
from epigrid.control.api import router as control_router
from epigrid.core.errors import DomainError, Forbidden, NotFound, Throttled
from epigrid.gates.api import router as gates_router
from epigrid.grids.api import router as grids_router
from epigrid.health.api import public_router as resident_router
from epigrid.health.api import router as health_router
from epigrid.oversight.api import router as oversight_router
from epigrid.people.api import router as people_router
from epigrid.response.api import router as response_router

api = NinjaAPI(
    title="epigrid API",
    version="1",
    description="Community epidemic prevention, the 0531 grid way. Errors are {code, message, messages, field}.",
    auth=API_AUTH,
    urls_namespace="api",
)
api.add_router("", accounts_router)
api.add_router("", grids_router)
api.add_router("", oversight_router)
# Before people: its /households/{pk} would otherwise swallow POST /households/passes (405).
api.add_router("", gates_router)
api.add_router("", people_router)
api.add_router("", control_router)
api.add_router("", health_router)
api.add_router("", alerts_router)
api.add_router("", response_router)
api.add_router("", resident_router)


def _answer(request, error: DomainError):
    return api.create_response(request, error.as_dict(), status=error.status)


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


@api.exception_handler(RateExceeded)
def on_rate_exceeded(request, exc):
    # An endpoint's `throttle=` (core/throttles.py); ninja adds Retry-After.
    return _answer(request, Throttled("throttled", _("Too many requests: wait a minute, then try again.")))


@api.exception_handler(ValidationError)
def on_invalid(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    loc = [str(part) for part in first.get("loc", []) if part not in ("body", "query", "path", "form", "payload")]
    error = DomainError(
        "invalid", _("Invalid value: %(detail)s"), field=".".join(loc) or None, params={"detail": first.get("msg", "")}
    )
    error.status = 422
    return _answer(request, error)
