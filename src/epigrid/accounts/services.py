"""Writes about accounts: logins under django-axes' lockout, device tokens, grid assignments."""

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound, Throttled
from epigrid.core.scoping import SystemPrincipal, allows, authorize, user_of
from epigrid.grids.models import GridNode

from . import login_guard
from .choices import ROLE_CAPABILITIES, ROLE_LEVELS, Capability, Duty, Role
from .models import ApiToken, GridAssignment, RefreshToken, User
from .permissions import token_device

logger = logging.getLogger(__name__)
LOGIN = SystemPrincipal("system:login", ())  # writes the audit row of a failed login (no user yet)
TOKEN_GUARD = SystemPrincipal("system:token-guard", ())  # revokes a sign-in whose refresh key came back


def user_authenticate(*, request, username: str, password: str) -> User:
    """Check a password, for the login page and the API alike, under django-axes' lockout (see
    login_guard): the username from this address, and the address, are locked after repeated
    failures; parallel attempts from one address are taken one at a time, so a burst never gets
    more password checks than the limit. Every checked attempt is audited (login.succeeded,
    login.failed with the username, never the password); refusals while locked are not (an
    attacker must not be able to grow the append-only log at will): they go to the log."""
    username = (username or "").strip()
    if len(username) > User._meta.get_field("username").max_length:
        raise DomainError("login_failed", _("Wrong username or password."))
    with login_guard.attempt_serialized(login_guard.client_ip(request)):
        locked = login_guard.locked_by(request, username)
        user = authenticate(request, username=username, password=password)
        if user is not None:
            login_guard.forget_user_failures(request, username)
            audit.record(principal=user, action="login.succeeded", obj=user)
        elif not locked:
            now_locked = login_guard.locked_by(request, username)
            audit.record(
                principal=LOGIN,
                action="login.failed",
                object_type=User._meta.label_lower,
                changes={"username": username, "locked": now_locked or False},
            )
    if locked:
        logger.warning("login refused unchecked: %s locked (address %s)", locked, login_guard.client_ip(request))
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        if locked == "address":
            message = _("Too many failed logins from this address: logging in is locked for %(minutes)s minutes.")
        else:
            message = _("Too many failed logins for this user from this address: locked for %(minutes)s minutes.")
        raise Throttled("login_locked", message, params={"minutes": minutes})
    if user is None:
        raise DomainError("login_failed", _("Wrong username or password."))
    return user


# ---------------------------------------------------------------- device tokens
#
# A sign-in (ApiToken) has an access key, the bearer, valid API_TOKEN_HOURS; a device also gets a
# refresh key (RefreshToken), single use, which renews both (POST /api/v1/auth/refresh). Only
# SHA-256 hashes of the keys are stored. The sign-in carries a fingerprint of the user's password
# hash (a keyed HMAC, like Django's session auth hash): once the password changes, by whatever
# code, the fingerprint no longer matches and every token of the user is refused.


def _token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_FINGERPRINT_SALT = "epigrid.accounts.ApiToken.auth_hash"


def auth_fingerprint(user: User, secret=None) -> str:
    return salted_hmac(_FINGERPRINT_SALT, user.password, secret=secret, algorithm="sha256").hexdigest()


def _fingerprint_matches(token: ApiToken) -> bool:
    secrets_ = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(constant_time_compare(token.auth_hash, auth_fingerprint(token.user, s)) for s in secrets_)


def _token_live(token: ApiToken) -> bool:
    return token.revoked_at is None and token.user.is_active and _fingerprint_matches(token)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    access: str  # the bearer key, shown once
    refresh: str | None  # the refresh key, shown once (None: no refresh)


def _new_refresh(token: ApiToken) -> str:
    key = secrets.token_urlsafe(32)
    RefreshToken.objects.create(token=token, key_hash=_token_hash(key))
    return key


def api_token_grant(*, user: User, label: str = "", refresh: bool = True) -> IssuedToken:
    """A new sign-in for a device: an access key and (by default) a refresh key."""
    now = timezone.now()
    access = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            label=(label or "").strip()[:100],
            key_hash=_token_hash(access),
            expires_at=now + dt.timedelta(hours=settings.API_TOKEN_HOURS),
            refresh_expires_at=now + dt.timedelta(days=settings.API_REFRESH_DAYS) if refresh else None,
            auth_hash=auth_fingerprint(user),
            # The second factor whose code came with the password (accounts.mfa.token_second_factor).
            otp_device=getattr(getattr(user, "otp_device", None), "persistent_id", "") or "",
        )
        refresh_key = _new_refresh(token) if refresh else None
        changes = {"label": [None, token.label]} if token.label else None
        audit.record(principal=user, action="api_token.issue", obj=token, changes=changes)
    return IssuedToken(token, access, refresh_key)


def api_token_issue(*, user: User, label: str = "") -> str:
    """An access key alone (scripts, the demo, tests): valid API_TOKEN_HOURS, no refresh."""
    return api_token_grant(user=user, label=label, refresh=False).access


def api_token_get(key: str) -> ApiToken | None:
    """The live sign-in behind a bearer key (its user active, its password unchanged), or None."""
    if not key:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(key), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not _token_live(token):
        return None
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.user.otp_device = token_device(token.user, token.otp_device)
    return token


def api_token_user(key: str) -> User | None:
    """The active user behind a bearer token, or None."""
    token = api_token_get(key)
    return token.user if token else None


def _refused(code: str, message) -> DomainError:
    error = DomainError(code, message)
    error.status = 401
    return error


def api_token_refresh(*, key: str) -> IssuedToken:
    """Renew a sign-in with its refresh key: a new access key and a new refresh key; the old ones
    stop working. A refresh key used a second time means it was copied: the whole sign-in is
    revoked (its current keys too), and the answer is a refusal."""
    now = timezone.now()
    refused = _refused("refresh_invalid", _("This refresh key is not valid: log in again."))
    with transaction.atomic():
        found = RefreshToken.objects.filter(key_hash=_token_hash(key or "")).values_list("pk", "token_id").first()
        if found is None:
            raise refused
        # The sign-in first, then the key: every refresh of one sign-in locks in that order.
        token = ApiToken.objects.select_for_update().select_related("user").get(pk=found[1])
        refresh = RefreshToken.objects.select_for_update().get(pk=found[0])
        reused = refresh.used_at is not None
        if reused:
            if token.revoked_at is None:
                token.revoked_at = now
                token.save(update_fields=["revoked_at"])
                audit.record(
                    principal=TOKEN_GUARD,
                    action="api_token.reuse_revoked",
                    obj=token,
                    changes={"user": token.user.username},
                )
        elif _token_live(token) and token.refresh_expires_at and token.refresh_expires_at > now:
            refresh.used_at = now
            refresh.save(update_fields=["used_at"])
            access = secrets.token_urlsafe(32)
            token.key_hash = _token_hash(access)
            token.expires_at = now + dt.timedelta(hours=settings.API_TOKEN_HOURS)
            token.last_used_at = now
            token.refresh_expires_at = now + dt.timedelta(days=settings.API_REFRESH_DAYS)
            refresh_key = _new_refresh(token)
            token.save(update_fields=["key_hash", "expires_at", "last_used_at", "refresh_expires_at"])
            audit.record(principal=token.user, action="api_token.refresh", obj=token)
            return IssuedToken(token, access, refresh_key)
    raise refused  # after the commit: a reuse's revocation stays


def api_token_list(*, user: User) -> list[ApiToken]:
    """The user's live sign-ins, newest first (never their keys)."""
    now = timezone.now()
    tokens = (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        .filter(Q(expires_at__gt=now) | Q(refresh_expires_at__gt=now))
        .select_related("user")
        .order_by("-created_at", "-pk")[:200]
    )
    return [t for t in tokens if _token_live(t)]


def api_token_revoke(*, token_id: int, principal: User, reason: str = "revoked") -> ApiToken:
    """End one of the principal's own sign-ins (access and refresh keys); another's is not found."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user_of(principal)).first()
        if token is None:
            raise NotFound("token_not_found", _("No such token."))
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(principal=principal, action="api_token.revoke", obj=token, changes={"reason": reason})
    return token


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
