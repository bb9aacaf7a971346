from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.uploads import private_storage


class ServiceKind(models.TextChoices):
    """生活保障 and 24小时保障服务 (docs/method.md "5" item 10)."""

    SHOPPING = "shopping", _("Shopping for vegetables and fruit")
    DISINFECTION = "disinfection", _("Compound disinfection")
    GARBAGE = "garbage", _("Garbage pickup")
    CHECKIN = "checkin", _("Phone or video check-in on mood")
    SUPPLIES = "supplies", _("Supplies handed out")


class ServiceSchedule(models.Model):
    """A recurring service for a controlled household or a compound, by a readable rule."""

    household = models.ForeignKey(
        "people.Household", on_delete=models.PROTECT, null=True, blank=True, related_name="service_schedules"
    )
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("service"), max_length=16, choices=ServiceKind.choices)
    rule = models.CharField(_("when"), max_length=60)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    starts_at = models.DateTimeField(_("from"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("service schedule")
        constraints = [
            models.UniqueConstraint(
                fields=["household", "grid", "kind"],
                condition=Q(ended_at__isnull=True),
                name="one_active_schedule_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.rule}"


class ServiceTask(models.Model):
    """One occurrence of a service: due at a time, done by someone (with a note or photo), or overdue."""

    schedule = models.ForeignKey(ServiceSchedule, on_delete=models.PROTECT, related_name="tasks")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        "people.Household", on_delete=models.PROTECT, null=True, blank=True, related_name="service_tasks"
    )
    due_at = models.DateTimeField(_("due"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="service_tasks"
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    # A verified, re-encoded image (core/uploads.py), private: read through care:task_photo.
    photo = models.FileField(upload_to="services/%Y/%m/", storage=private_storage, blank=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("service task")
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="service_task_once")]
        indexes = [models.Index(fields=["done_at", "due_at"], name="service_task_due_idx")]

    def __str__(self) -> str:
        return f"{self.schedule} {self.due_at:%m-%d %H:%M}"


class SupplyRequest(models.Model):
    """A resident's request for supplies or help, from their personal link, tracked to done."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="supply_requests")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    text = models.CharField(_("request"), max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="supply_requests"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("supply request")

    def __str__(self) -> str:
        return self.text[:40]
