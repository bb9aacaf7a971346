"""Publicity campaigns (宣传): materials, channels and targets; offline channels logged with place,
time and photo, online ones with the link; the campaign's page lists them."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.mobilization import publicity
from epigrid.mobilization.models import Campaign, CampaignPost
from tests.factories import api
from tests.mobilization.world import _jpeg


def _client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def test_a_campaign_on_the_pages(world):
    head = _client(world, "head1")
    head.post(reverse("mobilization:campaigns"), {"grid": "S-C-G1", "title": "疫情防控宣传周", "target": "controlled"})
    campaign = Campaign.objects.get()
    assert campaign.target == "controlled"
    material = reverse("mobilization:campaign_material_add", args=[campaign.pk])
    head.post(material, {"kind": "video", "title": "抗疫抖音", "link": "https://example.org/v"})
    head.post(material, {"kind": "image", "title": "海报", "image": _jpeg()})
    log = reverse("mobilization:campaign_post_log", args=[campaign.pk])
    # A banner without its photo is refused with the reason; with place and photo it is logged.
    response = head.post(log, {"channel": "banner", "place": "1号门"}, follow=True)
    assert "照片" in response.content.decode() or "photo" in response.content.decode()
    assert not CampaignPost.objects.exists()
    head.post(log, {"channel": "banner", "place": "1号门", "photo": _jpeg()})
    head.post(log, {"channel": "wechat_group", "link": "https://example.org/post"})
    page = head.get(reverse("mobilization:campaign", args=[campaign.pk])).content.decode()
    assert "抗疫抖音" in page and "1号门" in page and "https://example.org/post" in page
    banner = CampaignPost.objects.get(channel="banner")
    photo = head.get(reverse("mobilization:campaign_file", args=["post", banner.pk]))
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    # Another compound's grid member sees none of it.
    other = _client(world, "member2")
    assert other.get(reverse("mobilization:campaign", args=[campaign.pk])).status_code == 404
    assert other.get(reverse("mobilization:campaign_file", args=["post", banner.pk])).status_code == 404
    assert AuditEvent.objects.filter(action="campaign.post").count() == 2


def test_channel_rules_and_refusals(world):
    admin = world.admin
    campaign = publicity.campaign_create(grid=world.nodes["S-C-G1"], title="t", target="grid", principal=admin)
    with pytest.raises((NotFound, Forbidden)):
        publicity.post_log(campaign=campaign, channel="douyin", link="https://x.org", principal=world.users["member1"])
    for kwargs, code in (
        ({"channel": "douyin"}, "link_required"),
        ({"channel": "led", "photo": _jpeg()}, "place_required"),
        ({"channel": "loudspeaker", "place": "2号楼"}, "photo_required"),
        ({"channel": "fax"}, "channel"),
        (
            {"channel": "douyin", "link": "https://x.org", "done_at": timezone.now() + dt.timedelta(hours=2)},
            "done_in_future",
        ),
    ):
        with pytest.raises(DomainError) as exc:
            publicity.post_log(campaign=campaign, principal=admin, **kwargs)
        assert exc.value.code == code
    with pytest.raises(DomainError):
        publicity.material_add(campaign=campaign, kind="text", title="t", principal=admin)
    with pytest.raises(DomainError):
        publicity.campaign_create(grid=world.nodes["S-C-G1"], title="t", target="everyone", principal=admin)
    assert not CampaignPost.objects.exists()


def test_the_api(world):
    head = api(world, "head1")
    response = head("post", "/api/v1/mobilization/campaigns", {"grid": "S-C-G1", "title": "宣传", "target": "all"})
    campaign = response.json()["id"]
    response = head("post", f"/api/v1/mobilization/campaigns/{campaign}/posts", {"channel": "banner", "place": "x"})
    assert response.status_code == 400 and response.json()["code"] == "photo_required"
    response = head(
        "post", f"/api/v1/mobilization/campaigns/{campaign}/posts", {"channel": "douyin", "link": "https://x.org/1"}
    )
    assert response.status_code == 201
    detail = head("get", f"/api/v1/mobilization/campaigns/{campaign}").json()
    assert [p["channel"] for p in detail["posts"]] == ["douyin"]
