import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import EVERYWHERE, VIEW, GridScopedQuerySet, grant_paths
from epigrid.core.transitions import stamp_constraints
from epigrid.grids.models import lineage_paths

from .choices import (
    CASE_STAMPS,
    CASE_TRANSITIONS,
    CaseStatus,
    Conclusion,
    ReportSource,
    SampleResult,
    StaffContactKind,
)


def default_slots() -> list[str]:
    return ["08:00", "12:00", "16:00", "20:00"]


class MonitoringPolicy(models.Model):
    """一天四报体温: the daily report slots, their window and the fever threshold (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    slot_times = models.JSONField(_("report times"), default=default_slots)
    window_minutes = models.PositiveSmallIntegerField(_("window (± minutes)"), default=90)
    fever_threshold = models.DecimalField(_("fever from (°C)"), max_digits=3, decimal_places=1, default=Decimal("37.3"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("monitoring policy")

    def __str__(self) -> str:
        return "monitoring policy"

    def slot_starts(self) -> list[dt.time]:
        return [dt.time.fromisoformat(t) for t in self.slot_times]


class ResidentLink(models.Model):
    """A resident's personal report link (no account): the token is sealed, found by its hash."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="report_links")
    token_hash = models.CharField(max_length=64, unique=True)
    token_sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("personal report link")
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=Q(revoked_at__isnull=True), name="one_active_link_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"link of {self.person_id}"


class TemperatureReport(models.Model):
    """体温: one reading, in a daily slot (or outside any), from the resident, liaison, gate or device."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="temperatures")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    value = models.DecimalField(_("temperature (°C)"), max_digits=3, decimal_places=1)
    is_fever = models.BooleanField(_("fever"), default=False)
    measured_at = models.DateTimeField(_("measured at (device time)"))
    received_at = models.DateTimeField(_("received at (server time)"))
    local_date = models.DateField(_("day"))
    slot = models.PositiveSmallIntegerField(_("slot"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=ReportSource.choices)
    client_id = models.UUIDField()
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("temperature report")
        # Partitioned by month of `local_date` on PostgreSQL (core/partitions.py): a unique
        # constraint there must hold the key. A resend has the same day; the batch also looks
        # for the client id on any day before storing.
        constraints = [models.UniqueConstraint(fields=["client_id", "local_date"], name="temp_client_id_day_unique")]
        indexes = [
            models.Index(fields=["person", "local_date", "slot"], name="temp_person_day_idx"),
            models.Index(fields=["local_date", "slot"], name="temp_day_slot_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.value} °C"


class StaffContact(models.Model):
    """走访/联系: a staff member's contact with a person at a time (a home visit, a phone or video
    call), with a short note. The omission checks compare the readings staff report with these."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="staff_contacts")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=8, choices=StaffContactKind.choices)
    at = models.DateTimeField(_("at"))
    local_date = models.DateField(_("day"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("staff contact")
        indexes = [models.Index(fields=["person", "local_date"], name="staff_contact_person_day_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"


class TestListQuerySet(GridScopedQuerySet):
    def restrict(self, principal, capability: str = VIEW):
        """A list is seen from inside its grid and by those below it: a community-wide list is
        worked by each grid member for their own people (entries are scoped by person)."""
        paths = grant_paths(principal, capability)
        if paths is EVERYWHERE or capability != VIEW:
            return super().restrict(principal, capability)
        ancestors = {a for p in paths for a in lineage_paths(p)}
        return (super().restrict(principal, capability) | self.filter(grid__path__in=ancestors)).distinct()


class TestList(models.Model):
    """核酸检测名单: who is to be sampled (e.g. 建新街道核酸测试名单, 2月1日)."""

    name = models.CharField(_("name"), max_length=100)
    test_date = models.DateField(_("date"))
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    persons = models.ManyToManyField("people.Person", through="TestListEntry", related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TestListQuerySet.as_manager()

    class Meta:
        verbose_name = _("test list")

    def __str__(self) -> str:
        return self.name


class TestListEntry(models.Model):
    """One person on a test list."""

    test_list = models.ForeignKey(TestList, on_delete=models.PROTECT, related_name="entries")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="test_list_entries")

    class Meta:
        verbose_name = _("test list entry")
        constraints = [models.UniqueConstraint(fields=["test_list", "person"], name="test_list_person_once")]

    def __str__(self) -> str:
        return f"{self.test_list_id}:{self.person_id}"


class Sample(models.Model):
    """采样: one specimen; its result comes once, from the CDC or a lab (idempotent by number)."""

    specimen_number = models.CharField(_("specimen number"), max_length=40, unique=True)
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="samples")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    test_list = models.ForeignKey(TestList, on_delete=models.PROTECT, null=True, blank=True, related_name="samples")
    sampled_at = models.DateTimeField(_("sampled at"))
    sampled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    result = models.CharField(_("result"), max_length=8, choices=SampleResult.choices, default=SampleResult.PENDING)
    result_at = models.DateTimeField(_("result at"), null=True, blank=True)
    lab = models.CharField(_("laboratory"), max_length=100, blank=True)
    result_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("sample")

    def __str__(self) -> str:
        return self.specimen_number


class Case(models.Model):
    """病例: a person with a positive result, suspected until an expert consultation decides."""

    person = models.OneToOneField("people.Person", on_delete=models.PROTECT, related_name="case")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=CaseStatus.choices)
    positive_sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="+")
    suspected_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    excluded_at = models.DateTimeField(null=True, blank=True)

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = CASE_TRANSITIONS
    STATUS_STAMPS = CASE_STAMPS
    AUDIT_PREFIX = "case"
    AFFECTS_HEALTH_CODE = True
    AUDIT_ALSO = ("person",)

    class Meta:
        verbose_name = _("case")
        # suspected_at is NOT NULL anyway.
        constraints = stamp_constraints("case", {k: v for k, v in CASE_STAMPS.items() if k != CaseStatus.SUSPECTED})

    def __str__(self) -> str:
        return f"{self.person} ({self.get_status_display()})"


class ExpertConsultation(models.Model):
    """专家会诊: the record a confirmation requires."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="consultations")
    held_at = models.DateTimeField(_("held at"))
    experts = models.CharField(_("experts"), max_length=200)
    conclusion = models.CharField(_("conclusion"), max_length=12, choices=Conclusion.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("expert consultation")

    def __str__(self) -> str:
        return f"{self.get_conclusion_display()} {self.held_at:%Y-%m-%d}"


class CodeFacts(models.Model):
    """What a person's health code is derived from (open case, open control orders, pending key
    person report), kept current by the services that change those facts (`health.codes`), so
    that a gate reads a household's codes with its members in one query instead of recomputing
    them per member per scan. The colour itself is derived on reading, from the current rules."""

    person = models.OneToOneField(
        "people.Person", primary_key=True, on_delete=models.CASCADE, related_name="code_facts"
    )
    facts = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("health code facts")

    def __str__(self) -> str:
        return f"{self.person_id}: {', '.join(self.facts) or '-'}"
