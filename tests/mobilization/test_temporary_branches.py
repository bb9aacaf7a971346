"""临时党支部: set up at a checkpoint, a compound or a road section, staffed, closed with its date,
shown on the gate page; only where the caller may."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.gates import services as gates
from epigrid.mobilization import selectors, services
from epigrid.mobilization.models import TemporaryBranch, TemporaryBranchMember
from tests.factories import api

TODAY = timezone.localdate


def _branch(world, **kwargs):
    values = {
        "grid": world.nodes["S-C-G1"],
        "site_kind": "checkpoint",
        "site": "东门",
        "name": "东门卡点临时党支部",
        "reason": "新冠肺炎疫情",
        "opened_on": TODAY() - dt.timedelta(days=3),
        "principal": world.users["secretary"],
    }
    return services.temporary_branch_open(**(values | kwargs))


def test_a_temporary_branch_at_a_checkpoint_is_shown_at_the_gate(world):
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="东门", principal=world.users["secretary"])
    branch = _branch(world)
    services.temporary_member_add(
        branch=branch, role="secretary", user=world.users["secretary"], principal=world.users["secretary"]
    )
    services.temporary_member_add(
        branch=branch, role="grid_head", user=world.users["head1"], principal=world.users["secretary"]
    )
    services.temporary_member_add(
        branch=branch, role="volunteer", person=world.persons["p1"], principal=world.users["secretary"]
    )
    client = Client()
    client.force_login(world.users["guard1"])
    page = client.get(f"/gates/{checkpoint.pk}/").content.decode()
    assert "临时党支部" in page and "东门卡点临时党支部" in page and "张三" in page and "head1" in page
    # Another gate of the compound does not show it; closing it takes it off the gate.
    other = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    assert list(selectors.branches_at_checkpoint(other)) == []
    services.temporary_branch_close(branch=branch, closed_on=TODAY(), principal=world.users["secretary"])
    assert list(selectors.branches_at_checkpoint(checkpoint)) == []
    assert not TemporaryBranchMember.objects.active().filter(branch=branch).exists()
    assert "东门卡点临时党支部" not in client.get(f"/gates/{checkpoint.pk}/").content.decode()


def test_a_compound_branch_shows_at_each_of_its_gates_and_a_road_section_lies_in_a_community(world):
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="东门", principal=world.users["secretary"])
    compound = _branch(world, site_kind="compound", site="", name="第1网格楼院临时党支部")
    assert list(selectors.branches_at_checkpoint(checkpoint)) == [compound]
    road = _branch(world, grid=world.nodes["S-C"], site_kind="road_section", site="利农庄路", name="利农庄路临时党支部")
    assert road.grid == world.nodes["S-C"]
    with pytest.raises(DomainError) as wrong:
        _branch(world, grid=world.nodes["S-C"], site_kind="checkpoint")
    assert wrong.value.code == "branch_site_grid"
    with pytest.raises(DomainError):
        _branch(world, site_kind="road_section")


def test_opening_twice_is_one_branch_and_dates_are_checked(world):
    branch = _branch(world)
    assert _branch(world) == branch and TemporaryBranch.objects.count() == 1
    with pytest.raises(DomainError):
        _branch(world, name="明日支部", opened_on=TODAY() + dt.timedelta(days=1))
    with pytest.raises(DomainError) as early:
        services.temporary_branch_close(
            branch=branch, closed_on=branch.opened_on - dt.timedelta(days=1), principal=world.users["secretary"]
        )
    assert early.value.code == "branch_closed_on"
    services.temporary_branch_close(branch=branch, closed_on=TODAY(), principal=world.users["secretary"])
    with pytest.raises(Conflict):
        services.temporary_member_add(
            branch=branch, role="volunteer", person=world.persons["p1"], principal=world.users["secretary"]
        )


def test_one_secretary_and_staff_only_from_the_community(world):
    branch = _branch(world)
    secretary = world.users["secretary"]
    services.temporary_member_add(branch=branch, role="secretary", user=secretary, principal=secretary)
    with pytest.raises(Conflict):
        services.temporary_member_add(branch=branch, role="secretary", user=world.users["head1"], principal=secretary)
    from tests.factories import make_user

    outsider = make_user("outsider")
    with pytest.raises(DomainError) as elsewhere:
        services.temporary_member_add(branch=branch, role="grid_head", user=outsider, principal=secretary)
    assert elsewhere.value.code == "branch_member_elsewhere"
    # The same seat again is a retry.
    seat = services.temporary_member_add(branch=branch, role="secretary", user=secretary, principal=secretary)
    assert TemporaryBranchMember.objects.active().filter(branch=branch).count() == 1 and seat.role == "secretary"


def test_another_compound_cannot_see_or_change_it(world):
    branch = _branch(world)
    with pytest.raises(NotFound):
        selectors.temporary_branch_get(user=world.users["member2"], pk=branch.pk)
    with pytest.raises(NotFound):
        services.temporary_branch_close(branch=branch, closed_on=TODAY(), principal=world.users["head2"])
    with pytest.raises(Forbidden):  # in sight, not theirs to change
        services.temporary_branch_close(branch=branch, closed_on=TODAY(), principal=world.users["member1"])
    assert [b.name for b in selectors.temporary_branch_list(user=world.users["member2"])] == []
    assert api(world, "member2")("get", f"/api/v1/mobilization/temporary-branches/{branch.pk}").status_code == 404
    answer = api(world, "member1")("get", "/api/v1/mobilization/temporary-branches")
    assert [b["name"] for b in answer.json()] == ["东门卡点临时党支部"]


def test_closing_on_the_page_asks_for_confirmation(world):
    branch = _branch(world)
    client = Client()
    client.force_login(world.users["secretary"])
    assert client.post(f"/mobilization/temporary-branches/{branch.pk}/close/", {}).status_code == 400
    branch.refresh_from_db()
    assert branch.closed_on is None
    response = client.post(f"/mobilization/temporary-branches/{branch.pk}/close/", {"confirm": "yes"})
    assert response.status_code == 302
    branch.refresh_from_db()
    assert branch.closed_on == TODAY()
