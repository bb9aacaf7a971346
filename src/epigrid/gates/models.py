from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.transitions import stamp_constraints
from epigrid.grids.models import within

from .choices import PASS_STAMPS, PASS_TRANSITIONS, Direction, PassStatus, RefusalReason, Verdict


class Checkpoint(models.Model):
    """防疫检查点: one per entrance of a compound; opened and closed by the command center."""

    grid = models.ForeignKey(
        "grids.GridNode", verbose_name=_("compound"), on_delete=models.PROTECT, related_name="checkpoints"
    )
    name = models.CharField(_("name"), max_length=50)
    is_open = models.BooleanField(_("open"), default=True)
    # 测温: whoever comes in has their temperature taken, unless the command center lets this
    # entrance do without (e.g. a side gate used only to go out).
    temperature_required = models.BooleanField(_("temperature required to come in"), default=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("checkpoint")
        constraints = [models.UniqueConstraint(fields=["grid", "name"], name="checkpoint_name_unique")]

    def __str__(self) -> str:
        return f"{self.grid} {self.name}"


class HouseholdPass(models.Model):
    """临时出入证: a household's numbered pass; the QR code carries an unguessable token (sealed,
    found by its hash), never the household id. Re-issuing keeps the number, changes the token."""

    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, related_name="passes")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("pass number"), max_length=32)
    token_hash = models.CharField(max_length=64, unique=True)
    token_sealed = models.BinaryField()
    issued_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(_("status"), max_length=8, choices=PassStatus.choices, default=PassStatus.ACTIVE)
    revoked_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = PASS_TRANSITIONS
    STATUS_STAMPS = PASS_STAMPS
    AUDIT_PREFIX = "pass"
    AUDIT_ALSO = ("household",)

    class Meta:
        verbose_name = _("household pass")
        constraints = [
            *stamp_constraints("pass", PASS_STAMPS, only=True),
            models.UniqueConstraint(
                fields=["household"], condition=Q(revoked_at__isnull=True), name="one_active_pass_per_household"
            ),
            models.UniqueConstraint(
                fields=["number"], condition=Q(revoked_at__isnull=True), name="pass_number_unique_active"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Visitor(models.Model):
    """来访人员: registered at a gate by name, phone, ID, whom and why."""

    name = models.CharField(_("name"), max_length=50)
    phone_sealed = models.BinaryField()
    phone_masked = models.CharField(_("phone"), max_length=20)
    id_number_sealed = models.BinaryField()
    id_number_hash = models.CharField(max_length=64, db_index=True)
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    visiting = models.ForeignKey(
        "people.Household", verbose_name=_("visiting"), on_delete=models.PROTECT, related_name="visitors"
    )
    reason = models.CharField(_("reason"), max_length=100)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("visitor")

    def __str__(self) -> str:
        return self.name


class Passage(models.Model):
    """进出登记: one passage through a checkpoint (a pass or a visitor), allowed or refused."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="passages")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    household_pass = models.ForeignKey(
        HouseholdPass, on_delete=models.PROTECT, null=True, blank=True, related_name="passages"
    )
    visitor = models.ForeignKey(Visitor, on_delete=models.PROTECT, null=True, blank=True, related_name="passages")
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    temperature = models.DecimalField(_("temperature"), max_digits=3, decimal_places=1, null=True, blank=True)
    verdict = models.CharField(_("verdict"), max_length=8, choices=Verdict.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=RefusalReason.choices, blank=True)
    guard = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("time"), db_index=True)
    # The id a guard's phone gave the passage while offline: a batch sent again (a day later,
    # after a lost answer) stores nothing twice. Empty for passages recorded online.
    client_id = models.UUIDField(null=True, blank=True, editable=False)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("passage")
        constraints = [
            models.CheckConstraint(
                condition=Q(household_pass__isnull=False) | Q(visitor__isnull=False), name="passage_has_someone"
            ),
            # Partitioned by month of `at` on PostgreSQL (core/partitions.py): a unique constraint
            # there must hold the key. A resend has the same time; the batches look the client id
            # up on any day first.
            models.UniqueConstraint(fields=["client_id", "at"], name="passage_client_id_at_unique"),
        ]
        indexes = [models.Index(fields=["household_pass", "at"], name="passage_pass_time_idx")]

    def __str__(self) -> str:
        return f"{self.checkpoint} {self.direction} {self.at:%H:%M}"

    @property
    def served_pass(self) -> "HouseholdPass | None":
        """The household pass, when it is one the checkpoint serves (of its compound). Passages
        recorded before a pass of another compound was answered "not found" may name one: that
        household is not shown at this checkpoint (select_related "grid", "household_pass__grid")."""
        if self.household_pass_id is None or not within(self.household_pass.grid.path, self.grid.path):
            return None
        return self.household_pass


class Shift(models.Model):
    """24小时值班值守: a guard shift at a checkpoint, with its leader and guards."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="shifts")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("shift leader"), on_delete=models.PROTECT, related_name="+"
    )
    guards = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ShiftGuard", related_name="shifts")

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("shift")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start")
        ]
        indexes = [models.Index(fields=["checkpoint", "starts_at"], name="shift_checkpoint_idx")]

    def __str__(self) -> str:
        return f"{self.checkpoint} {self.starts_at:%m-%d %H:%M}"


class ShiftGuard(models.Model):
    """A guard on a shift, with check-in and check-out."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="attendance")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("shift guard")
        constraints = [models.UniqueConstraint(fields=["shift", "user"], name="shift_guard_once")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.shift}"
