"""What a user's roles grant: the capabilities of each role held on a grid node (fail closed).

The check itself (`restrict`, `get_for`, `authorize`) lives in `epigrid.core.scoping`; this module
only answers, for a user, where each capability is held, and builds the principals commands act as.

The second factor is decided here too, once: a capability in `MFA_CAPABILITIES` is held only by a
login that passed its second factor (`second_factor_verified`), so `authorize`, `allows`,
`restrict` and `get_for` refuse unmasking, exports and account management to any other, whatever
its roles; `must_verify` says who is asked for the code before anything else
(`accounts.middleware.SecondFactorMiddleware` for pages, `accounts.api` for the API).
"""

import functools

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device

from epigrid.core import jobs
from epigrid.core.errors import DomainError, Forbidden
from epigrid.core.scoping import EVERYWHERE, SystemPrincipal, allows, grant_paths, minimal_paths
from epigrid.grids.models import STEP, GridNode, common_root

from .choices import MFA_CAPABILITIES, MFA_ROLES, ROLE_CAPABILITIES, Capability


def role_paths(user) -> list[tuple[str, str]]:
    """(node path, role) of the user's active assignments, read once per request."""
    cached = getattr(user, "_epigrid_role_paths", None)
    if cached is None:
        # On the primary (the default connection) even where the page reads the replica: a role
        # ended a second ago ends now.
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(_role_paths_sql(), [user.pk])
            cached = cursor.fetchall()
        user._epigrid_role_paths = cached
    return cached


@functools.cache
def _role_paths_sql() -> str:
    """role_paths' one query, written once: every request asks it, and building and compiling it
    with the ORM each time cost three times the query itself (bench person_list: 0.63 ms against
    0.18 ms)."""
    from .models import GridAssignment  # accounts.models imports this module

    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    assignment, node = quote(GridAssignment._meta.db_table), quote(GridNode._meta.db_table)
    return (
        f"SELECT n.path, a.role FROM {assignment} a JOIN {node} n ON n.id = a.node_id "
        "WHERE a.user_id = %s AND a.ended_at IS NULL"
    )


def user_grant_paths(user, capability: str) -> list[str] | None:
    if capability in MFA_CAPABILITIES and not second_factor_verified(user):
        return []
    if user.is_superuser:
        return EVERYWHERE
    return minimal_paths(path for path, role in role_paths(user) if capability in ROLE_CAPABILITIES.get(role, ()))


# ---------------------------------------------------------------- the second factor


class _Console:
    """Stands for the second factor of a user the operator at the console acts as."""

    persistent_id = ""  # a token issued from here is verified only by the user's own device

    def __str__(self) -> str:
        return "console"


CONSOLE = _Console()


class _Job:
    """Stands for the second factor of the login that queued a background job (core.jobs)."""

    persistent_id = ""

    def __str__(self) -> str:
        return "job"


JOB = _Job()


def job_user(user, *, verified: bool):
    """The user a background job acts as: the login that queued it passed its second factor
    (`verified`, recorded when it was queued), and that stands for the run it asked for; a job
    queued without one acts unverified (fail closed). The user's roles are read at run time, so a
    user deactivated meanwhile imports nothing."""
    if verified:
        user.otp_device = JOB
    return user


def job_start_for(
    *, kind: str, principal, capability: str, params: dict, data: bytes | None, file_name: str, grid_path=None
):
    """Queue an upload's job (core.jobs) for `principal`: the job records whether their login gave
    its second factor (the job acts with it: `job_user`), and is over `grid_path`, else over the
    grids where they hold `capability` (those who read the audit log there may follow it)."""
    if grid_path is None:
        paths = grant_paths(principal, capability)
        grid_path = "" if paths is None else common_root(paths)
    return jobs.job_start(
        kind=kind,
        principal=principal,
        params={**params, "second_factor": second_factor_verified(principal)},
        grid_path=grid_path,
        data=data,
        file_name=file_name,
    )


def second_factor_verified(user) -> bool:
    """Whether this user object stands for a login that passed its second factor: a session
    verified with a code (django-otp's middleware sets `otp_device` from the session), a token
    issued with a code (`services.api_token_user`), or the console (`console_verified`). A user
    object read from the database by anything else has no `otp_device`: not verified."""
    return getattr(user, "otp_device", None) is not None


def console_verified(user):
    """The operator at the console acts as `user` (`--user NAME`, the demo's loader): they hold the
    database anyway, so the user's second factor is taken as given. The user's own confirmed TOTP
    device when there is one (so a token issued from here is verified by it), else `CONSOLE`."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user.otp_device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first() or CONSOLE
    return user


def token_device(user, persistent_id: str):
    """The device a token was issued with, while it exists, is confirmed and is the user's (a
    reset of the user's second factor leaves their tokens unverified); else None."""
    if not persistent_id:
        return None
    from django_otp.models import Device

    device = Device.from_persistent_id(persistent_id)
    if device is None or device.user_id != user.pk or not device.confirmed:
        return None
    return device


def mfa_required(user) -> bool:
    """A superuser, or a user holding a role of the command center or one that grants a capability
    in MFA_CAPABILITIES (accounts.choices.MFA_ROLES), must have a second factor."""
    if not getattr(user, "is_authenticated", False) or isinstance(user, SystemPrincipal):
        return False
    return user.is_superuser or any(role in MFA_ROLES for _path, role in role_paths(user))


def has_second_factor(user) -> bool:
    cached = getattr(user, "_epigrid_has_device", None)
    if cached is None:
        cached = user._epigrid_has_device = user_has_device(user, confirmed=True)
    return cached


def must_verify(user) -> bool:
    """Asked for the code before anything else: whoever must have a second factor, and whoever has
    one (a guard who set one up to download a ledger uses it from then on)."""
    if not getattr(user, "is_authenticated", False) or isinstance(user, SystemPrincipal):
        return False
    return mfa_required(user) or has_second_factor(user)


class SecondFactorRequired(DomainError):
    """A login that owes its second factor (an API call: answered 401 with this code)."""

    status = 401


def require_verified_login(user) -> None:
    """The API's check after authentication: a user who must verify and has not is refused. A
    verified login is asked nothing more (no roles or devices read for it: one request, one scan)."""
    if not second_factor_verified(user) and must_verify(user):
        raise SecondFactorRequired(
            "second_factor_required",
            _("This login has not given its second factor: log in again with the 6-digit code (a token: otp)."),
        )


def require_second_factor(user) -> None:
    """For a download of personal data that VIEW alone lets one see (the gate's passage ledger):
    only a login verified with a second factor gets it (exports under IMPORT_EXPORT are covered by
    MFA_CAPABILITIES already)."""
    if not second_factor_verified(user):
        raise Forbidden(
            "second_factor_required",
            _("Downloading personal data needs a second factor: set one up under “My account”."),
        )


# ---------------------------------------------------------------- managing other users


def scope_assignments(user) -> list:
    """The assignments that place a user in the tree: the active ones, or, for a user who holds
    none now, every one they held (so a user between roles stays with those who managed them)."""
    assignments = list(user.grid_assignments.select_related("node"))
    active = [a for a in assignments if a.ended_at is None]
    return active or assignments


def home_path(user) -> str:
    """The deepest grid node above all of a user's scope assignments (for the audit log's scope)."""
    paths = [a.node.path for a in scope_assignments(user)]
    if not paths:
        return ""
    common = paths[0]
    for path in paths[1:]:
        while not path.startswith(common):
            common = common[:-STEP]
    return common


def may_manage(principal, target) -> bool:
    """Whether `principal` may manage `target`'s account (deactivate, reset its password or second
    factor): every node the target is placed at is inside the principal's MANAGE_ASSIGNMENTS, and
    the principal holds there every capability of the target's role (nobody takes over an account
    with more rights than their own). Superusers are managed by superusers only."""
    if target.is_superuser and not getattr(principal, "is_superuser", False):
        return False
    placed = scope_assignments(target)
    if not placed:
        return getattr(principal, "is_superuser", False) and allows(principal, Capability.MANAGE_ASSIGNMENTS)
    return all(
        allows(principal, capability, a.node.path)
        for a in placed
        for capability in {Capability.MANAGE_ASSIGNMENTS, *ROLE_CAPABILITIES.get(a.role, ())}
    )


# ---------------------------------------------------------------- principals of commands


def operator_principal() -> SystemPrincipal:
    """The operator at the console (who holds the database anyway): every capability, as the system."""
    return SystemPrincipal("system:cli", Capability.values)


def principal_from_option(username: str | None):
    """`--user NAME` makes a command act as that user, scoped like their pages; without it the
    operator acts as `system:cli`."""
    if not username:
        return operator_principal()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return console_verified(user)
