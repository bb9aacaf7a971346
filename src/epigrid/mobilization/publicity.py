"""Publicity campaigns (宣传, SPEC "3" §4): a campaign over a grid subtree aimed at its households,
the households under control, or all its residents; its materials (text, an image, a link to a
booklet or article, a video link); and the log of where it went out: offline channels (条幅,
宣传栏, LED屏, 流动喇叭) logged as done with place, time and photo, online ones (微信群, 公众号,
抖音) as posted with the link.

Who does what: `manage_teams` over the campaign's grid (community secretary and staff, grid heads,
the subdistrict, the command center) sets up campaigns, adds materials and logs posts; whoever
sees the grid reads them. Every write is atomic and audited."""

import datetime as dt

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.scoping import VIEW, authorize, user_of
from epigrid.core.uploads import verified_photo
from epigrid.grids.choices import GridLevel
from epigrid.grids.models import GridNode

from .choices import OFFLINE_CHANNELS, CampaignTarget, Channel, MaterialKind
from .models import Campaign, CampaignMaterial, CampaignPost
from .notices import _link
from .volunteers import _text

MANAGE = Capability.MANAGE_TEAMS


def campaign_create(*, grid: GridNode, title: str, target: str, principal) -> Campaign:
    authorize(principal, MANAGE, grid.path)
    if grid.level == GridLevel.THEMATIC:
        raise DomainError("campaign_grid", _("Choose a subdistrict, a community, a compound grid or a building."))
    if target not in CampaignTarget.values:
        raise DomainError("campaign_target", _("Choose whom the campaign is for."), field="target")
    title = _text(title, field="title", required=True, limit=100)
    with transaction.atomic():
        campaign = Campaign.objects.create(grid=grid, title=title, target=target, created_by=user_of(principal))
        audit.record(
            principal=principal,
            action="campaign.create",
            obj=campaign,
            grid_path=grid.path,
            changes={"title": [None, title], "target": [None, target]},
        )
    return campaign


def material_add(
    *, campaign: Campaign, kind: str, title: str, text: str = "", link: str = "", image=None, principal
) -> CampaignMaterial:
    """A material: text needs its text, an image its upload (checked and re-encoded), a link or a
    video its http(s) address."""
    authorize(principal, MANAGE, campaign.grid.path)
    if kind not in MaterialKind.values:
        raise DomainError("material_kind", _("Choose what kind of material it is."), field="kind")
    title = _text(title, field="title", required=True, limit=100)
    text = (text or "").strip()
    if len(text) > 5000:
        raise DomainError("text_too_long", _("At most %(n)s characters."), field="text", params={"n": 5000})
    link = _link(link)
    stored = None
    if kind == MaterialKind.TEXT and not text:
        raise DomainError("text_required", _("Fill in this field."), field="text")
    if kind in (MaterialKind.LINK, MaterialKind.VIDEO) and not link:
        raise DomainError("link_required", _("Give the link."), field="link")
    if kind == MaterialKind.IMAGE:
        if not image:
            raise DomainError("image_required", _("Choose the image to upload."), field="image")
        stored = verified_photo(image)
    with transaction.atomic():
        material = CampaignMaterial(campaign=campaign, grid=campaign.grid, kind=kind, title=title, text=text, link=link)
        if stored is not None:
            material.image = stored
        material.save()
        audit.record(
            principal=principal,
            action="campaign.material",
            obj=campaign,
            grid_path=campaign.grid.path,
            changes={"material": [None, material.pk], "kind": [None, kind]},
        )
    return material


def post_log(
    *,
    campaign: Campaign,
    channel: str,
    done_at: dt.datetime | None = None,
    place: str = "",
    photo=None,
    link: str = "",
    note: str = "",
    principal,
) -> CampaignPost:
    """Log that the campaign went out on a channel: offline with place and photo, online with the
    link; the time is when it was done (now by default, never in the future)."""
    authorize(principal, MANAGE, campaign.grid.path)
    if channel not in Channel.values:
        raise DomainError("channel", _("Choose the channel."), field="channel")
    now = timezone.now()
    done_at = done_at or now
    if done_at > now + dt.timedelta(minutes=5):
        raise DomainError("done_in_future", _("Log it once it is done."), field="done_at")
    place = _text(place, field="place", limit=100)
    note = _text(note, field="note")
    link = _link(link)
    stored = None
    if channel in OFFLINE_CHANNELS:
        if not place:
            raise DomainError("place_required", _("Say where it was put up or broadcast."), field="place")
        if not photo:
            raise DomainError("photo_required", _("Add a photo of it."), field="photo")
        stored = verified_photo(photo)
    elif not link:
        raise DomainError("link_required", _("Give the link."), field="link")
    with transaction.atomic():
        post = CampaignPost(
            campaign=campaign,
            grid=campaign.grid,
            channel=channel,
            done_at=done_at,
            place=place,
            link=link,
            note=note,
            recorded_by=user_of(principal),
        )
        if stored is not None:
            post.photo = stored
        post.save()
        audit.record(
            principal=principal,
            action="campaign.post",
            obj=campaign,
            grid_path=campaign.grid.path,
            changes={"post": [None, post.pk], "channel": [None, channel]},
        )
    return post


# ---------------------------------------------------------------- reading


def campaign_list(*, user):
    return (
        Campaign.objects.restrict(user)
        .select_related("grid")
        .annotate(post_count=Count("posts", distinct=True), material_count=Count("materials", distinct=True))
        .order_by("-created_at", "-id")
    )


def campaign_get(*, user, pk, capability: str = VIEW) -> Campaign:
    return Campaign.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("campaign_not_found", _("No such campaign."))
    )


def campaign_posts(campaign: Campaign):
    return campaign.posts.select_related("recorded_by").order_by("-done_at", "-id")


def file_get(*, user, which: str, pk):
    """A material's image or a post's photo, to whoever sees the campaign."""
    model, field = (CampaignMaterial, "image") if which == "material" else (CampaignPost, "photo")
    row = model.objects.get_for(user, VIEW, pk=pk, missing=NotFound("file_not_found", _("No such photo.")))
    return getattr(row, field)
