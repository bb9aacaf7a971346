from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.transitions import stamp_constraints

from .choices import STAMPS, TRANSITIONS, AlertKind, AlertStatus, EscalationLevel, Severity


class AlertQuerySet(GridScopedQuerySet):
    def unresolved(self):
        return self.exclude(status=AlertStatus.RESOLVED)


class Alert(models.Model):
    """预警: something about a person's health that someone must handle by a deadline.

    Never deleted, never dropped: an alert is resolved by a person with a note, and when it is
    not acknowledged in time it escalates up the grid tree (docs/method.md "1 — one principle").
    """

    kind = models.CharField(_("kind"), max_length=24, choices=AlertKind.choices)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices, default=Severity.NORMAL)
    status = models.CharField(_("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    # One alert per fact: a resent report or a rerun sweep finds the same key and adds nothing.
    dedup_key = models.CharField(max_length=120, unique=True)
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="alerts")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="alerts")
    detail = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alerts",
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=EscalationLevel.choices, default=0)
    raised_at = models.DateTimeField(_("raised"), db_index=True)
    due_at = models.DateTimeField(_("acknowledge by"))
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(_("resolution"), max_length=200, blank=True)
    # The ids a grid member's phone gave an acknowledgement or a resolution taken offline: sent
    # again (the answer lost), it is recognised and changes nothing. Empty for moves made online.
    acknowledged_client_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    resolved_client_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    objects = AlertQuerySet.as_manager()

    TRANSITIONS = TRANSITIONS
    STATUS_STAMPS = STAMPS
    AUDIT_PREFIX = "alert"

    class Meta:
        verbose_name = _("alert")
        constraints = stamp_constraints("alert", STAMPS)
        indexes = [
            models.Index(fields=["status", "due_at"], name="alert_due_idx", condition=Q(status="open")),
            models.Index(fields=["person", "raised_at"], name="alert_person_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"
