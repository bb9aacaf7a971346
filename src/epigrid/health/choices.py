from django.db import models
from django.utils.translation import gettext_lazy as _


class ReportSource(models.TextChoices):
    SELF = "self", _("Resident's own link")
    LIAISON = "liaison", _("Liaison")
    GATE = "gate", _("Checkpoint")
    DEVICE = "device", _("Device batch")


class SampleResult(models.TextChoices):
    PENDING = "pending", _("Pending")
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")


class CaseStatus(models.TextChoices):
    SUSPECTED = "suspected", _("Suspected")
    CONFIRMED = "confirmed", _("Confirmed")
    EXCLUDED = "excluded", _("Excluded")


CASE_TRANSITIONS = {
    CaseStatus.SUSPECTED: {CaseStatus.CONFIRMED, CaseStatus.EXCLUDED},
    CaseStatus.CONFIRMED: set(),
    CaseStatus.EXCLUDED: {CaseStatus.SUSPECTED},
}
CASE_STAMPS = {
    CaseStatus.SUSPECTED: "suspected_at",
    CaseStatus.CONFIRMED: "confirmed_at",
    CaseStatus.EXCLUDED: "excluded_at",
}


class Conclusion(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed case")
    EXCLUDED = "excluded", _("Not a case")


class CodeColour(models.TextChoices):
    """健康码."""

    RED = "red", _("Red")
    YELLOW = "yellow", _("Yellow")
    GREEN = "green", _("Green")


class StaffContactKind(models.TextChoices):
    """How a staff member reached a person (入户, 电话, 视频)."""

    VISIT = "visit", _("Home visit")
    PHONE = "phone", _("Phone call")
    VIDEO = "video", _("Video call")
