from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet

from .choices import SINGLE_ROLES, BranchRole, MemberRole, OrgKind, SiteKind


class ActiveQuerySet(GridScopedQuerySet):
    """Rows of the chain are ended, never deleted: the chain as it was stays readable."""

    end_field = "ended_at"

    def active(self):
        return self.filter(**{f"{self.end_field}__isnull": True})


class OrgQuerySet(ActiveQuerySet):
    end_field = "dissolved_at"


class PartyOrg(models.Model):
    """A party organisation of the chain, tied to the grid node it covers: 街道党工委 → the
    subdistrict, 社区党委 → a community, 网格党支部 → a compound grid, 楼院党小组 → a building
    (and perhaps its neighbours, `also_covers`). Its place in the chain is its node's place in
    the grid tree."""

    kind = models.CharField(_("kind"), max_length=24, choices=OrgKind.choices)
    name = models.CharField(_("name"), max_length=100)
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    also_covers = models.ManyToManyField("grids.GridNode", verbose_name=_("also covers"), blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    dissolved_at = models.DateTimeField(null=True, blank=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        verbose_name = _("party organisation")
        constraints = [
            models.UniqueConstraint(
                fields=["grid"], condition=Q(dissolved_at__isnull=True), name="party_org_one_per_grid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class PartyMember(models.Model):
    """A person's role as a party member: in which organisation, since when, in which office.
    The phone is the person file's (masked there)."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="party_memberships")
    org = models.ForeignKey(PartyOrg, on_delete=models.PROTECT, related_name="members")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the org's
    role = models.CharField(_("office"), max_length=20, choices=MemberRole.choices, default=MemberRole.MEMBER)
    since = models.DateField(_("since"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        verbose_name = _("party member")
        constraints = [
            # A member's organisational relation (组织关系) is in one organisation at a time.
            models.UniqueConstraint(fields=["person"], condition=Q(ended_at__isnull=True), name="party_member_one_org"),
            models.UniqueConstraint(
                fields=["org", "role"],
                condition=Q(ended_at__isnull=True, role__in=list(SINGLE_ROLES)),
                name="party_org_one_secretary",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person.name} · {self.get_role_display()}"


class CentralHousehold(models.Model):
    """党员中心户: a party member's household that looks after the neighbouring households
    assigned to it (typically 5–15)."""

    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(PartyMember, on_delete=models.PROTECT, related_name="central_households")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the household's
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        verbose_name = _("party member central household")
        constraints = [
            models.UniqueConstraint(
                fields=["household"], condition=Q(ended_at__isnull=True), name="central_household_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.household} ({self.member.person.name})"


class LookedAfter(models.Model):
    """A household assigned to a 党员中心户: the last link of the chain (居民户)."""

    central = models.ForeignKey(CentralHousehold, on_delete=models.PROTECT, related_name="links")
    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the household's
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        verbose_name = _("household looked after")
        constraints = [
            models.UniqueConstraint(fields=["household"], condition=Q(ended_at__isnull=True), name="looked_after_once")
        ]

    def __str__(self) -> str:
        return str(self.household)


class TemporaryBranch(models.Model):
    """临时党支部: set up at a checkpoint, a compound or a road section for an emergency, opened
    and closed with dates. A checkpoint is named as the gates app knows it, by its compound and
    name (the pair is unique there); a road section by the community (or subdistrict) it runs
    through and its description."""

    name = models.CharField(_("name"), max_length=100)
    site_kind = models.CharField(_("set up at"), max_length=16, choices=SiteKind.choices)
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    site = models.CharField(_("site"), max_length=100, blank=True)
    reason = models.CharField(_("emergency"), max_length=200, blank=True)
    opened_on = models.DateField(_("opened on"))
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("temporary party branch")
        constraints = [
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=models.F("opened_on")),
                name="temporary_branch_closes_after_opening",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TemporaryBranchMember(models.Model):
    """A seat in a temporary branch: a staff account (the community secretary, a grid head, a
    building head) or a person on file (a party member of a registered unit, a party volunteer)."""

    branch = models.ForeignKey(TemporaryBranch, on_delete=models.PROTECT, related_name="members")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the branch's
    role = models.CharField(_("role"), max_length=16, choices=BranchRole.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        verbose_name = _("temporary branch member")
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True, person__isnull=False) | Q(user__isnull=False, person__isnull=True),
                name="temporary_member_user_or_person",
            ),
            models.UniqueConstraint(
                fields=["branch"],
                condition=Q(ended_at__isnull=True, role="secretary"),
                name="temporary_branch_one_secretary",
            ),
            models.UniqueConstraint(
                fields=["branch", "user"], condition=Q(ended_at__isnull=True), name="temporary_member_user_once"
            ),
            models.UniqueConstraint(
                fields=["branch", "person"], condition=Q(ended_at__isnull=True), name="temporary_member_person_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} · {self.get_role_display()}"

    @property
    def display_name(self) -> str:
        return self.person.name if self.person_id else (self.user.full_name or self.user.username)
