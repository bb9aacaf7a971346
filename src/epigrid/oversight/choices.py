from django.db import models
from django.utils.translation import gettext_lazy as _


class RoundStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    COMPLETED = "completed", _("Completed")


class RectificationStatus(models.TextChoices):
    OPEN = "open", _("To rectify")
    ANSWERED = "answered", _("Answered, to re-check")
    CLOSED = "closed", _("Closed")


# open → answered (the owner, with evidence) → closed (the inspector's re-check passed), or back
# to open (it did not: the owner answers again).
RECTIFICATION_TRANSITIONS = {
    RectificationStatus.OPEN: {RectificationStatus.ANSWERED},
    RectificationStatus.ANSWERED: {RectificationStatus.CLOSED, RectificationStatus.OPEN},
    RectificationStatus.CLOSED: set(),
}
RECTIFICATION_STAMPS = {RectificationStatus.ANSWERED: "answered_at", RectificationStatus.CLOSED: "closed_at"}


class ReportStatus(models.TextChoices):
    DRAFT = "draft", _("Drafted, to sign")
    SIGNED = "signed", _("Signed")


# 日报: drafted by the system, reviewed and signed by the node's responsible person. Signed is final.
REPORT_TRANSITIONS = {ReportStatus.DRAFT: {ReportStatus.SIGNED}, ReportStatus.SIGNED: set()}
REPORT_STAMPS = {ReportStatus.SIGNED: "signed_at"}


class VerificationOutcome(models.TextChoices):
    """What the grid member found for a person on a list pushed from above (核查名单)."""

    PENDING = "pending", _("To verify")
    AT_HOME = "at_home", _("Found at home")
    LEFT = "left", _("Has left")
    NOT_LIVING_HERE = "not_living_here", _("Does not live here")
    NEW_ARRIVAL = "new_arrival", _("New arrival: registered as a tip")
