from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from epigrid.core.scoping import GridScopedQuerySet
from epigrid.core.transitions import stamp_constraints
from epigrid.core.uploads import private_storage

from .choices import (
    FOLLOWUP_STAMPS,
    FOLLOWUP_TRANSITIONS,
    SINGLE_ROLES,
    VOLUNTEER_STAMPS,
    VOLUNTEER_TRANSITIONS,
    WISH_STAMPS,
    WISH_TRANSITIONS,
    AssignmentKind,
    BranchRole,
    CampaignTarget,
    Channel,
    FollowUpKind,
    FollowUpStatus,
    MaterialKind,
    MemberRole,
    NoticeAudience,
    NoticeScope,
    OrgKind,
    ShiftKind,
    SiteKind,
    UnitKind,
    VolunteerSource,
    VolunteerStatus,
    WishSource,
    WishStatus,
)


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
    # A party member of a unit registered with the community (双报到), sent to this branch.
    unit_member = models.ForeignKey("UnitMember", on_delete=models.PROTECT, null=True, blank=True, related_name="seats")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        verbose_name = _("temporary branch member")
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True, person__isnull=False, unit_member__isnull=True)
                | Q(user__isnull=False, person__isnull=True, unit_member__isnull=True)
                | Q(user__isnull=True, person__isnull=True, unit_member__isnull=False, role="unit_member"),
                name="temporary_member_user_person_or_unit_member",
            ),
            models.UniqueConstraint(
                fields=["branch", "unit_member"],
                condition=Q(ended_at__isnull=True),
                name="temporary_member_unit_member_once",
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
        if self.unit_member_id:
            return f"{self.unit_member.name}（{self.unit_member.unit.name}）"
        return self.person.name if self.person_id else (self.user.full_name or self.user.username)


# ---------------------------------------------------------------- volunteers (泉心愿 and the teams)


class VolunteerTeam(models.Model):
    """A community's volunteer team (红色管家, 爱邻联盟, …: the names are data)."""

    name = models.CharField(_("name"), max_length=50)
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+")
    description = models.CharField(_("what it does"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("volunteer team")
        constraints = [models.UniqueConstraint(fields=["grid", "name"], name="volunteer_team_name_once")]

    def __str__(self) -> str:
        return self.name


class Volunteer(models.Model):
    """A volunteer of a community: a resident on file (`person`, perhaps a registered party
    member) or someone who signed up by the community's QR (name and phone only, sealed like a
    person's). Pending until the community verifies them; only an approved volunteer is given
    duties (a wish to claim)."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(
        VolunteerTeam, verbose_name=_("team"), on_delete=models.PROTECT, null=True, blank=True, related_name="members"
    )
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    name = models.CharField(_("name"), max_length=50)
    phone_sealed = models.BinaryField(editable=False, null=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    skills = models.CharField(_("skills"), max_length=200, blank=True)
    availability = models.CharField(_("availability"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=12, choices=VolunteerSource.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=VolunteerStatus.choices, default=VolunteerStatus.PENDING
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    # The volunteer's own link (no account): the wishes of the community to claim on a phone.
    # Only its hash is looked up; the sealed token lets the community show it again.
    link_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    link_sealed = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = VOLUNTEER_TRANSITIONS
    STATUS_STAMPS = VOLUNTEER_STAMPS
    AUDIT_PREFIX = "volunteer"

    class Meta:
        verbose_name = _("volunteer")
        constraints = [
            *stamp_constraints("volunteer", {VolunteerStatus.APPROVED: "decided_at"}),
            *stamp_constraints("volunteer", {VolunteerStatus.REFUSED: "decided_at"}),
            # A resident is one volunteer of a community (a refused one may be registered again).
            models.UniqueConstraint(
                fields=["grid", "person"],
                condition=Q(person__isnull=False) & ~Q(status="refused"),
                name="volunteer_person_once",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Wish(models.Model):
    """心愿 (the 泉心愿 loop): a household's wish or need — 买药, 代购蔬菜, 修水管 — posted by its
    grid member or by the resident from the personal link; an approved volunteer claims it, the
    grid member confirms it done, the resident thanks."""

    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the household's
    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    text = models.CharField(_("wish"), max_length=200)
    source = models.CharField(_("source"), max_length=12, choices=WishSource.choices)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(_("status"), max_length=12, choices=WishStatus.choices, default=WishStatus.OPEN)
    volunteer = models.ForeignKey(
        Volunteer, verbose_name=_("volunteer"), on_delete=models.PROTECT, null=True, blank=True, related_name="wishes"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_note = models.CharField(_("note"), max_length=200, blank=True)
    thanked_at = models.DateTimeField(null=True, blank=True)
    thanks = models.CharField(_("thanks"), max_length=200, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = WISH_TRANSITIONS
    STATUS_STAMPS = WISH_STAMPS
    AUDIT_PREFIX = "wish"
    AUDIT_ALSO = ("household",)

    class Meta:
        verbose_name = _("wish")
        constraints = [
            *stamp_constraints(
                "wish",
                {
                    WishStatus.CLAIMED: "claimed_at",
                    WishStatus.DONE: "done_at",
                    WishStatus.THANKED: "thanked_at",
                    WishStatus.CANCELLED: "cancelled_at",
                },
            ),
            # Claimed, done or thanked: by a volunteer.
            models.CheckConstraint(
                condition=~Q(status__in=["claimed", "done", "thanked"]) | Q(volunteer__isnull=False),
                name="wish_claimed_by_volunteer",
            ),
        ]

    def __str__(self) -> str:
        return self.text


class VolunteerShift(models.Model):
    """A volunteer's shift, recorded by the community when it is over: its hours add up per
    volunteer and per team (for recognition)."""

    volunteer = models.ForeignKey(Volunteer, on_delete=models.PROTECT, related_name="shifts")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the volunteer's
    team = models.ForeignKey(VolunteerTeam, on_delete=models.PROTECT, null=True, blank=True, related_name="shifts")
    kind = models.CharField(_("duty"), max_length=16, choices=ShiftKind.choices)
    # 值守 at a gate of the community: counts in that checkpoint's 24-hour roster (gates asks the
    # "roster_cover" extension point), and may be planned ahead (its hours count once it is over).
    checkpoint = models.ForeignKey(
        "gates.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # 消杀 of a compound (`site`) or of one household in it: the round completes the open care
    # disinfection tasks it answers (the "disinfection_done" extension point).
    site = models.ForeignKey(
        "grids.GridNode", verbose_name=_("compound"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    household = models.ForeignKey(
        "people.Household",
        verbose_name=_("household"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    minutes = models.PositiveIntegerField(editable=False)
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("volunteer shift")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="volunteer_shift_ends_after"),
            models.CheckConstraint(
                condition=Q(checkpoint__isnull=True) | Q(kind="gate_duty"), name="volunteer_shift_checkpoint_gate_duty"
            ),
            models.CheckConstraint(
                condition=Q(site__isnull=True, household__isnull=True) | Q(kind="disinfection", site__isnull=False),
                name="volunteer_shift_site_disinfection",
            ),
        ]
        indexes = [models.Index(fields=["checkpoint", "starts_at"], name="volunteer_shift_checkpoint_idx")]

    def __str__(self) -> str:
        return f"{self.volunteer} · {self.get_kind_display()}"


# ---------------------------------------------------------------- 双报到 (units reporting to the community)


class ReportingUnit(models.Model):
    """A unit registered with its community (双报到): a unit based in the area, a new economic or
    social organisation, or an enterprise of an office building, with its contact, the skills and
    the hours a week it offers. Its party members are `UnitMember` rows."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=24, choices=UnitKind.choices)
    name = models.CharField(_("name"), max_length=100)
    contact_name = models.CharField(_("contact"), max_length=50)
    contact_phone_sealed = models.BinaryField(editable=False, null=True)
    contact_phone_masked = models.CharField(_("contact phone"), max_length=20, blank=True, editable=False)
    skills = models.CharField(_("skills"), max_length=200, blank=True)
    hours_offered = models.PositiveIntegerField(_("hours offered a week"), default=0)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("registered unit")
        constraints = [models.UniqueConstraint(fields=["grid", "name"], name="reporting_unit_name_once")]

    def __str__(self) -> str:
        return self.name


class UnitMember(models.Model):
    """A party member of a registered unit reporting to the community, and where the community
    sent them: a temporary branch, a duty or a wish (one at a time; none until assigned)."""

    unit = models.ForeignKey(ReportingUnit, on_delete=models.PROTECT, related_name="members")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the unit's
    name = models.CharField(_("name"), max_length=50)
    phone_sealed = models.BinaryField(editable=False, null=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True, editable=False)
    skills = models.CharField(_("skills"), max_length=200, blank=True)
    hours_offered = models.PositiveIntegerField(_("hours offered a week"), default=0)
    assignment = models.CharField(_("assigned to"), max_length=8, choices=AssignmentKind.choices, blank=True)
    branch = models.ForeignKey(TemporaryBranch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    duty = models.CharField(_("duty"), max_length=16, choices=ShiftKind.choices, blank=True)
    wish = models.ForeignKey(Wish, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    assigned_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("party member of a registered unit")
        constraints = [
            models.CheckConstraint(
                condition=Q(assignment="", branch__isnull=True, duty="", wish__isnull=True, assigned_at__isnull=True)
                | Q(assignment="branch", branch__isnull=False, duty="", wish__isnull=True, assigned_at__isnull=False)
                | Q(assignment="duty", branch__isnull=True, wish__isnull=True, assigned_at__isnull=False) & ~Q(duty="")
                | Q(assignment="wish", branch__isnull=True, duty="", wish__isnull=False, assigned_at__isnull=False),
                name="unit_member_one_assignment",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Appeal(models.Model):
    """倡议书: an appeal the community issues to all its registered units; each unit's
    acknowledgement is an `AppealAck` made at issue."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"), max_length=5000)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("appeal")

    def __str__(self) -> str:
        return self.title


class AppealAck(models.Model):
    """One unit's acknowledgement of an appeal: pending until the community records who at the
    unit acknowledged it, and when."""

    appeal = models.ForeignKey(Appeal, on_delete=models.PROTECT, related_name="acks")
    unit = models.ForeignKey(ReportingUnit, on_delete=models.PROTECT, related_name="acks")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the appeal's
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_name = models.CharField(_("acknowledged by"), max_length=50, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("acknowledgement of an appeal")
        constraints = [
            models.UniqueConstraint(fields=["appeal", "unit"], name="appeal_ack_once"),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_name="")
                | Q(acknowledged_at__isnull=False) & ~Q(acknowledged_name=""),
                name="appeal_ack_names_who",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appeal} · {self.unit}"


# ---------------------------------------------------------------- notices to households (告知书)


class Notice(models.Model):
    """告知书: a notice to the households of a grid subtree (or of a compound under closed
    management), shown on each affected resident's personal link with a "read" button; a link
    (a video, a booklet) makes it material pushed to the households. `audience` narrows it to the
    households under home quarantine."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("for"), on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(_("for"), max_length=16, choices=NoticeScope.choices, default=NoticeScope.GRID)
    audience = models.CharField(_("audience"), max_length=12, choices=NoticeAudience.choices)
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"), max_length=5000, blank=True)
    link = models.URLField(_("link"), max_length=500, blank=True)
    # Issued from an emergency task (张贴告知书 of an incident): shown under that task. A string
    # reference, so mobilization does not import response (a sibling).
    task = models.ForeignKey(
        "response.Task", verbose_name=_("task"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("notice to households")
        constraints = [
            models.CheckConstraint(condition=~Q(text="") | ~Q(link=""), name="notice_text_or_link"),
        ]

    def __str__(self) -> str:
        return self.title


class NoticeRead(models.Model):
    """A household's read receipt of a notice (the first tap of "read" on the personal link)."""

    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="reads")
    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the household's
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("read receipt")
        constraints = [models.UniqueConstraint(fields=["notice", "household"], name="notice_read_once")]

    def __str__(self) -> str:
        return f"{self.notice} · {self.household}"


# ---------------------------------------------------------------- publicity campaigns (宣传)


class Campaign(models.Model):
    """A publicity campaign over a grid subtree, aimed at its households, those under control, or
    all its residents; its materials and the log of where it went out, channel by channel."""

    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("title"), max_length=100)
    target = models.CharField(_("target"), max_length=12, choices=CampaignTarget.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("publicity campaign")

    def __str__(self) -> str:
        return self.title


class CampaignMaterial(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="materials")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the campaign's
    kind = models.CharField(_("kind"), max_length=8, choices=MaterialKind.choices)
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"), max_length=5000, blank=True)
    link = models.URLField(_("link"), max_length=500, blank=True)
    image = models.FileField(upload_to="publicity/%Y/%m/", storage=private_storage, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign material")

    def __str__(self) -> str:
        return self.title


class CampaignPost(models.Model):
    """One time the campaign went out on a channel: offline (banner, board, LED, loudspeaker) with
    place, time and photo; online (WeChat group, official account, Douyin) with the link."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="posts")
    grid = models.ForeignKey("grids.GridNode", on_delete=models.PROTECT, related_name="+")  # the campaign's
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    done_at = models.DateTimeField(_("when"))
    place = models.CharField(_("place"), max_length=100, blank=True)
    photo = models.FileField(upload_to="publicity/%Y/%m/", storage=private_storage, blank=True)
    link = models.URLField(_("link"), max_length=500, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign post")

    def __str__(self) -> str:
        return f"{self.campaign} · {self.get_channel_display()}"


# ---------------------------------------------------------------- after release ("1": residents first)


class FollowUp(models.Model):
    """The follow-up of a release (docs/method.md "3" item 5): a visit (登门慰问) by the community
    and street leaders of the chain, or a 14-day post-release health check by the medical grid.
    Made by the system when a control order is released or an epidemic point's compound reopens
    (`key` makes it once); done with a date and a note."""

    kind = models.CharField(_("kind"), max_length=16, choices=FollowUpKind.choices)
    key = models.CharField(max_length=80, unique=True, editable=False)
    grid = models.ForeignKey("grids.GridNode", verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    released_on = models.DateField(_("released on"))
    due_on = models.DateField(_("due on"))
    leaders = models.CharField(_("by"), max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(_("status"), max_length=8, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN)
    done_on = models.DateField(_("done on"), null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GridScopedQuerySet.as_manager()

    TRANSITIONS = FOLLOWUP_TRANSITIONS
    STATUS_STAMPS = FOLLOWUP_STAMPS
    AUDIT_PREFIX = "followup"

    class Meta:
        verbose_name = _("follow-up after release")
        constraints = [
            *stamp_constraints("followup", {FollowUpStatus.DONE: "done_at"}),
            models.CheckConstraint(
                condition=Q(status="open", done_on__isnull=True) | Q(status="done", done_on__isnull=False),
                name="followup_done_on_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.household or self.grid}"
