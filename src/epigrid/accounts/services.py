"""Writes about accounts: logins with lockout, device tokens, grid assignments."""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.errors import Conflict, DomainError, Forbidden
from epigrid.core.scoping import allows, authorize
from epigrid.grids.models import GridNode

from .choices import ROLE_CAPABILITIES, ROLE_LEVELS, Capability, Duty, Role
from .models import ApiToken, GridAssignment, LoginFailure, User
from .permissions import token_device


def _locked_until(username: str) -> dt.datetime | None:
    window = dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    since = timezone.now() - window
    failures = LoginFailure.objects.filter(username__iexact=username, occurred_at__gte=since)
    if failures.count() < settings.LOGIN_FAILURE_LIMIT:
        return None
    return failures.order_by("-occurred_at").values_list("occurred_at", flat=True)[0] + window


def user_authenticate(*, request=None, username: str, password: str, remote_addr: str | None = None) -> User:
    """Check a password; after repeated failures the username is locked for a while."""
    username = (username or "").strip()
    if _locked_until(username):
        raise DomainError(
            "login_locked",
            _("Too many failed attempts: this account is locked for %(minutes)s minutes."),
            params={"minutes": settings.LOGIN_LOCKOUT_MINUTES},
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        LoginFailure.objects.create(username=username[:150], remote_addr=remote_addr)
        raise DomainError("login_failed", _("Wrong username or password."))
    LoginFailure.objects.filter(username__iexact=username).delete()
    return user


def _token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_issue(*, user: User) -> str:
    """A token for `user`; verified by the second factor the user object passed, if any (the
    token endpoint's code: accounts.mfa.token_second_factor)."""
    key = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            key_hash=_token_hash(key),
            expires_at=timezone.now() + dt.timedelta(days=settings.API_TOKEN_DAYS),
            otp_device=getattr(getattr(user, "otp_device", None), "persistent_id", "") or "",
        )
        audit.record(principal=user, action="api_token.issue", obj=token)
    return key


def api_token_user(key: str) -> User | None:
    """The active user behind a bearer token, or None."""
    if not key:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(key), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.user.otp_device = token_device(token.user, token.otp_device)
    return token.user


def _clean_duties(duties) -> list[str]:
    duties = list(dict.fromkeys(duties or []))
    unknown = [d for d in duties if d not in Duty.values]
    if unknown:
        raise DomainError("duty_unknown", _("Unknown duty: %(duty)s."), field="duties", params={"duty": unknown[0]})
    return duties


def grid_assignment_create(*, node: GridNode, user: User, role: str, duties=(), principal: User) -> GridAssignment:
    authorize(principal, Capability.MANAGE_ASSIGNMENTS, node.path)
    if role not in Role.values:
        raise DomainError("role_unknown", _("Unknown role."), field="role")
    if node.level not in ROLE_LEVELS[role]:
        raise DomainError("role_level", _("This role cannot be held on a grid node of this level."), field="role")
    # Nobody hands out more than they hold: a role is given only by someone who holds all its
    # capabilities there (community staff cannot make a community secretary).
    if not all(allows(principal, capability, node.path) for capability in ROLE_CAPABILITIES[role]):
        raise Forbidden("role_beyond_own", _("You can only give a role whose rights you hold here yourself."))
    duties = _clean_duties(duties)
    with transaction.atomic():
        if GridAssignment.objects.filter(ended_at__isnull=True, user=user, node=node, role=role).exists():
            raise Conflict("assignment_exists", _("This person already holds this role here."), field="role")
        assignment = GridAssignment.objects.create(user=user, node=node, role=role, duties=duties, created_by=principal)
        audit.record(
            principal=principal,
            action="grid_assignment.create",
            obj=assignment,
            grid_path=node.path,
            changes={"user": [None, user.username], "role": [None, role], "duties": [None, duties]},
        )
    return assignment


def grid_assignment_update(*, assignment: GridAssignment, duties, principal: User) -> GridAssignment:
    authorize(principal, Capability.MANAGE_ASSIGNMENTS, assignment.node.path)
    duties = _clean_duties(duties)
    with transaction.atomic():
        locked = GridAssignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.duties == duties:
            return locked
        before = locked.duties
        locked.duties = duties
        locked.save(update_fields=["duties"])
        audit.record(
            principal=principal,
            action="grid_assignment.update",
            obj=locked,
            grid_path=locked.node.path,
            changes={"duties": [before, duties]},
        )
    return locked


def grid_assignment_end(*, assignment: GridAssignment, principal: User) -> GridAssignment:
    authorize(principal, Capability.MANAGE_ASSIGNMENTS, assignment.node.path)
    with transaction.atomic():
        locked = GridAssignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.ended_at is not None:
            return locked
        locked.ended_at = timezone.now()
        locked.save(update_fields=["ended_at"])
        audit.record(
            principal=principal,
            action="grid_assignment.end",
            obj=locked,
            grid_path=locked.node.path,
            changes={"ended_at": [None, locked.ended_at.isoformat()]},
        )
    return locked
