"""The party chain the scoping matrices act on, in the base world (tests.factories.build_world)."""

from django.utils import timezone

from epigrid.grids import services as grid_services
from epigrid.mobilization import services
from epigrid.people import services as people_services
from tests.factories import make_id_number


def add_chain(world) -> dict:
    """第1网格: its branch (李四 secretary), 1号楼's group (张三 leader; his household h1 a 党员中心户
    looking after 1-102; 钱八 a plain member), an empty group at 3号楼 and no group at 2号楼 (so a
    page may set one up). 第2网格: its branch and 1号楼's group, 王五 a member. No one from outside a
    compound is named in its chain (the matrices check that nothing of another compound shows)."""
    admin, nodes = world.admin, world.nodes
    for code in ("S-C-G1-B2", "S-C-G1-B3"):
        nodes[code] = grid_services.grid_node_create(
            parent=nodes["S-C-G1"], code=code, name=f"{code} name", level="building", principal=admin
        )
    orgs = {
        code: services.org_create(grid=nodes[code], name=name, principal=admin)
        for code, name in (
            ("S", "建新街道党工委"),
            ("S-C", "花园路社区党委"),
            ("S-C-G1", "第1网格党支部"),
            ("S-C-G1-B1", "1号楼党小组"),
            ("S-C-G1-B3", "3号楼党小组"),
            ("S-C-G2", "第2网格党支部"),
            ("S-C-G2-B1", "第2网格1号楼党小组"),
        )
    }
    services.member_add(org=orgs["S-C-G1"], person=world.persons["p1b"], role="secretary", principal=admin)
    leader = services.member_add(
        org=orgs["S-C-G1-B1"], person=world.persons["p1"], role="group_leader", principal=admin
    )
    central = services.central_household_create(member=leader, principal=admin)
    neighbour = people_services.household_create(
        grid=nodes["S-C-G1-B1"], number="1-102", address="1单元102", principal=admin
    )
    services.households_assign(central=central, households=[neighbour], principal=admin)
    own = people_services.household_create(grid=nodes["S-C-G1-B1"], number="6-601", address="6单元601", principal=admin)
    qian = people_services.person_create(name="钱八", id_number=make_id_number(), household=own, principal=admin)
    plain = services.member_add(org=orgs["S-C-G1-B1"], person=qian, principal=admin)
    services.member_add(org=orgs["S-C-G2-B1"], person=world.persons["p2"], principal=admin)
    zhao_household = people_services.household_create(
        grid=nodes["S-C-G1-B1"], number="7-701", address="7单元701", principal=admin
    )
    zhao = people_services.person_create(
        name="孙十", id_number=make_id_number(), household=zhao_household, principal=admin
    )
    # A temporary branch over 第1网格 (so it shows at each of its gates), 钱八 a party volunteer in it.
    branch = services.temporary_branch_open(
        grid=nodes["S-C-G1"],
        site_kind="compound",
        name="第1网格楼院临时党支部",
        reason="疫情防控",
        opened_on=timezone.localdate(),
        principal=admin,
    )
    seat = services.temporary_member_add(branch=branch, role="volunteer", person=qian, principal=admin)
    return {
        "temp_branch": branch.pk,
        "temp_seat": seat.pk,
        "org": orgs["S-C-G1"].pk,
        "org_empty": orgs["S-C-G1-B3"].pk,
        "party_member": plain.pk,
        "new_member": zhao.pk,
        "central": central.pk,
        "unassigned_household": zhao_household.pk,
        "looked_after": central.links.get().pk,
    }


def add_volunteers(world) -> dict:
    """花园路社区 (S-C)'s volunteers: a team, 吴志愿 approved in it and 周志愿 pending; wishes of
    张三's household (第1网格): one open, one claimed by 吴志愿, one done. Nothing in 第2网格."""
    from django.core import signing

    from epigrid.mobilization import volunteers as vol

    community, staff = world.nodes["S-C"], world.admin
    team = vol.team_create(grid=community, name="红色管家", principal=staff)
    approved = vol.volunteer_signup(grid=community, name="吴志愿", phone="13900000011", team=team)
    approved = vol.volunteer_decide(volunteer=approved, approve=True, principal=staff)
    pending = vol.volunteer_signup(grid=community, name="周志愿", phone="13900000012", skills="开车")
    household = world.households["h1"]
    wish_open = vol.wish_post(household=household, text="代购蔬菜", principal=staff)
    wish_claimed = vol.wish_post(household=household, text="买药", principal=staff)
    vol.wish_claim(wish=wish_claimed, volunteer=approved, principal=staff)
    wish_done = vol.wish_post(household=household, text="修水管", principal=staff)
    vol.wish_claim(wish=wish_done, volunteer=approved, principal=staff)
    vol.wish_done(wish=wish_done, principal=staff)
    stale_link = vol.volunteer_link_issue(volunteer=approved, principal=staff)
    link = vol.volunteer_link_issue(volunteer=approved, principal=staff)
    return {
        "volunteer_token": link,
        "stale_volunteer_token": stale_link,
        "volunteer_team": team.pk,
        "approved_volunteer": approved.pk,
        "pending_volunteer": pending.pk,
        "wish_open": wish_open.pk,
        "wish_claimed": wish_claimed.pk,
        "wish_done": wish_done.pk,
        "signup_token": vol.signup_token(community),
        # Signed, but not for a sign-up: nobody's form.
        "stale_signup_token": signing.dumps(community.pk, salt="another-purpose", compress=True),
    }


def add_units(world) -> dict:
    """双报到 of 花园路社区 (S-C): 建新供电所 registered with one party member (not assigned yet), and
    an appeal issued to it, not acknowledged yet. Nothing in another community."""
    from epigrid.mobilization import units

    community, staff = world.nodes["S-C"], world.admin
    unit = units.unit_register(
        grid=community,
        kind="resident_unit",
        name="建新供电所",
        contact_name="冯主任",
        contact_phone="13900000031",
        skills="电工",
        hours_offered=8,
        principal=staff,
    )
    member = units.unit_member_add(unit=unit, name="陈党员", phone="13900000032", skills="开车", principal=staff)
    appeal = units.appeal_issue(grid=community, title="致驻区单位的倡议书", text="共同抗疫。", principal=staff)
    return {"unit": unit.pk, "unit_member": member.pk, "appeal": appeal.pk, "appeal_ack": appeal.acks.get().pk}


def add_notices(world) -> dict:
    """A notice to every household of 第1网格 (张三's among them), not read yet."""
    from epigrid.mobilization import notices

    notice = notices.notice_issue(
        grid=world.nodes["S-C-G1"], title="关于小区封闭管理的告知书", text="即日起实行封闭管理。", principal=world.admin
    )
    return {"notice": notice.pk}


def _jpeg():
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(out, "JPEG")
    return SimpleUploadedFile("banner.jpg", out.getvalue(), content_type="image/jpeg")


def add_campaigns(world) -> dict:
    """A publicity campaign of 第1网格: a video link, a banner put up (place and photo) and a post
    in the WeChat group (link)."""
    from epigrid.mobilization import publicity

    admin = world.admin
    campaign = publicity.campaign_create(
        grid=world.nodes["S-C-G1"], title="疫情防控宣传周", target="all", principal=admin
    )
    material = publicity.material_add(
        campaign=campaign, kind="video", title="抗疫抖音", link="https://example.org/video", principal=admin
    )
    banner = publicity.post_log(campaign=campaign, channel="banner", place="1号门", photo=_jpeg(), principal=admin)
    publicity.post_log(campaign=campaign, channel="wechat_group", link="https://example.org/post", principal=admin)
    return {"campaign": campaign.pk, "campaign_material": material.pk, "campaign_post": banner.pk}


def add_followups(world) -> dict:
    """李四 (第1网格) released early from home quarantine: the cascade sets his household's visit and
    his 14-day health check."""
    from epigrid.control import services as control
    from epigrid.mobilization.models import FollowUp

    order = control.control_order_start(
        person=world.persons["p1b"], kind="home_quarantine", reason="other", principal=world.admin
    )
    control.control_order_release(order=order, early_reason="核酸阴性", principal=world.admin)
    visit = FollowUp.objects.get(kind="visit", person=world.persons["p1b"])
    check = FollowUp.objects.get(kind="health_check", person=world.persons["p1b"])
    return {"followup_visit": visit.pk, "followup_check": check.pk}
