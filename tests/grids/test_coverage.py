import json

import pytest
from django.core.management import call_command

from epigrid.accounts import services as account_services
from epigrid.accounts.choices import Role
from epigrid.grids import services
from epigrid.grids.choices import GridLevel, PlaceKind
from epigrid.oversight import selectors
from epigrid.people import services as people_services
from tests.factories import make_id_number, make_user


def test_fully_staffed_world_has_no_gaps(world):
    report = selectors.coverage_audit(user=world.users["commander"])
    assert report.ok, report.gap_counts
    # The clinic is in a geographic and a thematic grid: an overlap, information only.
    assert report.overlap_counts == {"place_in_thematic_grid": 1}


def test_every_kind_of_gap_is_reported(world):
    admin = world.admin
    grid3 = services.grid_node_create(
        parent=world.nodes["S-C"], code="S-C-G3", name="第3网格", level=GridLevel.GRID, principal=admin
    )
    services.grid_node_create(parent=grid3, code="S-C-G3-B1", name="楼", level=GridLevel.BUILDING, principal=admin)
    household = people_services.household_create(
        grid=world.nodes["S-C"], number="X1", address="社区直管户", principal=admin
    )
    people_services.person_create(name="无网格", id_number=make_id_number(), household=household, principal=admin)
    services.place_create(name="社区门店", kind=PlaceKind.SHOP, grid=world.nodes["S-C"], principal=admin)
    report = selectors.coverage_audit(user=world.users["commander"])
    assert report.gap_counts == {
        "place_not_in_leaf_grid": 1,
        "household_not_in_leaf_grid": 1,
        "person_not_in_leaf_grid": 1,
        "grid_without_member": 1,
        "building_without_head": 1,
        "node_without_responsible": 1,  # 第3网格 has no 网格长
    }
    gap = next(f for f in report.gaps if f.kind == "grid_without_member")
    assert gap.grid_code == "S-C-G3" and gap.fix_url == "/grids/S-C-G3/"
    assert all(f.severity == "error" for f in report.gaps)

    # Fixing the gaps clears them.
    member = make_user("member3")
    account_services.grid_assignment_create(node=grid3, user=member, role=Role.GRID_MEMBER, principal=admin)
    account_services.grid_assignment_create(node=grid3, user=member, role=Role.GRID_HEAD, principal=admin)
    assert "grid_without_member" not in selectors.coverage_audit(user=world.users["commander"]).gap_counts


def test_ending_an_assignment_opens_a_gap(world):
    assignment = world.users["bhead1"].grid_assignments.get()
    account_services.grid_assignment_end(assignment=assignment, principal=world.admin)
    report = selectors.coverage_audit(user=world.users["commander"])
    assert report.gap_counts == {"building_without_head": 1}


def test_coverage_is_scoped(world):
    services.place_create(name="社区门店", kind=PlaceKind.SHOP, grid=world.nodes["S-C"], principal=world.admin)
    assert selectors.coverage_audit(user=world.users["member1"]).ok  # the community-level gap is not theirs
    assert not selectors.coverage_audit(user=world.users["staff"]).ok
    assert selectors.coverage_audit(user=world.users["norole"]).ok is True  # sees nothing at all


def test_staff_in_several_grids_is_an_overlap(world):
    account_services.grid_assignment_create(
        node=world.nodes["S-C-G2"], user=world.users["member1"], role=Role.GRID_MEMBER, principal=world.admin
    )
    report = selectors.coverage_audit(user=world.users["commander"])
    assert report.overlap_counts["staff_in_several_grids"] == 2
    assert report.ok


def test_cli_json_and_exit_code(world, capsys):
    call_command("coverage", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["gaps"] == []
    services.place_create(name="社区门店", kind=PlaceKind.SHOP, grid=world.nodes["S-C"], principal=world.admin)
    with pytest.raises(SystemExit) as excinfo:
        call_command("coverage", "--json")
    assert excinfo.value.code == 1
    assert json.loads(capsys.readouterr().out)["gap_counts"] == {"place_not_in_leaf_grid": 1}


def test_subtree_counts(world):
    nodes = [world.nodes[c] for c in ("S", "S-C", "S-C-G1", "S-C-G1-B1", "S-C-G2", "S-MED")]
    counts = selectors.subtree_counts(nodes=nodes)
    s, _c, g1, b1, g2, med = (counts[n.pk] for n in nodes)
    assert (s.persons, s.households, s.places) == (3, 2, 2)
    assert (g1.persons, g1.households, g1.places) == (2, 1, 1)
    assert (b1.persons, g2.persons, g2.places) == (2, 1, 1)
    assert med.places == 1  # the clinic, filed under the medical grid too
    assert s.staff == 13 - 1  # every assigned user but "norole" (12 distinct assignees)
    assert g1.staff == 4  # head1, member1, guard1, bhead1
    # One person holding roles at two grids is one of the community's staff, not two.
    account_services.grid_assignment_create(
        node=world.nodes["S-C-G2"], user=world.users["member1"], role=Role.GRID_MEMBER, principal=world.admin
    )
    counts = selectors.subtree_counts(nodes=nodes)
    assert (counts[world.nodes["S-C-G2"].pk].staff, counts[world.nodes["S-C"].pk].staff) == (4, 9)
    assert counts[world.nodes["S"].pk].staff == 12


def test_counts_query_count_does_not_grow_with_nodes(world, django_assert_max_num_queries):
    nodes = list(world.nodes.values())
    with django_assert_max_num_queries(5):
        selectors.subtree_counts(nodes=nodes)


def test_tree_level_rules(world):
    from epigrid.core.errors import Conflict, DomainError

    with pytest.raises(DomainError):
        services.grid_node_create(
            parent=world.nodes["S-C-G1-B1"], code="X", name="x", level=GridLevel.BUILDING, principal=world.admin
        )
    with pytest.raises(DomainError):
        services.grid_node_create(
            parent=world.nodes["S"], code="X", name="x", level=GridLevel.GRID, principal=world.admin
        )
    with pytest.raises(Conflict):
        services.grid_node_create(
            parent=world.nodes["S-C"], code="s-c-g1", name="x", level=GridLevel.GRID, principal=world.admin
        )
