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


class OmissionKind(models.TextChoices):
    """Signs of an omission or a concealment (漏报/瞒报), each for an inspector to review."""

    PUSHED_NOT_REGISTERED = "pushed_not_registered", _("Pushed from above, not made a key person in time")
    VISITOR_FROM_RISK_AREA = "visitor_from_risk_area", _("Visitor registered from a risk area, never a key person")
    QUARANTINED_WENT_OUT = "quarantined_went_out", _("A household under home quarantine went out on its pass")
    COPIED_READINGS = "copied_readings", _("Readings that look copied (one value, one minute, many days)")
    FEW_CONTACTS = "few_contacts", _("Confirmed case with fewer recorded contacts than household members")
    GATE_FEVER_UNREPORTED = "gate_fever_unreported", _("Fever at a gate missing from the grid's daily report")
    REPORTS_LATE = "reports_late", _("Grid whose daily reports are often late")
    READING_WITHOUT_CONTACT = (
        "reading_without_contact",
        _("Readings reported by staff on a day with no contact with the person"),
    )


class OmissionStatus(models.TextChoices):
    OPEN = "open", _("To review")
    CONFIRMED = "confirmed", _("Confirmed: an omission")
    DISMISSED = "dismissed", _("Dismissed: explained")


OMISSION_TRANSITIONS = {
    OmissionStatus.OPEN: {OmissionStatus.CONFIRMED, OmissionStatus.DISMISSED},
    OmissionStatus.CONFIRMED: set(),
    OmissionStatus.DISMISSED: set(),
}
OMISSION_STAMPS = {OmissionStatus.CONFIRMED: "reviewed_at", OmissionStatus.DISMISSED: "reviewed_at"}
