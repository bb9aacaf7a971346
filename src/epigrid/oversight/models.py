"""Inspections (督查): rounds over grid nodes with a checklist, findings per item, and
rectification orders an owner answers with evidence and an inspector closes."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.transitions import stamp_constraints
from epigrid.core.uploads import private_storage

from .choices import (
    OMISSION_STAMPS,
    OMISSION_TRANSITIONS,
    RECTIFICATION_STAMPS,
    RECTIFICATION_TRANSITIONS,
    REPORT_STAMPS,
    REPORT_TRANSITIONS,
    OmissionKind,
    OmissionStatus,
    RectificationStatus,
    ReportStatus,
    RoundStatus,
    VerificationOutcome,
)


class Checklist(models.Model):
    """A checklist template, usable for rounds in its grid's subtree. Rounds copy its items when
    planned, so editing a template never changes a round already planned or done."""

    name = models.CharField(_("name"), max_length=100)
    items = models.JSONField(_("items"), default=list)
    # None: a template for every grid (the default one); else for rounds in this grid's subtree.
    grid = models.ForeignKey(
        "grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("checklist")

    def __str__(self) -> str:
        return self.name


class InspectionRound(models.Model):
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    checklist = models.ForeignKey(Checklist, verbose_name=_("checklist"), on_delete=models.PROTECT, related_name="+")
    items = models.JSONField(default=list)  # the checklist's items when the round was planned
    planned_for = models.DateField(_("date"))
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("inspector"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=12, choices=RoundStatus.choices, default=RoundStatus.PLANNED)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)  # % of items passed
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = GridScopedQuerySet.as_manager()

    AUDIT_PREFIX = "inspection"

    class Meta:
        verbose_name = _("inspection round")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status=RoundStatus.COMPLETED, completed_at__isnull=False, score__isnull=False)
                | models.Q(status=RoundStatus.PLANNED, completed_at__isnull=True, score__isnull=True),
                name="inspection_completed_iff_stamped",
            )
        ]

    def __str__(self) -> str:
        return f"{self.grid} {self.planned_for}"


class Finding(models.Model):
    inspection = models.ForeignKey(InspectionRound, on_delete=models.PROTECT, related_name="findings")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the round's
    item = models.PositiveSmallIntegerField()  # index into the round's items
    passed = models.BooleanField(_("passed"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    photo = models.FileField(upload_to="inspections/%Y/%m/", storage=private_storage, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("finding")
        constraints = [models.UniqueConstraint(fields=["inspection", "item"], name="finding_once_per_item")]

    def __str__(self) -> str:
        return f"{self.item_text}: {'✓' if self.passed else '✗'}"

    @property
    def item_text(self) -> str:
        items = self.inspection.items
        return items[self.item] if self.item < len(items) else ""


class Rectification(models.Model):
    """整改: what a failed finding asks of its owner, by a deadline."""

    finding = models.OneToOneField(Finding, on_delete=models.PROTECT, related_name="rectification")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="rectifications"
    )
    request = models.CharField(_("what to rectify"), max_length=300)
    due_at = models.DateTimeField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=12, choices=RectificationStatus.choices, default=RectificationStatus.OPEN
    )
    answer = models.CharField(_("answer"), max_length=300, blank=True)
    answer_photo = models.FileField(upload_to="inspections/%Y/%m/", storage=private_storage, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    recheck_note = models.CharField(_("re-check note"), max_length=300, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = RECTIFICATION_TRANSITIONS
    STATUS_STAMPS = RECTIFICATION_STAMPS
    AUDIT_PREFIX = "rectification"

    class Meta:
        verbose_name = _("rectification")
        constraints = [
            *stamp_constraints("rectification", {RectificationStatus.ANSWERED: "answered_at"}),
            *stamp_constraints("rectification", {RectificationStatus.CLOSED: "closed_at"}, only=True),
        ]

    def __str__(self) -> str:
        return self.request


# ---------------------------------------------------------------- the dashboard's rollup


class NodeFigure(models.Model):
    """A current figure of a grid node's whole subtree (persons under home quarantine, open
    alerts…), kept by the rollup sweep so the dashboard reads a few rows, not a million."""

    node = models.ForeignKey("grids.GridNode", on_delete=models.CASCADE, related_name="+")
    figure = models.CharField(_("figure"), max_length=48)
    value = models.IntegerField(_("value"))
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("node figure")
        constraints = [models.UniqueConstraint(fields=["node", "figure"], name="node_figure_unique")]

    def __str__(self) -> str:
        return f"{self.figure}={self.value}"


class NodeDay(models.Model):
    """A figure of a grid node's subtree on one day (cases confirmed, orders started…): the
    series behind the dashboard's charts."""

    node = models.ForeignKey("grids.GridNode", on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    figure = models.CharField(_("figure"), max_length=48)
    value = models.IntegerField(_("value"))

    class Meta:
        verbose_name = _("node day")
        constraints = [models.UniqueConstraint(fields=["node", "figure", "day"], name="node_day_unique")]
        indexes = [models.Index(fields=["node", "day"], name="node_day_node_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.figure}={self.value}"


class Threshold(models.Model):
    """A figure's alarm level: the children table shows a node red at or above it (set by those
    who set the rules)."""

    figure = models.CharField(_("figure"), max_length=48, unique=True)
    value = models.PositiveIntegerField(_("red from"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("dashboard threshold")

    def __str__(self) -> str:
        return f"{self.figure} ≥ {self.value}"


class DailyReport(models.Model):
    """日报: a node's day (a compound grid, a community, the subdistrict), drafted by the system
    at the set hour, reviewed and signed by the node's responsible person by the deadline. A
    grid's figures come from the rollup; a community's and the subdistrict's are the sums of
    their children's signed reports (`missing` names the children not signed when it was)."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    day = models.DateField(_("day"))
    status = models.CharField(_("status"), max_length=8, choices=ReportStatus.choices, default=ReportStatus.DRAFT)
    figures = models.JSONField(_("figures"), default=dict)
    missing = models.JSONField(_("children not reported"), default=list)
    remarks = models.TextField(_("remarks"), blank=True, max_length=2000)
    drafted_at = models.DateTimeField(_("drafted"))
    due_at = models.DateTimeField(_("to sign by"))
    signed_at = models.DateTimeField(_("signed"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    late_at = models.DateTimeField(_("reported late"), null=True, blank=True)

    objects = GridScopedQuerySet.as_manager()
    TRANSITIONS = REPORT_TRANSITIONS
    STATUS_STAMPS = REPORT_STAMPS
    AUDIT_PREFIX = "daily_report"

    class Meta:
        verbose_name = _("daily report")
        constraints = [
            models.UniqueConstraint(fields=["grid", "day"], name="daily_report_one_per_day"),
            *stamp_constraints("daily_report", REPORT_STAMPS),
        ]
        indexes = [models.Index(fields=["day", "status"], name="daily_report_day_status")]

    def __str__(self) -> str:
        return f"{self.grid} {self.day}"


class VerificationList(models.Model):
    """核查名单: a list pushed from above (persons who arrived from risk areas, found by big-data
    screening…), imported at a node; each row is matched to a resident by keyed hash."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    source = models.CharField(_("pushed by"), max_length=100, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField(_("verify by"))
    rows = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("verification list")

    def __str__(self) -> str:
        return self.name


class VerificationEntry(models.Model):
    """One row of a list: matched to a resident (then a task of their grid's member) or not (then
    the community places it in a grid). Only the masked ID and phone are kept, and the hashes."""

    verification_list = models.ForeignKey(VerificationList, on_delete=models.PROTECT, related_name="entries")
    row = models.PositiveIntegerField(_("row"))
    name = models.CharField(_("name"), max_length=50, blank=True)
    id_number_hash = models.CharField(max_length=64, blank=True, db_index=True)
    id_number_masked = models.CharField(_("ID number"), max_length=18, blank=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The matched person's grid, or the list's node until the community places the row.
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("to verify by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=VerificationOutcome.choices, default=VerificationOutcome.PENDING
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    outcome_at = models.DateTimeField(_("verified"), null=True, blank=True)
    outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("verification entry")
        constraints = [
            models.UniqueConstraint(fields=["verification_list", "row"], name="verification_row_unique"),
            models.CheckConstraint(
                condition=models.Q(outcome="pending", outcome_at__isnull=True)
                | (~models.Q(outcome="pending") & models.Q(outcome_at__isnull=False)),
                name="verification_outcome_stamped",
            ),
        ]
        indexes = [models.Index(fields=["owner", "outcome"], name="verification_owner_outcome")]

    def __str__(self) -> str:
        return f"{self.verification_list} #{self.row}"


class OmissionFinding(models.Model):
    """A sign of an omission or concealment (漏报/瞒报) found by a check, with its evidence, for an
    inspector to review — never an automatic punishment. One per check and subject (dedup_key)."""

    kind = models.CharField(_("kind"), max_length=32, choices=OmissionKind.choices)
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    evidence = models.JSONField(_("evidence"), default=dict)
    dedup_key = models.CharField(max_length=120, unique=True)
    found_at = models.DateTimeField(_("found"))
    status = models.CharField(_("status"), max_length=12, choices=OmissionStatus.choices, default=OmissionStatus.OPEN)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_note = models.CharField(_("review"), max_length=300, blank=True)

    objects = GridScopedQuerySet.as_manager()
    TRANSITIONS = OMISSION_TRANSITIONS
    STATUS_STAMPS = OMISSION_STAMPS
    AUDIT_PREFIX = "omission"

    class Meta:
        verbose_name = _("omission finding")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="open", reviewed_at__isnull=True)
                | (~models.Q(status="open") & models.Q(reviewed_at__isnull=False)),
                name="omission_reviewed_stamped",
            )
        ]
        indexes = [models.Index(fields=["status", "kind"], name="omission_status_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.grid}"
