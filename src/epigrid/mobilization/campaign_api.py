"""/api/v1/mobilization: publicity campaigns (宣传), their materials and the log of their
channels; mounted on the mobilization router. Images and photos are uploaded on the pages."""

import datetime as dt

from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, In
from epigrid.grids.selectors import grid_node_get

from . import publicity
from .choices import CampaignTarget, Channel, MaterialKind
from .models import Campaign, CampaignMaterial, CampaignPost

router = Router(tags=["mobilization"])

MANAGERS = "`manage_teams` (command center, subdistrict staff, community secretary and staff, grid heads)"


class CampaignOut(Schema):
    id: int
    grid: str
    title: str
    target: CampaignTarget
    created_at: dt.datetime

    @staticmethod
    def from_model(c: Campaign) -> dict:
        return {"id": c.pk, "grid": c.grid.code, "title": c.title, "target": c.target, "created_at": c.created_at}


class CampaignMaterialOut(Schema):
    id: int
    kind: MaterialKind
    title: str
    text: str
    link: str
    has_image: bool

    @staticmethod
    def from_model(m: CampaignMaterial) -> dict:
        return {
            "id": m.pk,
            "kind": m.kind,
            "title": m.title,
            "text": m.text,
            "link": m.link,
            "has_image": bool(m.image),
        }


class CampaignPostOut(Schema):
    id: int
    channel: Channel
    done_at: dt.datetime
    place: str
    link: str
    has_photo: bool
    note: str

    @staticmethod
    def from_model(p: CampaignPost) -> dict:
        return {
            "id": p.pk,
            "channel": p.channel,
            "done_at": p.done_at,
            "place": p.place,
            "link": p.link,
            "has_photo": bool(p.photo),
            "note": p.note,
        }


class CampaignDetailOut(CampaignOut):
    materials: list[CampaignMaterialOut]
    posts: list[CampaignPostOut]


class CampaignIn(In):
    grid: str
    title: str
    target: CampaignTarget


class CampaignMaterialIn(In):
    kind: MaterialKind
    title: str
    text: str = ""
    link: str = ""


class CampaignPostIn(In):
    channel: Channel
    done_at: dt.datetime | None = None
    link: str = ""
    place: str = ""
    note: str = ""


@router.get(
    "/mobilization/campaigns",
    response={200: list[CampaignOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers the publicity campaigns of the grids the caller sees. "
        "Newest first; at most 200; not paged. Reads only: no cascade."
    ),
)
def campaign_list(request):
    return [CampaignOut.from_model(c) for c in publicity.campaign_list(user=request.user)[:200]]


@router.post(
    "/mobilization/campaigns",
    response={201: CampaignOut, **ERRORS},
    summary="Set up a publicity campaign",
    description=(
        f"Who may call: a user with {MANAGERS} over `grid` (403 in sight without it, 404 out of sight). "
        "`target`: the grid's households, the households under control, or all residents. Audited. No cascade."
    ),
)
def campaign_create(request, payload: CampaignIn):
    grid = grid_node_get(user=request.user, code=payload.grid)
    campaign = publicity.campaign_create(grid=grid, title=payload.title, target=payload.target, principal=request.user)
    return Status(201, CampaignOut.from_model(campaign))


@router.get(
    "/mobilization/campaigns/{pk}",
    response={200: CampaignDetailOut, **ERRORS},
    description=(
        "Who may call: any user who sees the campaign's grid (404 otherwise); answers the campaign, its "
        "materials and the log of its channels, newest first. Reads only: no cascade."
    ),
)
def campaign_get(request, pk: int):
    campaign = publicity.campaign_get(user=request.user, pk=pk)
    return {
        **CampaignOut.from_model(campaign),
        "materials": [CampaignMaterialOut.from_model(m) for m in campaign.materials.order_by("created_at", "id")],
        "posts": [CampaignPostOut.from_model(p) for p in publicity.campaign_posts(campaign)],
    }


@router.post(
    "/mobilization/campaigns/{pk}/materials",
    response={201: CampaignMaterialOut, **ERRORS},
    description=(
        f"Who may call: a user with {MANAGERS} over the campaign's grid (403 in sight without it, 404 out of "
        "sight). `text` needs its text (400 `text_required`), `link` and `video` an http(s) link (400 "
        "`link_required`, `link_invalid`); an `image` is uploaded on the campaign's page (400 `image_required` "
        "here). Audited. No cascade."
    ),
)
def material_add(request, pk: int, payload: CampaignMaterialIn):
    campaign = publicity.campaign_get(user=request.user, pk=pk, capability=publicity.MANAGE)
    material = publicity.material_add(
        campaign=campaign,
        kind=payload.kind,
        title=payload.title,
        text=payload.text,
        link=payload.link,
        principal=request.user,
    )
    return Status(201, CampaignMaterialOut.from_model(material))


@router.post(
    "/mobilization/campaigns/{pk}/posts",
    response={201: CampaignPostOut, **ERRORS},
    description=(
        f"Who may call: a user with {MANAGERS} over the campaign's grid (403 in sight without it, 404 out of "
        "sight). Logs that the campaign was posted on an online channel (wechat_group, official_account, "
        "douyin) with its `link` (400 `link_required`); offline channels need a place and a photo, logged on "
        "the campaign's page (400 `place_required` / `photo_required` here). `done_at` defaults to now, never "
        "in the future (400 `done_in_future`). Audited. No cascade."
    ),
)
def post_log(request, pk: int, payload: CampaignPostIn):
    campaign = publicity.campaign_get(user=request.user, pk=pk, capability=publicity.MANAGE)
    post = publicity.post_log(
        campaign=campaign,
        channel=payload.channel,
        done_at=payload.done_at,
        link=payload.link,
        place=payload.place,
        note=payload.note,
        principal=request.user,
    )
    return Status(201, CampaignPostOut.from_model(post))
