from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.transitions import stamp_constraints

from .choices import (
    KEY_PERSON_STAMPS,
    KEY_PERSON_TRANSITIONS,
    ORDER_STAMPS,
    ORDER_TRANSITIONS,
    KeyPersonStatus,
    OrderKind,
    OrderReason,
    OrderStatus,
    TeamRole,
    TipSource,
    TravelMode,
)


class RiskArea(models.Model):
    """风险地区: an administrative division (GB/T 2260) whose arrivals are key persons."""

    code = models.CharField(_("region code"), max_length=6, unique=True)
    # The code without its trailing zero pairs: 420000 → "42", 420600 → "4206"; a place is in the
    # area when its code starts with this prefix.
    prefix = models.CharField(max_length=6, db_index=True, editable=False)
    name = models.CharField(_("name"), max_length=60)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("risk area")

    def __str__(self) -> str:
        return self.name


class Tip(models.Model):
    """线索: a report that people are coming from elsewhere ("一家四人从襄阳自驾返济")."""

    reported_at = models.DateTimeField(_("reported at"))
    reporter = models.CharField(_("reported by"), max_length=100)
    origin_code = models.CharField(_("coming from (region code)"), max_length=6)
    origin_name = models.CharField(_("coming from"), max_length=100)
    risk_area = models.ForeignKey(RiskArea, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    travel_mode = models.CharField(_("travel"), max_length=16, choices=TravelMode.choices)
    expected_arrival_at = models.DateTimeField(_("expected arrival"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="tips")
    source = models.CharField(_("source"), max_length=8, choices=TipSource.choices, default=TipSource.STAFF)
    # Empty for a self-registration: nobody with an account wrote it.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who checks it (a self-registration: the compound's grid member).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("tip")
        constraints = [
            models.CheckConstraint(
                condition=Q(source=TipSource.SELF) | Q(created_by__isnull=False), name="tip_staff_has_author"
            )
        ]

    def __str__(self) -> str:
        return f"{self.origin_name} {self.reported_at:%m-%d %H:%M}"


class RegistrationPoster(models.Model):
    """返乡申报 poster of a compound grid: its QR opens the public self-registration form. The
    token is random, kept as a hash (to find it) and sealed (to print the poster again); a new
    poster revokes the old one."""

    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    token_sealed = models.BinaryField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("registration poster")
        constraints = [
            models.UniqueConstraint(fields=["grid"], condition=Q(revoked_at__isnull=True), name="one_poster_per_grid")
        ]

    def __str__(self) -> str:
        return f"poster {self.grid_id}"


class SelfRegistrationQuerySet(GridScopedQuerySet):
    grid_path_lookups = ("tip__grid__path",)


class SelfRegistration(models.Model):
    """返乡申报: what an arriving resident declared through a compound's poster. It is a tip for the
    grid member to check; nobody is registered as a person from it without that check. The ID
    number and phone are sealed like a person's, shown masked."""

    tip = models.OneToOneField(Tip, on_delete=models.PROTECT, related_name="self_registration")
    name = models.CharField(_("name"), max_length=50)
    id_number_sealed = models.BinaryField(editable=False)
    id_number_hash = models.CharField(max_length=64, db_index=True, editable=False)
    id_number_masked = models.CharField(_("ID number"), max_length=18, editable=False)
    phone_sealed = models.BinaryField(editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, editable=False)
    origin_detail = models.CharField(_("coming from (city, county)"), max_length=100, blank=True)
    arrival_date = models.DateField(_("arrival date"))
    address = models.CharField(_("household address and room"), max_length=200)

    objects = SelfRegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("self-registration")

    def __str__(self) -> str:
        return self.name


class KeyPerson(models.Model):
    """重点人员: one person of a tip, moving from report to control."""

    tip = models.ForeignKey(Tip, on_delete=models.PROTECT, related_name="key_persons")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="key_person_records")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=16, choices=KeyPersonStatus.choices, default=KeyPersonStatus.REPORTED
    )
    assessed_at = models.DateTimeField(null=True, blank=True)
    assessment = models.CharField(_("assessment"), max_length=200, blank=True)
    controlled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = KEY_PERSON_TRANSITIONS
    STATUS_STAMPS = KEY_PERSON_STAMPS
    AUDIT_PREFIX = "key_person"
    AFFECTS_HEALTH_CODE = True
    AUDIT_ALSO = ("person",)

    class Meta:
        verbose_name = _("key person")
        constraints = [
            models.UniqueConstraint(fields=["tip", "person"], name="key_person_once_per_tip"),
            *stamp_constraints("key_person", KEY_PERSON_STAMPS),
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.get_status_display()})"


class ControlRule(models.Model):
    """管控期限: how long an order of a kind lasts for a reason; changed by staff, not code."""

    kind = models.CharField(_("measure"), max_length=24, choices=OrderKind.choices)
    reason = models.CharField(
        _("reason"), max_length=24, choices=OrderReason.choices, blank=True, help_text=_("empty: any reason")
    )
    days = models.PositiveSmallIntegerField(_("days"))
    requires_negative_test = models.BooleanField(_("release needs a negative test"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("control rule")
        constraints = [models.UniqueConstraint(fields=["kind", "reason"], name="control_rule_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.days}d"


class ControlOrderQuerySet(GridScopedQuerySet):
    def open(self):
        return self.filter(status__in=[OrderStatus.ACTIVE, OrderStatus.RELEASE_PROPOSED])


class ControlOrder(models.Model):
    """管控令: one control measure on one person, moved only by the transition services."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="control_orders")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("measure"), max_length=24, choices=OrderKind.choices)
    reason = models.CharField(_("reason"), max_length=24, choices=OrderReason.choices)
    status = models.CharField(_("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.ACTIVE)
    site = models.CharField(_("site"), max_length=100, blank=True)
    transport = models.CharField(_("transport"), max_length=100, blank=True)
    starts_at = models.DateTimeField(_("starts"))
    last_exposure_at = models.DateTimeField(_("last exposure"), null=True, blank=True)
    days = models.PositiveSmallIntegerField(_("days"))
    ends_at = models.DateTimeField(_("ends"))
    requires_negative_test = models.BooleanField(default=False)
    key_person = models.ForeignKey(KeyPerson, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    previous = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="next")
    release_proposed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    transferred_at = models.DateTimeField(null=True, blank=True)
    # Empty when the system made it (a close contact's order at a confirmation).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ControlOrderQuerySet.as_manager()

    TRANSITIONS = ORDER_TRANSITIONS
    STATUS_STAMPS = ORDER_STAMPS
    AUDIT_PREFIX = "control_order"
    AFFECTS_HEALTH_CODE = True
    AUDIT_ALSO = ("person",)

    class Meta:
        verbose_name = _("control order")
        constraints = [
            # One open order per person at a time: a change of measure is a transfer.
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(status__in=["active", "release_proposed"]),
                name="one_open_order_per_person",
            ),
            models.CheckConstraint(condition=Q(ends_at__gte=models.F("starts_at")), name="order_ends_after_start"),
            *stamp_constraints("order", ORDER_STAMPS),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="order_status_end_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.person}"


class HouseholdTeam(models.Model):
    """一户一专班: the team dedicated to one controlled household."""

    household = models.OneToOneField("people.Household", on_delete=models.PROTECT, related_name="team")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("household team")

    def __str__(self) -> str:
        return f"{self.household} team"


class TeamMember(models.Model):
    """A member of a household team in one role; ended, never deleted."""

    team = models.ForeignKey(HouseholdTeam, on_delete=models.PROTECT, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="team_memberships")
    role = models.CharField(_("role"), max_length=16, choices=TeamRole.choices)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("team member")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user", "role"], condition=Q(ended_at__isnull=True), name="team_member_unique_active"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"
