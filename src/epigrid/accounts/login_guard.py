"""Login protection on django-axes: who is locked, and one attempt at a time per client address.

Axes counts failed password checks in its `AccessAttempt` rows (database handler: the count is
raised under a row lock) and `AxesStandaloneBackend`, first in AUTHENTICATION_BACKENDS, refuses a
locked request before any password is checked. Two things axes leaves open are closed here:

- **Parallel guesses.** Axes checks the count, then the password, then records the failure: forty
  guesses sent at once all pass the check before the first failure is written. So
  `accounts.services.user_authenticate` runs the check, the password and the count inside
  `attempt_serialized(address)`: one attempt at a time per client address (a PostgreSQL advisory
  lock for the transaction; on SQLite the transaction is IMMEDIATE and so holds the database's
  write lock). Attempts from other addresses do not wait.
- **One limit per parameter.** AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"],
  "ip_address"] makes axes compare the larger of the two counts with one limit, which makes the
  combination pointless (an address's count is never below one of its usernames'). The handler
  below gives each parameter its own limit: AXES_FAILURE_LIMIT for a username from one address,
  LOGIN_IP_FAILURE_LIMIT for the address whatever the username.
"""

import hashlib
import ipaddress
from contextlib import contextmanager

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_credentials, get_failure_limit, get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

ADDRESS = "ip_address"


def client_ip(request) -> str | None:
    """The client address axes counts: REMOTE_ADDR, which the proxy middleware sets from a trusted
    proxy's header (never a header the client controls); None when it is not an IP address."""
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        return None


def parameter_limit(parameter) -> int:
    return settings.LOGIN_IP_FAILURE_LIMIT if parameter == ADDRESS else settings.AXES_FAILURE_LIMIT


class LoginAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per lockout parameter.

    Axes asks `get_failures() >= AXES_FAILURE_LIMIT`; the answer given is AXES_FAILURE_LIMIT minus
    the smallest headroom left under any parameter's own limit, so the request is locked exactly
    when one parameter has reached its limit."""

    def counts(self, request, credentials=None) -> list[tuple[object, int]]:
        parameters = get_lockout_parameters(request, credentials)
        attempts = self.get_user_attempts(request, credentials)
        return [
            (parameter, rows.aggregate(n=Sum("failures_since_start"))["n"] or 0)
            for parameter, rows in zip(parameters, attempts, strict=True)
        ]

    def get_failures(self, request, credentials=None) -> int:
        counts = self.counts(request, credentials)
        if not counts:
            return 0
        headroom = min(parameter_limit(parameter) - count for parameter, count in counts)
        return get_failure_limit(request, credentials) - headroom


def _handler() -> LoginAttemptHandler:
    return AxesProxyHandler.get_implementation()


def locked_by(request, username: str) -> str | None:
    """What locks this attempt, if anything: "user" (this username from this address) or
    "address" (every username from this address)."""
    credentials = get_credentials(username)
    AxesProxyHandler.update_request(request)
    for parameter, count in _handler().counts(request, credentials):
        if count >= parameter_limit(parameter):
            return "address" if parameter == ADDRESS else "user"
    return None


def forget_user_failures(request, username: str) -> None:
    """After a correct password: this username's failures from this address are forgotten; the
    address's failures for other usernames stay (a success inside a burst of guesses must not give
    the guesser a clean slate)."""
    AccessAttempt.objects.filter(username=username, ip_address=client_ip(request)).delete()


def _lock_key(address: str | None) -> int:
    digest = hashlib.sha256(f"epigrid.login:{address}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def attempt_serialized(address: str | None):
    """A transaction in which no other login attempt from `address` runs: the lockout check, the
    password check and the failure count happen as one step."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(address)])
        elif connection.vendor != "sqlite":  # SQLite: BEGIN IMMEDIATE (settings) holds the write lock
            raise NotImplementedError(f"login attempts are not serialised on {connection.vendor}")
        yield
