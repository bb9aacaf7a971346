from django.db import models
from django.utils.translation import gettext_lazy as _


class Evidence(models.TextChoices):
    NOTE = "note", _("Note")
    PHOTO = "photo", _("Photo")
    COUNT = "count", _("Count")


class ActivationStatus(models.TextChoices):
    """应急预案启动: in force from the confirmation until its epidemic points are released."""

    ACTIVE = "active", _("In force")
    CLOSED = "closed", _("Closed")


ACTIVATION_TRANSITIONS = {ActivationStatus.ACTIVE: {ActivationStatus.CLOSED}, ActivationStatus.CLOSED: set()}
ACTIVATION_STAMPS = {ActivationStatus.CLOSED: "closed_at"}


class TaskStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")


TASK_TRANSITIONS = {TaskStatus.OPEN: {TaskStatus.DONE}, TaskStatus.DONE: set()}
TASK_STAMPS = {TaskStatus.DONE: "done_at"}


class ExposureDegree(models.TextChoices):
    CLOSE = "close", _("Close contact")
    SECONDARY = "secondary", _("Secondary contact")


class Setting(models.TextChoices):
    HOUSEHOLD = "household", _("Same household")
    MEAL = "meal", _("Shared meal")
    VEHICLE = "vehicle", _("Same vehicle")
    WORK = "work", _("Workplace")
    MEDICAL = "medical", _("Medical care")
    OTHER = "other", _("Other")


class PointStatus(models.TextChoices):
    """疫点."""

    CLOSED = "closed", _("Closed management")
    RELEASE_PROPOSED = "release_proposed", _("Release proposed")
    RELEASED = "released", _("Released")


POINT_TRANSITIONS = {
    PointStatus.CLOSED: {PointStatus.RELEASE_PROPOSED},
    PointStatus.RELEASE_PROPOSED: {PointStatus.RELEASED, PointStatus.CLOSED},
    PointStatus.RELEASED: set(),
}
POINT_STAMPS = {PointStatus.RELEASED: "released_at"}
