from django.db import models
from django.utils.translation import gettext_lazy as _


class TravelMode(models.TextChoices):
    SELF_DRIVE = "self_drive", _("Self-drive")
    TRAIN = "train", _("Train")
    PLANE = "plane", _("Plane")
    BUS = "bus", _("Coach")
    OTHER = "other", _("Other")


class TipSource(models.TextChoices):
    STAFF = "staff", _("Reported to staff")
    SELF = "self", _("Self-registration (poster QR)")


class KeyPersonStatus(models.TextChoices):
    """重点人员: from the tip to a control measure (docs/method.md "5" item 1)."""

    REPORTED = "reported", _("Reported")
    ASSESSED = "assessed", _("Assessed")
    CONTROLLED = "controlled", _("Under control")
    CLOSED = "closed", _("Closed")


KEY_PERSON_TRANSITIONS = {
    KeyPersonStatus.REPORTED: {KeyPersonStatus.ASSESSED, KeyPersonStatus.CONTROLLED, KeyPersonStatus.CLOSED},
    KeyPersonStatus.ASSESSED: {KeyPersonStatus.CONTROLLED, KeyPersonStatus.CLOSED},
    KeyPersonStatus.CONTROLLED: {KeyPersonStatus.CLOSED},
    KeyPersonStatus.CLOSED: set(),
}
# The time each status is reached; the database refuses a status without it.
KEY_PERSON_STAMPS = {
    KeyPersonStatus.ASSESSED: "assessed_at",
    KeyPersonStatus.CONTROLLED: "controlled_at",
    KeyPersonStatus.CLOSED: "closed_at",
}


class OrderKind(models.TextChoices):
    """管控措施."""

    HOME_QUARANTINE = "home_quarantine", _("Home quarantine")
    CENTRALIZED_QUARANTINE = "centralized_quarantine", _("Centralized quarantine")
    HOSPITAL_ISOLATION = "hospital_isolation", _("Hospital isolation")
    HEALTH_MONITORING = "health_monitoring", _("Health monitoring")


# Kinds that need a named site (集中隔离点 / 定点医院).
SITE_KINDS = {OrderKind.CENTRALIZED_QUARANTINE, OrderKind.HOSPITAL_ISOLATION}


class OrderReason(models.TextChoices):
    RISK_AREA_ARRIVAL = "risk_area_arrival", _("Arrival from a risk area")
    CLOSE_CONTACT = "close_contact", _("Close contact")
    SECONDARY_CONTACT = "secondary_contact", _("Secondary contact")
    POSITIVE_TEST = "positive_test", _("Positive test")
    CONFIRMED_CASE = "confirmed_case", _("Confirmed case")
    EPIDEMIC_POINT = "epidemic_point", _("Inside an epidemic point")
    OTHER = "other", _("Other")


class OrderStatus(models.TextChoices):
    ACTIVE = "active", _("In force")
    RELEASE_PROPOSED = "release_proposed", _("Release proposed")
    RELEASED = "released", _("Released")
    TRANSFERRED = "transferred", _("Transferred")


# The order state machine (docs/architecture.md "State machines").
ORDER_TRANSITIONS = {
    OrderStatus.ACTIVE: {OrderStatus.RELEASE_PROPOSED, OrderStatus.TRANSFERRED, OrderStatus.RELEASED},
    OrderStatus.RELEASE_PROPOSED: {OrderStatus.RELEASED, OrderStatus.ACTIVE, OrderStatus.TRANSFERRED},
    OrderStatus.RELEASED: set(),
    OrderStatus.TRANSFERRED: set(),
}
ORDER_STAMPS = {
    OrderStatus.RELEASE_PROPOSED: "release_proposed_at",
    OrderStatus.RELEASED: "released_at",
    OrderStatus.TRANSFERRED: "transferred_at",
}
OPEN_ORDER_STATUSES = (OrderStatus.ACTIVE, OrderStatus.RELEASE_PROPOSED)


class TeamRole(models.TextChoices):
    """一户一专班 roles."""

    LIAISON = "liaison", _("Liaison grid member")
    CADRE = "cadre", _("Community cadre")
    MEDICAL = "medical", _("Medical staff")
    POLICE = "police", _("Police")
    PROPERTY = "property", _("Property manager")


REQUIRED_TEAM_ROLES = (TeamRole.LIAISON, TeamRole.CADRE, TeamRole.MEDICAL)


# Readable values of the fields this app audits, for the person file's timeline.
TIMELINE_VALUES = {
    "kind": dict(OrderKind.choices),
    "role": dict(TeamRole.choices),
    "status": {**dict(KeyPersonStatus.choices), **dict(OrderStatus.choices)},
    "reason": dict(OrderReason.choices),
}
