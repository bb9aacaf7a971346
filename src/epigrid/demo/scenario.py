"""The reference scenario's place and people (docs/method.md "The reference scenario").

历下区 建筑新村街道 → 花园路社区 (10 楼院网格) → 第9网格 利农庄路23号院 (18 grid members),
plus the five thematic grids, and every node staffed so the coverage audit finds no gap.
Everything goes through the services, so the demo's audit log is a real one.
"""

import base64
import datetime as dt
import json
import random

from django.db import transaction

from epigrid.accounts import services as account_services
from epigrid.accounts.choices import Duty, Role
from epigrid.accounts.models import User
from epigrid.accounts.permissions import console_verified, mfa_required
from epigrid.core.validators import id_check_char
from epigrid.grids import geo
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel, PlaceKind, ThematicCategory
from epigrid.people import services as people_services

DEMO_PASSWORD = "epigrid-demo-0531"  # noqa: S105 - demo logins only, printed by `make demo`
# The demo logins whose roles need a second factor (and admin) share this published TOTP secret,
# printed by `epigrid demo` and given in the README: add it to an authenticator app, or compute the
# code (`oathtool --totp -b SECRET`). A real deployment's users each enrol their own.
DEMO_TOTP_KEY = b"epigrid-demo-totp-05"
DEMO_TOTP_SECRET = base64.b32encode(DEMO_TOTP_KEY).decode()
SUBDISTRICT = "JZXC"
COMMUNITY = "JZXC-HYL"
GRID9 = "JZXC-HYL-09"
COMPOUND_BUILDINGS = ["JZXC-HYL-09-B01", "JZXC-HYL-09-B02", "JZXC-HYL-09-B03"]

# (username, full name, role, grid code) — the demo logins, one per kind of user.
DEMO_LOGINS = [
    ("commander", "李刚", Role.COMMANDER, SUBDISTRICT, "subdistrict commander / 街道指挥部"),
    ("community", "杨学华", Role.COMMUNITY_STAFF, COMMUNITY, "community staff, 花园路社区 / 社区工作人员"),
    ("gridhead9", "王建国", Role.GRID_HEAD, GRID9, "grid head, 第9网格 / 网格长"),
    ("member9", "赵敏", Role.GRID_MEMBER, GRID9, "grid member, 第9网格 / 网格员"),
    ("guard", "孙强", Role.CHECKPOINT_GUARD, GRID9, "checkpoint guard, 利农庄路23号院 / 卡点值守"),
    ("inspector", "陈梦瑶", Role.INSPECTOR, SUBDISTRICT, "inspector / 督导巡查组"),
]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰文博浩宇欣怡子涵梓萱雨轩"
ALL_DUTIES = list(Duty.values)


def demo_id_number(rng: random.Random, *, region: str = "370102", born: dt.date | None = None) -> str:
    born = born or dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 65))
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return first17 + id_check_char(first17)


def demo_phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(0, 10**9):09d}"


def demo_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _demo_second_factor(user: User) -> User:
    """A demo login that needs a second factor gets the demo's TOTP device; the loader then acts as
    it from the console (accounts.permissions.console_verified)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if user.has_usable_password() and mfa_required(user):
        TOTPDevice.objects.create(user=user, name="demo", key=DEMO_TOTP_KEY.hex(), confirmed=True)
    return console_verified(user)


def _user(username: str, full_name: str, *, password: str | None = None) -> User:
    user = User(username=username, full_name=full_name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def _demo_outlines(node: dict, admin) -> None:
    """网格地图: approximate outlines of 花园路社区's ten compounds (two rows of five blocks east of
    利农庄路, GCJ-02 as a Chinese map gives them) and the community around them, imported as the
    office would, from GeoJSON."""

    def box(west, south, east, north):
        return {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        }

    west, south, width, height, gap = 117.0312, 36.6731, 0.0016, 0.0012, 0.0003
    features = []
    for n in range(1, 11):
        col, row = (n - 1) % 5, (n - 1) // 5
        w = west + col * (width + gap)
        s = south + (1 - row) * (height + gap)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": f"{COMMUNITY}-{n:02d}"},
                "geometry": box(w, s, w + width, s + height),
            }
        )
    features.append(
        {
            "type": "Feature",
            "properties": {"code": COMMUNITY},
            "geometry": box(west - gap, south - gap, west + 5 * (width + gap), south + 2 * (height + gap)),
        }
    )
    geo.geojson_import(data=json.dumps({"type": "FeatureCollection", "features": features}).encode(), principal=admin)


def load(*, seed: int = 531, live: bool = True) -> dict:
    """The place, the people and the staff; with `live`, also the family's quarantine as it stands
    today (for a demo of the daily work). The article's timeline itself is `timeline.replay`."""
    rng = random.Random(seed)
    admin = _demo_second_factor(User.objects.create_superuser("admin", password=DEMO_PASSWORD, full_name="系统管理员"))
    node = {}

    def add(parent, code, name, level, **extra):
        node[code] = grid_services.grid_node_create(
            parent=node.get(parent), code=code, name=name, level=level, principal=admin, **extra
        )
        return node[code]

    add(None, SUBDISTRICT, "建筑新村街道", GridLevel.SUBDISTRICT, address="济南市历下区")
    add(SUBDISTRICT, COMMUNITY, "花园路社区", GridLevel.COMMUNITY)
    for category, name in [
        (ThematicCategory.MEDICAL, "医疗网格"),
        (ThematicCategory.EDUCATION, "教育网格"),
        (ThematicCategory.ENTERPRISE, "企业网格"),
        (ThematicCategory.LIVELIHOOD, "民生网格"),
        (ThematicCategory.INSTITUTION, "驻区单位网格"),
    ]:
        add(SUBDISTRICT, f"{SUBDISTRICT}-T-{category.upper()[:3]}", name, GridLevel.THEMATIC, category=category)
    compounds = {9: "利农庄路23号院"}
    for n in range(1, 11):
        code = f"{COMMUNITY}-{n:02d}"
        add(COMMUNITY, code, f"第{n}网格", GridLevel.GRID, address=compounds.get(n, f"花园路{n * 10 + 3}号院"))
        for b in range(1, 4 if n == 9 else 3):
            add(code, f"{code}-B{b:02d}", f"{compounds.get(n, f'花园路{n * 10 + 3}号院')}{b}号楼", GridLevel.BUILDING)
    _demo_outlines(node, admin)

    logins = {}
    for username, full_name, role, code, _label in DEMO_LOGINS:
        logins[username] = _user(username, full_name, password=DEMO_PASSWORD)
        duties = ALL_DUTIES if role == Role.GRID_MEMBER else []
        account_services.grid_assignment_create(
            node=node[code], user=logins[username], role=role, duties=duties, principal=admin
        )
        _demo_second_factor(logins[username])
    # The rest of the staff: every node has its responsible person, every grid its members
    # (第9网格 has 18, as in the article), every building its 楼长.
    secretary = _user("yangchu", "杨矗")
    account_services.grid_assignment_create(
        node=node[COMMUNITY], user=secretary, role=Role.COMMUNITY_SECRETARY, principal=admin
    )
    for code, grid in node.items():
        if grid.level == GridLevel.THEMATIC:
            head = _user(f"thematic-{grid.category}", demo_name(rng))
            account_services.grid_assignment_create(node=grid, user=head, role=Role.THEMATIC_HEAD, principal=admin)
        elif grid.level == GridLevel.GRID:
            if code != GRID9:
                head = _user(f"head-{code[-2:]}", demo_name(rng))
                account_services.grid_assignment_create(node=grid, user=head, role=Role.GRID_HEAD, principal=admin)
            members = 17 if code == GRID9 else 2  # member9 is the 18th of 第9网格
            for m in range(members):
                user = _user(f"member-{code[-2:]}-{m + 1:02d}", demo_name(rng))
                account_services.grid_assignment_create(
                    node=grid, user=user, role=Role.GRID_MEMBER, duties=ALL_DUTIES, principal=admin
                )
        elif grid.level == GridLevel.BUILDING:
            head = _user(f"bhead-{code[-6:].lower()}", demo_name(rng))
            account_services.grid_assignment_create(node=grid, user=head, role=Role.BUILDING_HEAD, principal=admin)

    # Households and residents. The family of four from 襄阳 lives in 利农庄路23号院1号楼.
    persons = 0
    family = [
        ("张伟", "head", dt.date(1978, 3, 12)),
        ("刘芳", "spouse", dt.date(1980, 7, 2)),
        ("张子涵", "child", dt.date(2008, 11, 20)),
        ("张梓萱", "child", dt.date(2013, 5, 8)),
    ]
    for code, grid in node.items():
        if grid.level != GridLevel.BUILDING:
            continue
        for unit in range(1, 3):
            for floor in range(1, 4):
                number = f"{unit}-{floor}01"
                address = f"{grid.name}{unit}单元{floor}01室"
                household = people_services.household_create(grid=grid, number=number, address=address, principal=admin)
                if code == COMPOUND_BUILDINGS[0] and number == "1-301":
                    members = family
                else:
                    members = [(demo_name(rng), rel, None) for rel in ["head", "spouse", "child"][: rng.randint(1, 3)]]
                for name, relationship, born in members:
                    people_services.person_create(
                        name=name,
                        id_number=demo_id_number(rng, born=born),
                        phone=demo_phone(rng),
                        household=household,
                        relationship=relationship,
                        principal=admin,
                    )
                    persons += 1

    _party_chain(admin=admin, node=node, secretary=secretary, logins=logins)
    _volunteers(node=node, logins=logins, rng=random.Random(seed + 3))  # its own draws: the rest stays as it was

    places = [
        ("花园路社区卫生服务中心", PlaceKind.CLINIC, f"{COMMUNITY}-01", "MED"),
        ("花园路小学", PlaceKind.SCHOOL, f"{COMMUNITY}-02", "EDU"),
        ("济南某科技有限公司", PlaceKind.ENTERPRISE, f"{COMMUNITY}-03", "ENT"),
        ("利农庄路便民超市", PlaceKind.SHOP, GRID9, "LIV"),
        ("某驻区单位", PlaceKind.INSTITUTION, f"{COMMUNITY}-05", "INS"),
        ("利农庄路23号院", PlaceKind.COMPOUND, GRID9, None),
        ("花园路街心公园", PlaceKind.PUBLIC, f"{COMMUNITY}-10", None),
    ]
    for name, kind, code, thematic in places:
        grid_services.place_create(
            name=name,
            kind=kind,
            grid=node[code],
            address=node[code].address,
            thematic_grid=node[f"{SUBDISTRICT}-T-{thematic}"] if thematic else None,
            principal=admin,
        )
    medical = _user("doctor", "社区卫生服务中心 刘医生", password=DEMO_PASSWORD)
    account_services.grid_assignment_create(
        node=node[COMMUNITY], user=medical, role=Role.MEDICAL_LIAISON, principal=admin
    )
    _demo_second_factor(medical)
    from epigrid.control import services as control

    control.risk_area_save(code="420000", name="湖北省", principal=admin)
    control.risk_area_save(code="420600", name="湖北省襄阳市", principal=admin)
    if live:
        _control_and_monitoring(admin=admin, node=node, logins={**logins, "doctor": medical}, rng=rng)
        _wishes(node=node, logins=logins)
        _closing_notice(node=node, logins=logins)
    _reporting_units(node=node, logins=logins)
    return {"nodes": len(node), "persons": persons, "logins": DEMO_LOGINS}


def _control_and_monitoring(*, admin, node, logins, rng) -> None:
    """The family from 襄阳 under home quarantine, as it stands a few days in (docs/method.md "5" items 1–6):
    their tip, their team, their links, readings so far, one fever and one missed slot."""
    from django.utils import timezone

    from epigrid.control import services as control
    from epigrid.health import services as health
    from epigrid.people.models import Household

    medical = logins["doctor"]
    now = timezone.now()
    family_home = Household.objects.get(grid=node[COMPOUND_BUILDINGS[0]], number="1-301")
    family = list(family_home.members.order_by("id"))
    reported = now - dt.timedelta(days=4, hours=3)
    control.tip_record(
        persons=family,
        reported_at=reported,
        reporter="网格员 赵敏",
        origin_code="420600",
        travel_mode="self_drive",
        expected_arrival_at=reported + dt.timedelta(hours=5),
        note="一家四人自驾返济",
        principal=logins["member9"],
    )
    control.control_orders_start_household(
        household=family_home,
        kind="home_quarantine",
        reason="risk_area_arrival",
        starts_at=reported + dt.timedelta(hours=5),
        principal=logins["gridhead9"],
    )
    for user, role in ((logins["member9"], "liaison"), (logins["community"], "cadre"), (medical, "medical")):
        control.team_member_add(household=family_home, user=user, role=role, principal=admin)
    for person in family:
        health.resident_link_issue(person=person, principal=logins["member9"])
    # Readings so far: every slot of the past days, today's morning slot, one fever last night.
    pol = health.policy()
    readings = []
    today = timezone.localdate(now)
    for back in range(3, -1, -1):
        day = today - dt.timedelta(days=back)
        for slot in range(len(pol.slot_times)):
            at = health.slot_moment(day, slot, pol) + dt.timedelta(minutes=rng.randint(-20, 20))
            if at > now:
                continue
            for person in family:
                value = "37.6" if (back == 1 and slot == 3 and person == family[0]) else f"36.{rng.randint(2, 8)}"
                if back == 0 and person == family[1]:
                    continue  # 刘芳 has not reported today: a missed-slot alert once the window closes
                readings.append(health.Reading(person.pk, value, at))
    health.temperature_reports_record(readings=readings, source="device", principal=logins["member9"], now=now)
    health.missed_slots_sweep(now=now)
    # 走访: the liaison's home visit the day the quarantine started, then a phone call a day to each
    # member; the doctor's video call on the evening of the fever.
    starts = reported + dt.timedelta(hours=6)
    for person in family:
        health.staff_contact_record(
            person=person, kind="visit", at=starts, note="入户告知居家隔离要求", principal=logins["member9"]
        )
    for back in range(3, -1, -1):
        at = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=back), dt.time(9, 30)))
        if at <= starts or at > now:
            continue
        for person in family:
            health.staff_contact_record(
                person=person,
                kind="phone",
                at=at + dt.timedelta(minutes=rng.randint(0, 20)),
                note="电话询问",
                principal=logins["member9"],
            )
    fever_evening = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=1), dt.time(21, 10)))
    if fever_evening <= now:
        health.staff_contact_record(
            person=family[0], kind="video", at=fever_evening, note="视频问诊，建议复测", principal=medical
        )

    # The compound's one entrance: a checkpoint, a pass per household, a guard on duty round the clock.
    from epigrid.gates import services as gates

    gate = gates.checkpoint_open(grid=node[GRID9], name="北门", principal=admin)
    gates.passes_issue(grid=node[GRID9], principal=admin)
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    for day in range(8):
        gates.shift_create(
            checkpoint=gate,
            starts_at=start + dt.timedelta(days=day),
            ends_at=start + dt.timedelta(days=day + 1),
            leader=logins["guard"],
            guards=[],
            principal=admin,
        )


def _party_chain(*, admin, node, secretary, logins) -> None:
    """党建引领 (docs/method.md "3"): the six-level chain 街道党工委 → 社区党委 → 网格党支部 →
    楼院党小组 → 党员中心户 → 居民户 over the whole community, every household looked after (so the
    coverage audit finds no chain gap), and the article's five temporary branches, their secretary
    the community party secretary."""
    from django.utils import timezone

    from epigrid.mobilization import services as party
    from epigrid.people.models import Household

    def head_of(code: str, number: str):
        return Household.objects.get(grid=node[code], number=number).members.order_by("id").first()

    since = dt.date(2010, 7, 1)
    party.org_create(grid=node[SUBDISTRICT], name="建筑新村街道党工委", principal=admin)
    community = party.org_create(grid=node[COMMUNITY], name="花园路社区党委", principal=admin)
    party.member_add(
        org=community, person=head_of(f"{COMMUNITY}-01-B01", "2-301"), role="secretary", since=since, principal=admin
    )
    for code, grid in node.items():
        if grid.level == GridLevel.GRID:
            branch = party.org_create(grid=grid, name=f"{grid.name}党支部", principal=admin)
            party.member_add(
                org=branch, person=head_of(f"{code}-B01", "2-201"), role="secretary", since=since, principal=admin
            )
    for code, grid in node.items():
        if grid.level != GridLevel.BUILDING:
            continue
        group = party.org_create(grid=grid, name=f"{grid.name}党小组", principal=admin)
        # The group leader's household (1单元101) is the building's 党员中心户 and looks after the
        # building's other households.
        leader = party.member_add(
            org=group, person=head_of(code, "1-101"), role="group_leader", since=since, principal=admin
        )
        central = party.central_household_create(member=leader, principal=admin)
        others = list(Household.objects.filter(grid=grid).exclude(pk=central.household_id).order_by("number"))
        party.households_assign(central=central, households=others, principal=admin)

    opened = timezone.localdate() - dt.timedelta(days=4)
    gate_branch = None
    for site_kind, code, site, name in (
        ("checkpoint", GRID9, "北门", "利农庄路23号院北门卡点临时党支部"),
        ("compound", GRID9, "", "利农庄路23号院楼院临时党支部"),
        ("road_section", COMMUNITY, "利农庄路", "利农庄路路段临时党支部"),
        ("road_section", COMMUNITY, "花园路", "花园路路段临时党支部"),
        ("compound", f"{COMMUNITY}-01", "", "花园路13号院楼院临时党支部"),
    ):
        branch = party.temporary_branch_open(
            grid=node[code],
            site_kind=site_kind,
            site=site,
            name=name,
            reason="新冠肺炎疫情防控",
            opened_on=opened,
            principal=admin,
        )
        party.temporary_member_add(branch=branch, role="secretary", user=secretary, principal=admin)
        gate_branch = gate_branch or branch
    party.temporary_member_add(branch=gate_branch, role="grid_head", user=logins["gridhead9"], principal=admin)
    party.temporary_member_add(
        branch=gate_branch, role="volunteer", person=head_of(COMPOUND_BUILDINGS[1], "1-101"), principal=admin
    )


# 泉心愿's four teams of 花园路社区 (names are data: another community has its own).
VOLUNTEER_TEAMS = [
    ("红色管家", "楼院代购代办、上门服务"),
    ("爱邻联盟", "邻里互助、关爱独居老人"),
    ("解放先锋", "卡点值守、巡查宣传"),
    ("红色工匠", "水电维修、消杀"),
]


def _volunteers(*, node, logins, rng) -> None:
    """The community's four volunteer teams, a few approved volunteers in each (residents the
    community registered and people who signed up by the QR), and one sign-up still to verify."""
    from epigrid.core.scoping import subtree_q
    from epigrid.mobilization import volunteers as vol
    from epigrid.people.models import Person

    staff = logins["community"]
    community = node[COMMUNITY]
    teams = [
        vol.team_create(grid=community, name=name, description=what, principal=staff) for name, what in VOLUNTEER_TEAMS
    ]
    residents = list(
        Person.objects.filter(
            subtree_q("household__grid__path", node[f"{COMMUNITY}-02"].path), relationship="head"
        ).order_by("id")[:4]
    )
    skills = ["开车、代购", "陪护老人", "卡点值守", "水电维修"]
    for team, person, skill in zip(teams, residents, skills, strict=False):
        volunteer = vol.volunteer_add(grid=community, person=person, skills=skill, team=team, principal=staff)
        vol.volunteer_decide(volunteer=volunteer, approve=True, principal=staff)
    for team, skill in zip(teams, skills, strict=True):
        volunteer = vol.volunteer_signup(
            grid=community,
            name=demo_name(rng),
            phone=demo_phone(rng),
            skills=skill,
            availability="工作日晚上、周末",
            team=team,
        )
        vol.volunteer_decide(volunteer=volunteer, approve=True, principal=staff)
    vol.volunteer_signup(
        grid=community, name=demo_name(rng), phone=demo_phone(rng), skills="医护", availability="周末", team=teams[1]
    )


def _reporting_units(*, node, logins) -> None:
    """双报到: a unit based in the area reports to 花园路社区 with two party members, one sent to
    gate duty; the community's appeal to its registered units, acknowledged by the unit."""
    from epigrid.mobilization import units

    staff, community = logins["community"], node[COMMUNITY]
    unit = units.unit_register(
        grid=community,
        kind="resident_unit",
        name="历下区某驻区单位",
        contact_name="周建国",
        contact_phone="13905310001",
        skills="卡点值守、物资转运",
        hours_offered=20,
        principal=staff,
    )
    first = units.unit_member_add(unit=unit, name="孟庆华", phone="13905310002", skills="开车", principal=staff)
    units.unit_member_add(unit=unit, name="刘晓燕", phone="13905310003", skills="宣传", principal=staff)
    units.unit_member_assign(member=first, duty="gate_duty", note="利农庄路23号院北门", principal=staff)
    appeal = units.appeal_issue(
        grid=community,
        title="致辖区双报到单位和党员的倡议书",
        text="疫情就是命令，防控就是责任。请各报到单位和在职党员就近就便参与卡点值守、入户排查和志愿服务。",
        principal=staff,
    )
    units.appeal_acknowledge(ack=appeal.acks.get(unit=unit), by_name="周建国", principal=staff)


def _closing_notice(*, node, logins) -> None:
    """The article's notice on closing 利农庄路23号院 (关于实行封闭管理的告知书), issued to the
    compound's households (for the compound under closed management when it is one)."""
    from epigrid.mobilization import notices

    compound = node[GRID9]
    closed = notices.closed_compounds().filter(pk=compound.pk).exists()
    notices.notice_issue(
        grid=compound,
        scope="closed_compound" if closed else "grid",
        title="关于利农庄路23号院实行封闭管理的告知书",
        text=(
            "各位居民：因疫情防控需要，利农庄路23号院自即日起实行封闭管理，只保留北门一个出入口，"
            "进出人员须测温、登记。生活物资由社区统一配送，有困难请联系网格员。感谢您的理解和配合！"
        ),
        principal=logins["community"],
    )


def _wishes(*, node, logins) -> None:
    """The quarantined family's wish from their personal link, claimed by a 红色管家 volunteer on
    the volunteer's own link and confirmed done by the grid member; and a neighbour's wish still
    open, to claim."""
    from epigrid.mobilization import volunteers as vol
    from epigrid.mobilization.models import Volunteer
    from epigrid.people.models import Household

    family_home = Household.objects.get(grid=node[COMPOUND_BUILDINGS[0]], number="1-301")
    wish = vol.wish_post_by_resident(person=family_home.members.order_by("id").first(), text="代购蔬菜和常用药")
    volunteer = Volunteer.objects.filter(team__name="红色管家", status="approved").order_by("id").first()
    # The volunteer has the link the community sent, and takes the wish on it.
    vol.volunteer_link_issue(volunteer=volunteer, principal=logins["community"])
    vol.wish_claim_by_volunteer(wish=wish, volunteer=volunteer)
    vol.wish_done(wish=wish, note="已送到门口，无接触交接", principal=logins["member9"])
    neighbour = Household.objects.get(grid=node[COMPOUND_BUILDINGS[0]], number="2-101")
    vol.wish_post(household=neighbour, text="修水管", principal=logins["member9"])
