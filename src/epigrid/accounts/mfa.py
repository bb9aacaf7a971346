"""Writes about the second factor (TOTP with django-otp, and one-time backup codes): enrolment,
verification, and a reset by an administrator. Who needs one is decided in `permissions`.

Every wrong code counts against the device (django-otp's throttling: after n failures the device
reads no code for 2^(n-1) seconds) and is written to the audit log, as are enrolments, resets and
verifications; a code sent while the device is throttled is refused (429) without being read.
"""

import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from epigrid.core import audit
from epigrid.core.errors import Conflict, DomainError, Forbidden, Throttled

from .models import User
from .permissions import home_path, may_manage, must_verify

BACKUP_CODES = 10
_TOTP_CODE = re.compile(r"\d{6}")
_BACKUP_CODE = re.compile(r"[a-z2-7]{8}")


def _normalised(code) -> str:
    return re.sub(r"[\s-]", "", str(code or "")).lower()


def totp_device(user: User, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def _failed(user: User, *, reason: str, kind: str, during: str) -> None:
    audit.record(
        principal=user,
        action="mfa.verify_failed",
        obj=user,
        grid_path=home_path(user),
        changes={"reason": reason, "device": kind, "during": during},
    )


def _check(user: User, device, code: str, *, kind: str, during: str) -> None:
    """Verify `code` on `device` (locked, so parallel guesses are counted one by one); a wrong or
    throttled code is audited and refused. The throttle's count is committed before the refusal."""
    with transaction.atomic():
        locked = type(device).objects.select_for_update().get(pk=device.pk)
        allowed, info = locked.verify_is_allowed()
        ok = allowed and locked.verify_token(code)
    if ok:
        return
    if not allowed:
        # Refused unread, and not written down: a throttled device cannot be made to flood the
        # audit log (each wrong code that was read is, and they come slower and slower).
        wait = max(1, int((info["locked_until"] - timezone.now()).total_seconds() + 0.999)) if info else 1
        raise Throttled(
            "second_factor_throttled",
            _("Too many wrong codes: wait %(seconds)s seconds, then try again."),
            field="code",
            params={"seconds": wait},
        )
    _failed(user, reason="wrong", kind=kind, during=during)
    raise DomainError(
        "second_factor_wrong", _("This code is wrong, or was already used. Try the next one."), field="code"
    )


def second_factor_verify(*, user: User, code) -> TOTPDevice | StaticDevice:
    """The device that accepts `code`: the TOTP device for 6 digits, the backup codes otherwise."""
    code = _normalised(code)
    if _TOTP_CODE.fullmatch(code):
        device, kind = totp_device(user), "totp"
    elif _BACKUP_CODE.fullmatch(code):
        device, kind = StaticDevice.objects.filter(user=user, confirmed=True).first(), "backup"
    else:
        raise DomainError("second_factor_format", _("Enter the 6-digit code from your app."), field="code")
    if device is None:
        if totp_device(user) is None:
            raise DomainError(
                "second_factor_missing", _("This account has no second factor yet: set one up first."), field="code"
            )
        _failed(user, reason="no_backup_codes", kind=kind, during="login")
        raise DomainError(
            "second_factor_wrong", _("This code is wrong, or was already used. Try the next one."), field="code"
        )
    _check(user, device, code, kind=kind, during="login")
    audit.record(principal=user, action="mfa.verify", obj=user, grid_path=home_path(user), changes={"device": kind})
    return device


def second_factor_enrol_start(*, user: User) -> TOTPDevice:
    """The pending (unconfirmed) TOTP device whose secret the enrolment page shows; the same one
    until it is confirmed, so reloading the page does not change the QR code already scanned."""
    if totp_device(user) is not None:
        raise Conflict("second_factor_exists", _("This account already has a second factor."))
    pending = totp_device(user, confirmed=False)
    if pending is None:
        pending = TOTPDevice.objects.create(user=user, name="TOTP", confirmed=False)
    return pending


def second_factor_enrol_confirm(*, user: User, code) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending device with a code from the app; returns it and fresh backup codes
    (shown once). Only an account without a second factor can enrol: a stolen password cannot
    replace the owner's device."""
    code = _normalised(code)
    with transaction.atomic():
        if TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).exists():
            raise Conflict("second_factor_exists", _("This account already has a second factor."))
    pending = totp_device(user, confirmed=False)
    if pending is None:
        raise DomainError("second_factor_not_started", _("Open the set-up page again."), field="code")
    if not _TOTP_CODE.fullmatch(code):
        raise DomainError("second_factor_format", _("Enter the 6-digit code from your app."), field="code")
    _check(user, pending, code, kind="totp", during="enrol")
    with transaction.atomic():
        pending.confirmed = True
        pending.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        StaticDevice.objects.filter(user=user).delete()
        backup = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=backup, token=c) for c in codes])
        audit.record(
            principal=user,
            action="mfa.enrol",
            obj=user,
            grid_path=home_path(user),
            changes={"device": [None, "totp"], "backup_codes": [None, BACKUP_CODES]},
        )
    return pending, codes


def second_factor_reset(*, user: User, principal) -> None:
    """An administrator removes a user's second factor (a lost phone): every device goes, the
    user's sessions and tokens lose their verification, and at the next page the user sets up a
    new one. Only someone who may manage the user (permissions.may_manage), never on oneself."""
    if getattr(principal, "pk", None) == user.pk:
        raise Forbidden("own_account", _("Ask another administrator to do this for your own account."))
    if not may_manage(principal, user):
        raise Forbidden("forbidden", _("Your role does not allow this here."))
    with transaction.atomic():
        had = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit.record(
            principal=principal,
            action="mfa.reset",
            obj=user,
            grid_path=home_path(user),
            changes={"device": ["totp" if had else None, None]},
        )


def token_second_factor(*, user: User, code) -> None:
    """The token endpoint's second step: a user who must verify sends the code with the password,
    and the token issued next counts as verified by that device (see services.api_token_issue)."""
    if not must_verify(user):
        return
    if not code:
        raise DomainError(
            "second_factor_required", _("This account needs its 6-digit code (otp) with the password."), field="otp"
        )
    try:
        user.otp_device = second_factor_verify(user=user, code=code)
    except DomainError as exc:
        exc.field = "otp"
        raise
