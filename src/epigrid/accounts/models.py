from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.auth.password_validation import validate_password
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet

from .choices import Duty, Role


class ValidatedUserManager(UserManager):
    """`create_user` and `create_superuser` refuse a password the validators refuse
    (AUTH_PASSWORD_VALIDATORS), so `createsuperuser`, with or without --noinput, cannot make `123`
    an administrator's password: the ValidationError becomes the command's error."""

    use_in_migrations = True

    def _create_user_object(self, username, email, password, **extra_fields):
        if password is not None:
            validate_password(password, self.model(username=username, email=email or "", **_attributes(extra_fields)))
        return super()._create_user_object(username, email, password, **extra_fields)


def _attributes(fields: dict) -> dict:
    """The plain fields the similarity validator compares the password with."""
    return {k: v for k, v in fields.items() if k in {"full_name", "first_name", "last_name"}}


class User(AbstractUser):
    """用户: a staff account (grid member, community staff, commander, guard, inspector…)."""

    full_name = models.CharField(_("full name"), max_length=50, blank=True)
    # A staff member's own phone, sealed like residents' (core.crypto); shown masked.
    phone_sealed = models.BinaryField(null=True, blank=True, editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True, editable=False)
    # Staff are often residents too; their file then shows their grid roles.
    person = models.OneToOneField(
        "people.Person",
        verbose_name=_("person file"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="user",
    )

    objects = ValidatedUserManager()

    class Meta:
        verbose_name = _("user")

    def __str__(self) -> str:
        return self.full_name or self.username

    def grant_paths(self, capability: str) -> list[str] | None:
        """The subtree roots where one of this user's roles grants `capability` (see core.scoping);
        None (everywhere) for a superuser; none at all for a capability that needs a second factor
        this login has not passed."""
        from .permissions import user_grant_paths

        return user_grant_paths(self, capability)


class GridAssignmentQuerySet(GridScopedQuerySet):
    grid_path_lookups = ("node__path",)

    def active(self):
        """Held now: not ended, by a user who is not deactivated (a deactivated user's roles
        cover nothing and receive nothing, yet come back with a reactivation)."""
        return self.filter(ended_at__isnull=True, user__is_active=True)


class GridAssignment(models.Model):
    """网格分配: a user holds a role on a grid node, with duty tags; ended, never deleted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="grid_assignments"
    )
    node = models.ForeignKey(
        "grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="assignments"
    )
    role = models.CharField(_("role"), max_length=24, choices=Role.choices)
    duties = models.JSONField(_("duties"), default=list, blank=True)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridAssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("grid assignment")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "node", "role"], condition=Q(ended_at__isnull=True), name="assignment_unique_active"
            )
        ]
        indexes = [models.Index(fields=["node", "role"], name="assignment_node_role_idx")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.node}"

    @property
    def duty_labels(self) -> list[str]:
        return [Duty(d).label if d in Duty.values else d for d in self.duties]


class ApiToken(models.Model):
    """A device's sign-in: its access key (the bearer) and, for devices that renew, the refresh
    keys below. Only SHA-256 hashes of keys are stored. `auth_hash` fingerprints the user's
    password hash at issue: after any password change the token is refused."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(_("device"), max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)  # the current access key
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()  # the current access key's end
    refresh_expires_at = models.DateTimeField(null=True, blank=True)  # None: no refresh key
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    auth_hash = models.CharField(max_length=64)
    # The second factor whose code came with the password when the token was issued (django-otp's
    # persistent id); empty: none. The token counts as verified while that device exists.
    otp_device = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"token of {self.user}"


class RefreshToken(models.Model):
    """One refresh key of a sign-in, used once: using it gives new keys; using it again revokes
    the sign-in (it was copied)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="refresh_keys")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("refresh key")

    def __str__(self) -> str:
        return f"refresh key of {self.token_id}"


class PasswordReset(models.Model):
    """A one-time link to set a new password, issued by an administrator (there may be no email):
    only its SHA-256 is stored; it works once, until `expires_at`, and a newer one replaces it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_resets")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("password reset")

    def __str__(self) -> str:
        return f"password reset of {self.user}"
