"""Writes about staff accounts: create, deactivate and reactivate (by those who manage them), a
password changed by its owner or set through a one-time link an administrator issues.

Every password passes AUTH_PASSWORD_VALIDATORS here (`clean_password`), whatever the path.
Who manages whom: `permissions.may_manage` (MANAGE_ASSIGNMENTS over every node the user is placed
at, and every right of the user's roles there); a user outside that is 404 (`selectors.user_get`).
"""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.crypto import seal
from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.core.scoping import authorize
from epigrid.core.validators import parse_phone
from epigrid.grids.models import GridNode

from .choices import Capability
from .models import PasswordReset, User
from .permissions import home_path, may_manage
from .services import grid_assignment_create


class _InEachLanguage:
    """A message already rendered in every UI language (Django's validators translate eagerly)."""

    def __init__(self, texts: dict[str, str]):
        self.texts = texts

    def __str__(self) -> str:
        return self.texts.get(translation.get_language(), self.texts["en"])


def clean_password(password: str, user: User, *, field: str = "password") -> None:
    """AUTH_PASSWORD_VALIDATORS, as a DomainError in both languages (never holding the password)."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError:
        pass
    else:
        return
    texts = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                texts[language] = " ".join(exc.messages)
    raise DomainError("password_invalid", _InEachLanguage(texts), field=field)


def _refuse_self(user: User, principal) -> None:
    if getattr(principal, "pk", None) == user.pk:
        raise Forbidden("own_account", _("Ask another administrator to do this for your own account."))


def _require_manage(user: User, principal) -> None:
    if not may_manage(principal, user):
        raise Forbidden("forbidden", _("Your role does not allow this here."))


def user_create(
    *,
    username: str,
    full_name: str,
    node: GridNode,
    role: str,
    duties=(),
    phone: str | None = None,
    password: str | None = None,
    principal,
) -> tuple[User, str | None]:
    """A new staff account, placed at once on `node` with `role` (so someone manages it from the
    start). With `password`, that is its password; without, it gets none and the answer carries a
    one-time link to set one (shown once)."""
    authorize(principal, Capability.MANAGE_ASSIGNMENTS, node.path)
    username, full_name = (username or "").strip(), (full_name or "").strip()
    try:
        User.username_validator(username)
    except ValidationError:
        raise DomainError(
            "username_invalid", _("A username is letters, digits and @ . + - _ only."), field="username"
        ) from None
    if not username or len(username) > 150:
        raise DomainError("username_invalid", _("A username is letters, digits and @ . + - _ only."), field="username")
    if not full_name:
        raise DomainError("full_name_required", _("Give the person's full name."), field="full_name")
    user = User(username=username, full_name=full_name[:50])
    if phone not in (None, ""):
        parsed = parse_phone(phone)
        user.phone_sealed, user.phone_masked = seal(parsed.number), parsed.masked
    if password:
        clean_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    link = None
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise Conflict("username_taken", _("This username is taken."), field="username")
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise Conflict("username_taken", _("This username is taken."), field="username") from None
        grid_assignment_create(node=node, user=user, role=role, duties=duties, principal=principal)
        audit.record(
            principal=principal,
            action="user.create",
            obj=user,
            grid_path=node.path,
            changes={
                "username": [None, username],
                "full_name": [None, user.full_name],
                "phone": [None, audit.REDACTED] if user.phone_masked else [None, None],
                "password": [None, "set" if password else "reset link"],
            },
        )
        if not password:
            link = _reset_issue(user=user, principal=principal)
    return user, link


def user_deactivate(*, user: User, principal) -> User:
    """The account can no longer log in: its sessions end at their next request (an inactive user
    is anonymous), its tokens are refused, its pending reset links die. Its roles stay, held by
    nobody until a reactivation (the coverage audit shows the gap)."""
    _refuse_self(user, principal)
    _require_manage(user, principal)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active:
            return locked
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        PasswordReset.objects.filter(user=locked, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        audit.record(
            principal=principal,
            action="user.deactivate",
            obj=locked,
            grid_path=home_path(locked),
            changes={"is_active": [True, False]},
        )
    return locked


def user_reactivate(*, user: User, principal) -> User:
    _refuse_self(user, principal)
    _require_manage(user, principal)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active:
            return locked
        locked.is_active = True
        locked.save(update_fields=["is_active"])
        audit.record(
            principal=principal,
            action="user.reactivate",
            obj=locked,
            grid_path=home_path(locked),
            changes={"is_active": [False, True]},
        )
    return locked


def user_password_change(*, user: User, old_password: str, new_password: str) -> User:
    """The owner changes their own password, giving the current one. Their other sessions end
    (Django checks each session against the password hash); the caller keeps this one with
    update_session_auth_hash."""
    if not user.check_password(old_password or ""):
        raise DomainError("password_wrong", _("The current password is wrong."), field="old_password")
    if new_password == old_password:
        raise DomainError("password_same", _("Choose a password you did not use here."), field="new_password")
    clean_password(new_password, user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(principal=user, action="user.password_change", obj=user, grid_path=home_path(user))
    return user


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _reset_issue(*, user: User, principal) -> str:
    now = timezone.now()
    PasswordReset.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    key = secrets.token_urlsafe(32)
    reset = PasswordReset.objects.create(
        user=user,
        key_hash=_hash(key),
        created_by=principal if getattr(principal, "pk", None) else None,
        expires_at=now + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
    )
    audit.record(
        principal=principal,
        action="user.password_reset_issue",
        obj=user,
        grid_path=home_path(user),
        changes={"expires_at": [None, reset.expires_at.isoformat()]},
    )
    return key


def password_reset_issue(*, user: User, principal) -> str:
    """A one-time key for `user` to set a new password (the link /password/reset/<key>/), shown
    once to the administrator, who passes it on; an earlier unused one stops working."""
    _refuse_self(user, principal)
    _require_manage(user, principal)
    if not user.is_active:
        raise DomainError("user_inactive", _("Reactivate the account first."))
    with transaction.atomic():
        return _reset_issue(user=user, principal=principal)


def _missing_link() -> NotFound:
    return NotFound("reset_link_invalid", _("This link is not valid: it was used, replaced or has expired."))


def password_reset_get(key: str) -> PasswordReset:
    """The reset a link names, while it can still be used; else 404 (never saying which)."""
    reset = (
        PasswordReset.objects.select_related("user")
        .filter(key_hash=_hash(key or ""), used_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if reset is None or reset.expires_at <= timezone.now() or not reset.user.is_active:
        raise _missing_link()
    return reset


def password_reset_use(*, key: str, new_password: str) -> User:
    """The user sets a new password through the link; the link then works no more."""
    reset = password_reset_get(key)
    user = reset.user
    clean_password(new_password, user, field="new_password")
    with transaction.atomic():
        used = PasswordReset.objects.filter(pk=reset.pk, used_at__isnull=True, revoked_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not used:  # two submissions at once: one wins
            raise _missing_link()
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(principal=user, action="user.password_reset", obj=user, grid_path=home_path(user))
    return user
