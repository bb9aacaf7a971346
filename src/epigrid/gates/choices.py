from django.db import models
from django.utils.translation import gettext_lazy as _


class Direction(models.TextChoices):
    IN = "in", _("In")
    OUT = "out", _("Out")


class PassStatus(models.TextChoices):
    ACTIVE = "active", _("Valid")
    REVOKED = "revoked", _("Revoked")


PASS_TRANSITIONS = {PassStatus.ACTIVE: {PassStatus.REVOKED}, PassStatus.REVOKED: set()}
PASS_STAMPS = {PassStatus.REVOKED: "revoked_at"}


class Verdict(models.TextChoices):
    ALLOWED = "allowed", _("Allowed")
    REFUSED = "refused", _("Refused")


class RefusalReason(models.TextChoices):
    QUARANTINE = "quarantine", _("Pass suspended: the household is under home quarantine")
    EPIDEMIC_POINT = "epidemic_point", _("Pass suspended: the compound is under closed management")
    FEVER = "fever", _("Fever: take the person to the fever clinic")
    REVOKED = "revoked", _("Pass revoked")
    WRONG_CHECKPOINT = "wrong_checkpoint", _("This pass is for another compound")
    CHECKPOINT_CLOSED = "checkpoint_closed", _("This checkpoint is closed")
    VISIT_QUARANTINE = "visit_quarantine", _("No visitors: the household is under home quarantine")
    VISIT_EPIDEMIC_POINT = "visit_epidemic_point", _("No visitors: the compound is under closed management")


class BatchOutcome(models.TextChoices):
    """What became of one row of an offline batch."""

    STORED = "stored", _("Stored")
    RESENT = "resent", _("Sent before: the passage stored then")
    DOUBLE_SCAN = "double_scan", _("Scanned twice within a minute: the passage recorded then")
