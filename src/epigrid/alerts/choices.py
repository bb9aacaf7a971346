from django.db import models
from django.utils.translation import gettext_lazy as _


class AlertKind(models.TextChoices):
    FEVER = "fever", _("Fever")
    MISSED_SLOT = "missed_slot", _("Missed temperature report")
    POSITIVE_TEST = "positive_test", _("Positive nucleic-acid test")
    RELEASE_DUE = "release_due", _("Release can be approved")
    TASK_OVERDUE = "task_overdue", _("Emergency task overdue")
    GATE_REFUSAL = "gate_refusal", _("Refused at a checkpoint")
    SERVICE_OVERDUE = "service_overdue", _("Household service overdue")
    RECTIFICATION_OVERDUE = "rectification_overdue", _("Rectification overdue")
    REPORT_LATE = "report_late", _("Daily report not signed in time")
    WISH_OVERDUE = "wish_overdue", _("Wish open too long")
    NOTICE_UNREAD = "notice_unread", _("Notice unread by a quarantined household")


class Severity(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


TRANSITIONS = {
    AlertStatus.OPEN: {AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED},
    AlertStatus.ACKNOWLEDGED: {AlertStatus.RESOLVED},
    AlertStatus.RESOLVED: set(),
}
STAMPS = {AlertStatus.ACKNOWLEDGED: "acknowledged_at", AlertStatus.RESOLVED: "resolved_at"}


class EscalationLevel(models.IntegerChoices):
    """Who owns an alert: the liaison first, then up the grid tree (docs/method.md "1")."""

    LIAISON = 0, _("Liaison grid member")
    GRID_HEAD = 1, _("Grid head")
    COMMUNITY = 2, _("Community")
    COMMAND = 3, _("Command center")
