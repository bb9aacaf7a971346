from django.db import models
from django.utils.translation import gettext_lazy as _


class Direction(models.TextChoices):
    IN = "in", _("In")
    OUT = "out", _("Out")


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
