from django.db import models
from django.utils.translation import gettext_lazy as _

from epigrid.grids.choices import GridLevel


class OrgKind(models.TextChoices):
    """The four organisations of the six-level chain (六级链条); the last two levels are the
    党员中心户 and the 居民户 themselves."""

    STREET_COMMITTEE = "street_committee", _("Street party working committee")
    COMMUNITY_COMMITTEE = "community_committee", _("Community party committee")
    GRID_BRANCH = "grid_branch", _("Grid party branch")
    BUILDING_GROUP = "building_group", _("Building party group")


# Each kind covers one level of the grid tree.
ORG_LEVEL = {
    OrgKind.STREET_COMMITTEE: GridLevel.SUBDISTRICT,
    OrgKind.COMMUNITY_COMMITTEE: GridLevel.COMMUNITY,
    OrgKind.GRID_BRANCH: GridLevel.GRID,
    OrgKind.BUILDING_GROUP: GridLevel.BUILDING,
}
KIND_FOR_LEVEL = {level: kind for kind, level in ORG_LEVEL.items()}


class MemberRole(models.TextChoices):
    MEMBER = "member", _("Party member")
    SECRETARY = "secretary", _("Secretary")
    DEPUTY_SECRETARY = "deputy_secretary", _("Deputy secretary")
    GROUP_LEADER = "group_leader", _("Group leader")


# The one who answers for an organisation: its secretary, or a party group's leader.
RESPONSIBLE_ROLES = (MemberRole.SECRETARY, MemberRole.GROUP_LEADER)
# Roles of which an organisation has at most one at a time.
SINGLE_ROLES = (MemberRole.SECRETARY, MemberRole.GROUP_LEADER)


class SiteKind(models.TextChoices):
    CHECKPOINT = "checkpoint", _("Checkpoint")
    COMPOUND = "compound", _("Compound")
    ROAD_SECTION = "road_section", _("Road section")


class BranchRole(models.TextChoices):
    """Who sits in a temporary branch (临时党支部): the article's list."""

    SECRETARY = "secretary", _("Secretary")
    GRID_HEAD = "grid_head", _("Grid head")
    BUILDING_HEAD = "building_head", _("Building head")
    UNIT_MEMBER = "unit_member", _("Party member of a registered unit")
    VOLUNTEER = "volunteer", _("Party volunteer")


# ---------------------------------------------------------------- volunteers (泉心愿 and the teams)


class VolunteerStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting verification")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")


# A sign-up is verified by the community before any duty: pending → approved or refused, once.
VOLUNTEER_TRANSITIONS = {
    VolunteerStatus.PENDING: {VolunteerStatus.APPROVED, VolunteerStatus.REFUSED},
    VolunteerStatus.APPROVED: set(),
    VolunteerStatus.REFUSED: set(),
}
VOLUNTEER_STAMPS = {VolunteerStatus.APPROVED: "decided_at", VolunteerStatus.REFUSED: "decided_at"}


class VolunteerSource(models.TextChoices):
    SIGNUP = "signup", _("Public sign-up (QR)")
    STAFF = "staff", _("Registered by the community")


class WishStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLAIMED = "claimed", _("Claimed")
    DONE = "done", _("Done")
    THANKED = "thanked", _("Thanked")
    CANCELLED = "cancelled", _("Cancelled")


# 泉心愿: post → claim → done → thanks. A claimed wish goes back to open when its volunteer
# cannot do it after all; an open or claimed one may be cancelled.
WISH_TRANSITIONS = {
    WishStatus.OPEN: {WishStatus.CLAIMED, WishStatus.CANCELLED},
    WishStatus.CLAIMED: {WishStatus.DONE, WishStatus.OPEN, WishStatus.CANCELLED},
    WishStatus.DONE: {WishStatus.THANKED},
    WishStatus.THANKED: set(),
    WishStatus.CANCELLED: set(),
}
WISH_STAMPS = {
    WishStatus.CLAIMED: "claimed_at",
    WishStatus.DONE: "done_at",
    WishStatus.THANKED: "thanked_at",
    WishStatus.CANCELLED: "cancelled_at",
}


class WishSource(models.TextChoices):
    GRID_MEMBER = "grid_member", _("Posted by a grid member")
    RESIDENT = "resident", _("Posted by the resident")


class ShiftKind(models.TextChoices):
    """What a volunteer's shift was for (the issue's four duties, and a wish or other service)."""

    GATE_DUTY = "gate_duty", _("Gate duty")
    SCREENING = "screening", _("Door-to-door screening")
    DISINFECTION = "disinfection", _("Disinfection round")
    PUBLICITY = "publicity", _("Publicity round")
    SERVICE = "service", _("Service to households")


# ---------------------------------------------------------------- 双报到 (units reporting to the community)


class UnitKind(models.TextChoices):
    """Who reports in to the community (双报到): the article's three kinds of organisation."""

    RESIDENT_UNIT = "resident_unit", _("Unit based in the area")
    NEW_ORG = "new_org", _("New economic or social organisation")
    BUILDING_ENTERPRISE = "building_enterprise", _("Enterprise in an office building")


class AssignmentKind(models.TextChoices):
    """Where the community sends a registered unit's party member."""

    BRANCH = "branch", _("Temporary party branch")
    DUTY = "duty", _("Duty")
    WISH = "wish", _("Wish")


# ---------------------------------------------------------------- notices to households (告知书)


class NoticeAudience(models.TextChoices):
    ALL = "all", _("Every household")
    QUARANTINED = "quarantined", _("Households under home quarantine")


class NoticeScope(models.TextChoices):
    GRID = "grid", _("A grid and everything under it")
    CLOSED_COMPOUND = "closed_compound", _("A compound under closed management")


# ---------------------------------------------------------------- publicity campaigns (宣传)


class CampaignTarget(models.TextChoices):
    GRID = "grid", _("The households of a grid")
    CONTROLLED = "controlled", _("Households under control")
    ALL = "all", _("All residents")


class MaterialKind(models.TextChoices):
    TEXT = "text", _("Text")
    IMAGE = "image", _("Image")
    LINK = "link", _("Link (booklet, article)")
    VIDEO = "video", _("Video link")


class Channel(models.TextChoices):
    BANNER = "banner", _("Banner (条幅)")
    BOARD = "board", _("Bulletin board (宣传栏)")
    LED = "led", _("LED screen")
    WECHAT_GROUP = "wechat_group", _("WeChat group")
    OFFICIAL_ACCOUNT = "official_account", _("Official account (公众号)")
    DOUYIN = "douyin", _("Douyin (抖音)")
    LOUDSPEAKER = "loudspeaker", _("Mobile loudspeaker (流动喇叭)")


# Offline channels are logged as done with place, time and photo; online ones as posted with a link.
OFFLINE_CHANNELS = frozenset({Channel.BANNER, Channel.BOARD, Channel.LED, Channel.LOUDSPEAKER})


# ---------------------------------------------------------------- after release ("1": residents first)


class FollowUpKind(models.TextChoices):
    VISIT = "visit", _("Visit (登门慰问)")
    HEALTH_CHECK = "health_check", _("14-day post-release health check")


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")


FOLLOWUP_TRANSITIONS = {FollowUpStatus.OPEN: {FollowUpStatus.DONE}, FollowUpStatus.DONE: set()}
FOLLOWUP_STAMPS = {FollowUpStatus.DONE: "done_at"}
