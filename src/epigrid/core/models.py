from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .scoping import GridScopedQuerySet
from .uploads import private_storage


class ImportKind(models.TextChoices):
    RESIDENTS = "residents", _("Residents and households")
    PLACES = "places", _("Places")


class ImportStatus(models.TextChoices):
    COMMITTED = "committed", _("Imported")
    REJECTED = "rejected", _("Rejected, nothing written")


class AuditEvent(models.Model):
    """审计日志: one append-only, hash-chained record of a change or an access."""

    # Ids are assigned by the chain (head.last_id + 1), so a gap means a deleted row.
    id = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    grid_path = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=36, blank=True)
    channel = models.CharField(max_length=16, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # The version of the audit key (settings.AUDIT_KEYS) the hash is an HMAC with; 0: the plain
    # sha256 of the rows written before the chain was keyed.
    key_version = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("audit event")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The chain's newest id and hash: locked by every writer, so appends are serial and a
    deleted tail is detected."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    # Rows up to this id were written before the chain was keyed (key version 0); any later
    # unkeyed row is a forgery. Set once by migration 0005, fixed by trigger since.
    unkeyed_through = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"audit head #{self.last_id}"


class ImportBatch(models.Model):
    """台账导入: one uploaded ledger file and what became of it (all rows or none)."""

    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    status = models.CharField(_("status"), max_length=16, choices=ImportStatus.choices)
    file_name = models.CharField(_("file"), max_length=200)
    file_sha256 = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(default=list, blank=True)
    scope_path = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


class OutboxQuerySet(GridScopedQuerySet):
    grid_path_lookups = ("grid_path",)


class OutboxMessage(models.Model):
    """A hand-off written in the same transaction as the change that calls for it, and carried
    out afterwards by a worker (work that calls out or is heavy). Never deleted: done or not,
    it says what was handed off, when, and how it went; `epigrid reconcile` finishes late ones."""

    topic = models.CharField(max_length=64)
    # Where the change happened, so the coverage audit shows a late hand-off to those in charge there.
    grid_path = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict)
    # Retrying a hand-off must not do it twice: one message per topic and key.
    key = models.CharField(max_length=128)
    principal = models.CharField(max_length=64)
    caused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        verbose_name = _("hand-off")
        constraints = [models.UniqueConstraint(fields=["topic", "key"], name="outbox_topic_key_unique")]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(done_at__isnull=True), name="outbox_pending_idx")
        ]

    def __str__(self) -> str:
        return f"{self.topic}:{self.key}"


class AccessQuerySet(GridScopedQuerySet):
    grid_path_lookups = ("grid_path",)


class AccessEvent(models.Model):
    """查阅记录: one read of a person's or a household's file (who, when, from where, which file).

    Lighter than the audit log: no hash chain (one plain INSERT per read), and never a personal
    value (no name, ID number, phone, query string: the object's id only). Append-only by
    trigger; a row is deleted only once older than the retention (settings.ACCESS_LOG_DAYS, at
    least six months), by `core.access.access_log_purge` in the sweep."""

    at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    # Where the file was when it was read: who may read the access log there sees the row.
    grid_path = models.CharField(max_length=255, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=36, blank=True)
    channel = models.CharField(max_length=16, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        verbose_name = _("file access")
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"], name="access_object_idx"),
            models.Index(fields=["grid_path", "at"], name="access_grid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_label}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


JOB_TRANSITIONS = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED},
    JobStatus.RUNNING: {JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED},
    JobStatus.DONE: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELLED: set(),
}
JOB_STAMPS = {
    JobStatus.RUNNING: "started_at",
    JobStatus.DONE: "finished_at",
    JobStatus.FAILED: "finished_at",
    JobStatus.CANCELLED: "finished_at",
}


class JobQuerySet(GridScopedQuerySet):
    grid_path_lookups = ("grid_path",)

    def visible_to(self, principal):
        """A user's own jobs, and those of the subtrees where they may read the audit log (the
        inspector, the community secretary): core.jobs.job_list / job_get."""
        from .capabilities import Capability

        own = self.filter(created_by_id=principal.pk) if getattr(principal, "pk", None) else self.none()
        if not getattr(principal, "is_authenticated", False) or not principal.is_active:
            return self.none()
        return own | self.restrict(principal, Capability.VIEW_AUDIT)


class _Place:
    """What core.transitions reads as `obj.grid.path` (the job's audit rows are filed there)."""

    def __init__(self, path: str):
        self.path = path


class Job(models.Model):
    """后台任务: heavy work (a ledger import) run off the request by a worker, followed on its page
    and through /api/v1/jobs. Who started it, what (kind and params), how far (rows checked and
    written of the total), how it ended (the result, or the error), the uploaded file until it
    is done (then deleted: it holds personal data), and the file it made (an export) until it expires."""

    TRANSITIONS = JOB_TRANSITIONS
    STATUS_STAMPS = JOB_STAMPS
    AUDIT_PREFIX = "job"

    kind = models.CharField(_("kind"), max_length=32)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Where the work acts (the subtree of the starter's right): who reads the audit log there sees it.
    grid_path = models.CharField(max_length=255, blank=True)
    upload = models.FileField(storage=private_storage, upload_to="jobs/", blank=True)
    # What a job made for its starter to download (an export): kept until `result_expires_at`,
    # then deleted by the sweep (it holds personal data); the expiry stays to say so.
    result_file = models.FileField(storage=private_storage, upload_to="job_results/", blank=True, max_length=255)
    result_expires_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    rows_checked = models.PositiveIntegerField(_("rows checked"), default=0)
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.JSONField(default=dict, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("background job")
        indexes = [models.Index(fields=["created_by", "created_at"], name="job_owner_idx")]
        # core.transitions.stamp_constraints("job", JOB_STAMPS), written out (transitions imports
        # the audit log, which imports these models).
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status=status) | models.Q(**{f"{stamp}__isnull": False}),
                name=f"job_{status}_stamped",
            )
            for status, stamp in JOB_STAMPS.items()
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} ({self.status})"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("jobs:detail", args=[self.pk])

    @property
    def grid(self) -> _Place:
        return _Place(self.grid_path)

    @property
    def finished(self) -> bool:
        return not JOB_TRANSITIONS[self.status]

    @property
    def result_expired(self) -> bool:
        """A file was made and is gone: expired (the sweep deleted it) or past its time."""
        from django.utils import timezone

        if self.result_expires_at is None:
            return False
        return not self.result_file or self.result_expires_at <= timezone.now()

    @property
    def result_ready(self) -> bool:
        return self.status == JobStatus.DONE and bool(self.result_file) and not self.result_expired

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, round(100 * (self.rows_checked + self.rows_written) / (2 * self.rows_total)))


class PersonKey(models.Model):
    """A person's own key (crypto-shredding, docs/architecture.md "Retention and erasure"): the
    personal values and free-text notes of audit rows about the person are sealed with it
    (core/shred.py), and the key itself is sealed with the field key. Deleting the row when the
    person is erased makes those values unreadable for good, while the chain, which hashes the
    sealed bytes, still verifies. By the person's id, not a foreign key: core sits below people."""

    person_id = models.BigIntegerField(primary_key=True)
    key_sealed = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("person key")

    def __str__(self) -> str:
        return f"key of person {self.person_id}"
