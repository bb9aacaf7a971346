from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.transitions import stamp_constraints
from epigrid.core.uploads import private_storage

from .choices import (
    ACTIVATION_STAMPS,
    ACTIVATION_TRANSITIONS,
    POINT_STAMPS,
    POINT_TRANSITIONS,
    TASK_STAMPS,
    TASK_TRANSITIONS,
    ActivationStatus,
    Evidence,
    ExposureDegree,
    PointStatus,
    Setting,
    TaskStatus,
)


class PlanTemplate(models.Model):
    """应急预案: a versioned template of steps; editing makes a new version, old ones stay."""

    name = models.CharField(_("name"), max_length=100)
    version = models.PositiveIntegerField(_("version"))
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("emergency plan")
        constraints = [
            models.UniqueConstraint(fields=["version"], name="plan_version_unique"),
            models.UniqueConstraint(fields=["is_current"], condition=Q(is_current=True), name="one_current_plan"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class PlanStep(models.Model):
    """A step of a plan: who does it, by when after activation, and what evidence it needs."""

    plan = models.ForeignKey(PlanTemplate, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveSmallIntegerField(_("order"))
    title = models.CharField(_("step"), max_length=100)
    responsible_role = models.CharField(_("responsible role"), max_length=24, choices=Role.choices)
    deadline_hours = models.PositiveSmallIntegerField(_("deadline (hours after activation)"))
    evidence = models.CharField(_("evidence"), max_length=8, choices=Evidence.choices, default=Evidence.NOTE)

    class Meta:
        verbose_name = _("plan step")
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["plan", "position"], name="plan_step_position_unique")]

    def __str__(self) -> str:
        return self.title


class Activation(models.Model):
    """启动应急预案: the plan activated for one compound (one per compound while open)."""

    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="activations")
    plan = models.ForeignKey(PlanTemplate, on_delete=models.PROTECT, related_name="activations")
    activated_at = models.DateTimeField(_("activated"))
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=8, choices=ActivationStatus.choices, default=ActivationStatus.ACTIVE
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    cases = models.ManyToManyField("health.Case", related_name="activations")

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = ACTIVATION_TRANSITIONS
    STATUS_STAMPS = ACTIVATION_STAMPS
    AUDIT_PREFIX = "activation"

    class Meta:
        verbose_name = _("plan activation")
        constraints = [
            *stamp_constraints("activation", ACTIVATION_STAMPS, only=True),
            models.UniqueConstraint(
                fields=["grid"], condition=Q(closed_at__isnull=True), name="one_open_activation_per_grid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grid} {self.activated_at:%Y-%m-%d}"


class Task(models.Model):
    """A plan step to be done for an activation: owner, deadline, evidence."""

    activation = models.ForeignKey(Activation, on_delete=models.PROTECT, related_name="tasks")
    step = models.ForeignKey(PlanStep, on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("task"), max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="plan_tasks"
    )
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(_("status"), max_length=8, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    evidence_note = models.CharField(_("evidence"), max_length=500, blank=True)
    evidence_count = models.PositiveIntegerField(null=True, blank=True)
    # A verified, re-encoded image (core/uploads.py), private: read through response:task_photo.
    evidence_photo = models.FileField(upload_to="evidence/%Y/%m/", storage=private_storage, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = TASK_TRANSITIONS
    STATUS_STAMPS = TASK_STAMPS
    AUDIT_PREFIX = "task"

    class Meta:
        verbose_name = _("task")
        constraints = [
            models.UniqueConstraint(fields=["activation", "step"], name="task_once_per_step"),
            *stamp_constraints("task", TASK_STAMPS),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="task_due_idx")]

    def __str__(self) -> str:
        return self.title


class Exposure(models.Model):
    """密接/次密接: a person exposed to a case (or to a close contact), and when last."""

    source = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="exposures_given")
    contact = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="exposures")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    degree = models.CharField(_("degree"), max_length=10, choices=ExposureDegree.choices)
    last_exposure_at = models.DateTimeField(_("last exposure"))
    place = models.CharField(_("where"), max_length=100, blank=True)
    setting = models.CharField(_("setting"), max_length=12, choices=Setting.choices, default=Setting.OTHER)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("exposure")
        constraints = [
            models.UniqueConstraint(fields=["source", "contact", "last_exposure_at"], name="exposure_once"),
            models.CheckConstraint(condition=~Q(source=models.F("contact")), name="exposure_not_self"),
        ]
        indexes = [models.Index(fields=["source"], name="exposure_source_idx")]

    def __str__(self) -> str:
        return f"{self.source_id}→{self.contact_id}"


class EpidemicPoint(models.Model):
    """疫点: a compound or building under closed management until the release rule holds."""

    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="epidemic_points")
    activation = models.ForeignKey(Activation, on_delete=models.PROTECT, related_name="points")
    status = models.CharField(_("status"), max_length=20, choices=PointStatus.choices, default=PointStatus.CLOSED)
    declared_at = models.DateTimeField(_("declared"))
    last_case_left_at = models.DateTimeField(_("last case left"), null=True, blank=True)
    disinfected_at = models.DateTimeField(_("terminal disinfection done"), null=True, blank=True)
    proposed_release_at = models.DateTimeField(_("proposed release"), null=True, blank=True)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = POINT_TRANSITIONS
    STATUS_STAMPS = POINT_STAMPS
    AUDIT_PREFIX = "epidemic_point"

    class Meta:
        verbose_name = _("epidemic point")
        constraints = [
            models.UniqueConstraint(fields=["grid"], condition=~Q(status="released"), name="one_open_point_per_grid"),
            # A proposal carries the time the rule computed (set by point_update, not by the move).
            *stamp_constraints("point", {**POINT_STAMPS, PointStatus.RELEASE_PROPOSED: "proposed_release_at"}),
        ]

    def __str__(self) -> str:
        return f"{self.grid} ({self.get_status_display()})"


class PointOrder(models.Model):
    """An order imposed because of an epidemic point; the point's release ends it."""

    point = models.ForeignKey(EpidemicPoint, on_delete=models.PROTECT, related_name="order_links")
    order = models.OneToOneField("control.ControlOrder", on_delete=models.PROTECT, related_name="point_link")

    class Meta:
        verbose_name = _("epidemic point order")

    def __str__(self) -> str:
        return f"{self.point_id}:{self.order_id}"
