"""The six-level party chain (六级链条): set up, read above a household, its coverage gaps, the
ledger, and who may see or change it."""

import io

import pytest
import xlsxwriter
from django.test import Client
from python_calamine import CalamineWorkbook

from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound, RowErrors
from epigrid.core.models import AuditEvent
from epigrid.mobilization import ledgers, selectors, services
from epigrid.mobilization.models import CentralHousehold, LookedAfter, PartyMember, PartyOrg
from epigrid.oversight.selectors import coverage_audit
from epigrid.people import services as people_services
from tests.factories import api, make_id_number

CHAIN_GAPS = {
    "chain_community_without_committee",
    "chain_compound_without_branch",
    "chain_building_without_group",
    "chain_household_without_central",
}


def chain_gaps(user, root=None) -> dict:
    return {k: v for k, v in coverage_audit(user=user, root=root).gap_counts.items() if k in CHAIN_GAPS}


def _person(world, name, household):
    person = people_services.person_create(
        name=name, id_number=make_id_number(), household=household, principal=world.admin
    )
    world.persons[name] = person
    return person


def build_chain(world):
    """The whole chain of the base world: every compound a branch, every building a group, every
    household looked after. 张三's household (h1) is 第1网格's 党员中心户 and looks after a neighbour."""
    admin, n = world.admin, world.nodes
    orgs = {}
    for code, name in (
        ("S", "建新街道党工委"),
        ("S-C", "花园路社区党委"),
        ("S-C-G1", "第1网格党支部"),
        ("S-C-G2", "第2网格党支部"),
        ("S-C-G1-B1", "1号楼党小组"),
        ("S-C-G2-B1", "2号楼党小组"),
    ):
        orgs[code] = services.org_create(grid=n[code], name=name, principal=admin)
    world.households["h1n"] = people_services.household_create(
        grid=n["S-C-G1-B1"], number="1-102", address="S-C-G1-B1 1-102", principal=admin
    )
    secretary = _person(world, "陈书记", world.households["h1n"])
    services.member_add(org=orgs["S-C"], person=secretary, role="secretary", principal=admin)
    services.member_add(org=orgs["S-C-G1"], person=world.persons["p1b"], role="secretary", principal=admin)
    leader = services.member_add(
        org=orgs["S-C-G1-B1"], person=world.persons["p1"], role="group_leader", principal=admin
    )
    central = services.central_household_create(member=leader, principal=admin)
    services.households_assign(central=central, households=[world.households["h1n"]], principal=admin)
    member2 = services.member_add(org=orgs["S-C-G2-B1"], person=world.persons["p2"], principal=admin)
    services.central_household_create(member=member2, principal=admin)
    return orgs


# ---------------------------------------------------------------- services


def test_the_chain_above_a_household_names_who_answers_up_to_the_street(world):
    build_chain(world)
    chain = selectors.household_chain(world.households["h1n"])
    assert [link.level for link in chain] == [
        "household",
        "central",
        "building_group",
        "grid_branch",
        "community_committee",
        "street_committee",
    ]
    by_level = {link.level: link for link in chain}
    assert by_level["central"].name == "S-C-G1-B1 1-101"  # 张三's household
    assert [m.person.name for m in by_level["central"].responsible] == ["张三"]
    assert by_level["building_group"].name == "1号楼党小组"
    assert [m.person.name for m in by_level["grid_branch"].responsible] == ["李四"]
    assert [m.person.name for m in by_level["community_committee"].responsible] == ["陈书记"]
    assert by_level["street_committee"].name == "建新街道党工委" and by_level["street_committee"].responsible == []
    assert not any(link.missing for link in chain)


def test_the_household_page_shows_the_chain(world):
    build_chain(world)
    client = Client()
    client.force_login(world.users["member1"])
    page = client.get(f"/people/households/{world.households['h1n'].pk}/").content.decode()
    assert "六级链条" in page and "第1网格党支部" in page and "陈书记" in page and "建新街道党工委" in page


def test_an_organisation_is_of_its_grid_level_and_set_up_once(world):
    admin = world.admin
    with pytest.raises(DomainError) as wrong:
        services.org_create(grid=world.nodes["S-C-G1"], name="x", kind="building_group", principal=admin)
    assert wrong.value.code == "org_grid_level"
    with pytest.raises(DomainError):
        services.org_create(grid=world.nodes["S-MED"], name="专属网格党支部", principal=admin)
    branch = services.org_create(grid=world.nodes["S-C-G1"], name="第1网格党支部", principal=admin)
    assert branch.kind == "grid_branch"
    events = AuditEvent.objects.count()
    assert services.org_create(grid=world.nodes["S-C-G1"], name="第1网格党支部", principal=admin) == branch
    assert AuditEvent.objects.count() == events  # a retry writes nothing
    with pytest.raises(Conflict):
        services.org_create(grid=world.nodes["S-C-G1"], name="另一个支部", principal=admin)


def test_one_secretary_per_organisation_and_one_organisation_per_member(world):
    admin = world.admin
    branch = services.org_create(grid=world.nodes["S-C-G1"], name="第1网格党支部", principal=admin)
    other = services.org_create(grid=world.nodes["S-C-G2"], name="第2网格党支部", principal=admin)
    services.member_add(org=branch, person=world.persons["p1"], role="secretary", principal=admin)
    with pytest.raises(Conflict) as taken:
        services.member_add(org=branch, person=world.persons["p1b"], role="secretary", principal=admin)
    assert taken.value.code == "org_role_taken"
    with pytest.raises(Conflict) as elsewhere:
        services.member_add(org=other, person=world.persons["p1"], principal=admin)
    assert elsewhere.value.code == "member_elsewhere"
    with pytest.raises(DomainError) as role:
        services.member_add(org=branch, person=world.persons["p1b"], role="group_leader", principal=admin)
    assert role.value.code == "member_role"
    # Another office in the same organisation replaces the former one.
    member = services.member_add(org=branch, person=world.persons["p1"], role="member", principal=admin)
    assert member.role == "member" and PartyMember.objects.active().filter(person=world.persons["p1"]).count() == 1


def test_a_central_household_looks_after_households_of_its_own_compound_only(world):
    orgs = build_chain(world)
    central = CentralHousehold.objects.get(household=world.households["h1"])
    with pytest.raises(DomainError) as other:
        services.households_assign(central=central, households=[world.households["h2"]], principal=world.admin)
    assert other.value.code == "looked_after_compound"
    # Moving a household to another central household ends the former link.
    neighbour = world.households["h1n"]
    other_member = services.member_add(
        org=orgs["S-C-G1"], person=_person(world, "周党员", neighbour), principal=world.admin
    )
    second = services.central_household_create(member=other_member, principal=world.admin)
    assert second.household == neighbour  # a household looked after becomes a central household itself
    assert not LookedAfter.objects.active().filter(household=neighbour).exists()
    assert services.households_assign(central=second, households=[neighbour], principal=world.admin) == 0
    # A member heading a central household is not ended before its households are handed over.
    with pytest.raises(Conflict):
        services.member_end(member=PartyMember.objects.get(person=world.persons["p1"]), principal=world.admin)


# ---------------------------------------------------------------- coverage (零疏漏)


def test_chain_gaps_count_only_where_the_chain_is_set_up(world):
    assert chain_gaps(world.users["commander"]) == {}
    services.org_create(grid=world.nodes["S"], name="建新街道党工委", principal=world.admin)
    assert chain_gaps(world.users["commander"]) == {
        "chain_community_without_committee": 1,
        "chain_compound_without_branch": 2,
        "chain_building_without_group": 2,
        "chain_household_without_central": 2,
    }


def test_a_complete_chain_has_no_gap_and_a_removed_branch_is_one(world):
    orgs = build_chain(world)
    assert chain_gaps(world.users["commander"]) == {}
    # 第2网格's branch has no members: it may be dissolved, and its compound is a gap again.
    services.org_dissolve(org=orgs["S-C-G2"], principal=world.users["secretary"])
    report = coverage_audit(user=world.users["commander"])
    assert chain_gaps(world.users["commander"]) == {"chain_compound_without_branch": 1}
    gap = next(g for g in report.gaps if g.kind == "chain_compound_without_branch")
    assert gap.grid_code == "S-C-G2" and gap.fix_url == "/mobilization/chain/?grid=S-C-G2#new-org"
    # A grid member of 第1网格 does not see the other compound's gap.
    assert chain_gaps(world.users["member1"]) == {}
    assert chain_gaps(world.users["member2"]) == {"chain_compound_without_branch": 1}
    with pytest.raises(Conflict):  # 第1网格's branch has its secretary
        services.org_dissolve(org=orgs["S-C-G1"], principal=world.users["secretary"])


def test_a_household_without_its_central_household_is_a_gap_linked_to_its_page(world):
    build_chain(world)
    link = LookedAfter.objects.get(household=world.households["h1n"], ended_at__isnull=True)
    services.household_release(link=link, principal=world.users["head1"])
    report = coverage_audit(user=world.users["head1"])
    gap = next(g for g in report.gaps if g.kind == "chain_household_without_central")
    assert gap.object_id == world.households["h1n"].pk and gap.fix_url.endswith("#chain")


def test_a_party_group_covering_two_buildings_covers_both(world):
    admin = world.admin
    world.nodes["S-C-G1-B2"] = __import__("epigrid.grids.services", fromlist=["x"]).grid_node_create(
        parent=world.nodes["S-C-G1"], code="S-C-G1-B2", name="2号楼", level="building", principal=admin
    )
    services.org_create(grid=world.nodes["S"], name="建新街道党工委", principal=admin)
    services.org_create(
        grid=world.nodes["S-C-G1-B1"], name="1、2号楼党小组", also_covers=[world.nodes["S-C-G1-B2"]], principal=admin
    )
    assert chain_gaps(world.users["commander"])["chain_building_without_group"] == 1  # only 第2网格's
    with pytest.raises(DomainError):
        services.org_create(
            grid=world.nodes["S-C-G2-B1"], name="x", also_covers=[world.nodes["S-C-G1-B2"]], principal=admin
        )


# ---------------------------------------------------------------- scoping


def test_a_grid_member_of_another_compound_cannot_see_or_change_the_chain(world):
    orgs = build_chain(world)
    branch = orgs["S-C-G1"]
    with pytest.raises(NotFound):
        selectors.org_get(user=world.users["member2"], pk=branch.pk)
    with pytest.raises(NotFound):
        services.member_add(org=branch, person=world.persons["p1b"], principal=world.users["member2"])
    assert [o.name for o in selectors.org_list(user=world.users["member2"])] == ["第2网格党支部", "2号楼党小组"]
    # In sight but not theirs to change: a grid member of the compound (403); its grid head may.
    with pytest.raises(Forbidden):
        services.org_create(grid=world.nodes["S-C-G1-B1"], name="x", principal=world.users["member1"])
    client = Client()
    client.force_login(world.users["member2"])
    assert client.get(f"/mobilization/orgs/{branch.pk}/").status_code == 404
    page = client.get("/mobilization/chain/").content.decode()
    assert "第2网格党支部" in page and "第1网格党支部" not in page
    call = api(world, "member2")
    assert call("get", f"/api/v1/mobilization/orgs/{branch.pk}").status_code == 404
    assert call("get", f"/api/v1/mobilization/households/{world.households['h1'].pk}/chain").status_code == 404
    head = api(world, "head1")
    answer = head("post", f"/api/v1/mobilization/orgs/{branch.pk}/members", {"person_id": world.persons["陈书记"].pk})
    assert answer.status_code == 409 and answer.json()["code"] == "member_elsewhere"


def test_pages_set_up_the_chain_for_the_grid_head(world):
    client = Client()
    client.force_login(world.users["head1"])
    response = client.post("/mobilization/chain/", {"grid": "S-C-G1", "name": "第1网格党支部"})
    branch = PartyOrg.objects.get(grid=world.nodes["S-C-G1"])
    assert response.status_code == 302 and response["Location"] == f"/mobilization/orgs/{branch.pk}/"
    assert (
        client.post(
            f"/mobilization/orgs/{branch.pk}/members/", {"person": world.persons["p1"].pk, "role": "secretary"}
        ).status_code
        == 302
    )
    page = client.get(f"/mobilization/orgs/{branch.pk}/").content.decode()
    assert "张三" in page and "书记" in page
    # Dissolving asks for confirmation first.
    assert client.post(f"/mobilization/orgs/{branch.pk}/dissolve/", {}).status_code == 400
    assert PartyOrg.objects.active().filter(pk=branch.pk).exists()


# ---------------------------------------------------------------- the ledger


def _xlsx(rows) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


HEADER = ["类型", "网格编码", "名称", "姓名", "身份证号码", "职务", "起始日期", "户号", "联系户"]


def _ledger(world, *, bad: bool = False) -> bytes:
    from epigrid.core.crypto import unseal

    def id_of(key):
        return unseal(world.persons[key].id_number_sealed)

    if "1-103" not in world.households:
        world.households["1-103"] = people_services.household_create(
            grid=world.nodes["S-C-G1-B1"], number="1-103", address="S-C-G1-B1 1-103", principal=world.admin
        )
    return _xlsx(
        [
            HEADER,
            ["街道党工委", "S", "建新街道党工委"],
            ["社区党委", "S-C", "花园路社区党委"],
            ["网格党支部", "S-C-G1", "第1网格党支部"],
            ["楼院党小组", "S-C-G1-B1", "1号楼党小组"],
            ["党员", "S-C-G1", "", "李四", id_of("p1b"), "书记", "2015-07-01"],
            ["党员", "S-C-G1-B1", "", "张三", id_of("p1"), "党小组长", "2018-07-01"],
            ["党员中心户", "S-C-G1-B1", "", "张三", id_of("p1"), "", "", "1-101", "1-103" if not bad else "9-999"],
        ]
    )


def test_the_chain_ledger_imports_all_or_nothing(world):
    staff = world.users["commander"]
    with pytest.raises(RowErrors) as refused:
        ledgers.chain_import(data=_ledger(world, bad=True), file_name="chain.xlsx", principal=staff)
    assert [(r["row"], r["column"], r["code"]) for r in refused.value.rows] == [(8, "联系户", "household_unknown")]
    assert not PartyOrg.objects.exists() and not PartyMember.objects.exists()
    assert ledgers.chain_import(data=_ledger(world), file_name="chain.xlsx", principal=staff) == 7
    chain = {link.level: link for link in selectors.household_chain(world.households["1-103"])}
    assert chain["central"].name == "S-C-G1-B1 1-101" and chain["grid_branch"].responsible[0].person.name == "李四"
    assert AuditEvent.objects.filter(action="chain.import").count() == 1
    # The same file again changes nothing.
    events = AuditEvent.objects.count()
    assert ledgers.chain_import(data=_ledger(world), file_name="chain.xlsx", principal=staff) == 7
    assert AuditEvent.objects.count() == events + 1  # only the import's own record


def test_the_ledger_refuses_unknown_people_and_grids_out_of_sight(world):
    rows = [
        HEADER,
        ["网格党支部", "S-D-G9", "外网格党支部"],
        ["党员", "S-C-G1", "", "无名", make_id_number()],
        ["党小组", "S-C-G1", "x"],
    ]
    with pytest.raises(RowErrors) as refused:
        ledgers.chain_import(data=_xlsx(rows), file_name="chain.xlsx", principal=world.users["staff"])
    assert [r["code"] for r in refused.value.rows] == ["grid_unknown", "org_missing", "chain_row_kind"]
    with pytest.raises(Forbidden):  # importing needs import_export
        ledgers.chain_import(data=_xlsx(rows), file_name="chain.xlsx", principal=world.users["member1"])


def test_the_ledger_round_trips(world):
    build_chain(world)
    out, name = ledgers.chain_export(node=world.nodes["S"], principal=world.users["commander"])
    data = out.read()
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert [str(c) for c in sheet[0][:9]] == HEADER and len(sheet) == 1 + 6 + 4 + 2
    before = (PartyOrg.objects.count(), PartyMember.objects.count(), LookedAfter.objects.count())
    assert ledgers.chain_import(data=data, file_name=name, principal=world.users["commander"]) == 12
    assert (PartyOrg.objects.count(), PartyMember.objects.count(), LookedAfter.objects.count()) == before
    assert AuditEvent.objects.filter(action="ledger.export").count() == 1


def test_no_chain_panel_where_no_chain_is_set_up(world):
    client = Client()
    client.force_login(world.users["member1"])
    page = client.get(f"/people/households/{world.households['h1'].pk}/").content.decode()
    assert "六级链条" not in page
