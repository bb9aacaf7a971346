from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet

from .choices import Relationship, Sex


class Household(models.Model):
    """户: a household at an address, in a building or compound grid."""

    grid = models.ForeignKey(
        "grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="households"
    )
    number = models.CharField(_("household number"), max_length=32)
    address = models.CharField(_("address"), max_length=200)
    import_batch = models.ForeignKey(
        "core.ImportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="households"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("household")
        constraints = [
            models.UniqueConstraint(
                fields=["grid", "number"], condition=Q(archived_at__isnull=True), name="household_number_unique"
            )
        ]

    def __str__(self) -> str:
        return self.address


# What an erased person's name reads (docs/architecture.md "Retention and erasure").
ERASED_NAME = "（已删除）"


class PersonQuerySet(GridScopedQuerySet):
    def current(self):
        return self.filter(archived_at__isnull=True)


class Person(models.Model):
    """人员 (一人一档): a resident or anyone who needs watching; archived, never deleted.

    The ID number, birth date and phone are stored sealed (AES-GCM), the ID number and phone
    found by a keyed hash and shown in their masked form; the plain value is only ever produced
    by `people.services.person_reveal`. The birth date is sealed too: the mask hides exactly the
    ID number's 8 birth digits, so a visible birth date would complete it. Only the birth year
    is kept in clear (ages, sorting): with the masked ID it still leaves month and day unknown.
    """

    name = models.CharField(_("name"), max_length=50)
    name_pinyin = models.CharField(max_length=200, blank=True, db_index=True)
    name_initials = models.CharField(max_length=50, blank=True, db_index=True)
    id_number_sealed = models.BinaryField(editable=False)
    id_number_hash = models.CharField(max_length=64, editable=False)
    id_number_masked = models.CharField(_("ID number"), max_length=18, editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_year = models.PositiveSmallIntegerField(_("birth year"))
    birth_date_sealed = models.BinaryField(editable=False)
    phone_sealed = models.BinaryField(null=True, blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True, editable=False)
    household = models.ForeignKey(
        Household,
        verbose_name=_("household"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    relationship = models.CharField(_("relationship to head"), max_length=16, choices=Relationship.choices, blank=True)
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="persons")
    note = models.CharField(_("note"), max_length=200, blank=True)
    import_batch = models.ForeignKey(
        "core.ImportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="persons"
    )
    import_row = models.PositiveIntegerField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Erased when the retention ended (oversight.retention): the row stays, anonymised.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PersonQuerySet.as_manager()

    class Meta:
        verbose_name = _("person")
        # Hashes are only ever compared for equality: a constraint and a plain index, not the
        # extra pattern index `unique=True`/`db_index=True` add on PostgreSQL (slower imports).
        constraints = [models.UniqueConstraint(fields=["id_number_hash"], name="person_id_number_unique")]
        indexes = [
            models.Index(fields=["phone_hash"], name="person_phone_idx"),
            # Current persons by grid: subtree lists and counts read only this (bench: 350 → 9 ms).
            models.Index(fields=["grid", "id"], condition=Q(archived_at__isnull=True), name="person_current_grid_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def age(self) -> int:
        """The age reached this calendar year: from the birth year only, so it changes for
        everybody on 1 January and never gives away the birthday."""
        return timezone.localdate().year - self.birth_year
