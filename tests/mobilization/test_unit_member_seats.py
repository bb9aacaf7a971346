"""双报到: a party member of a registered unit sent to a temporary branch takes a seat in it (a
membership, shown on the branch); sent elsewhere, or the seat ended, the two stay in step."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from epigrid.core.errors import Conflict, DomainError, NotFound
from epigrid.mobilization import services, units
from epigrid.mobilization.models import TemporaryBranchMember, UnitMember
from tests.mobilization.world import add_units


@pytest.fixture
def seat_world(world):
    keys = add_units(world)
    branch = services.temporary_branch_open(
        grid=world.nodes["S-C-G1"],
        site_kind="compound",
        name="利农庄路23号院临时党支部",
        reason="疫情防控",
        opened_on=timezone.localdate(),
        principal=world.admin,
    )
    return {"branch": branch, "member": UnitMember.objects.get(pk=keys["unit_member"])}


def test_a_unit_member_sent_to_a_branch_sits_in_it_and_shows_on_its_page(world, seat_world):
    branch, member = seat_world["branch"], seat_world["member"]
    units.unit_member_assign(member=member, branch=branch, principal=world.users["staff"])
    seat = TemporaryBranchMember.objects.active().get(branch=branch, unit_member=member)
    assert seat.role == "unit_member" and seat.display_name == "陈党员（建新供电所）"
    # The same assignment again: the same seat.
    units.unit_member_assign(member=member, branch=branch, principal=world.users["staff"])
    assert TemporaryBranchMember.objects.active().filter(unit_member=member).count() == 1
    client = Client()
    client.force_login(world.users["head1"])
    page = client.get(reverse("mobilization:temporary_branch", args=[branch.pk])).content.decode()
    assert "陈党员（建新供电所）" in page
    # Sent to a duty instead: the seat ends.
    units.unit_member_assign(member=member, duty="disinfection", principal=world.users["staff"])
    assert not TemporaryBranchMember.objects.active().filter(unit_member=member).exists()
    assert TemporaryBranchMember.objects.get(unit_member=member).ended_at is not None


def test_ending_the_seat_clears_the_members_assignment(world, seat_world):
    branch, member = seat_world["branch"], seat_world["member"]
    seat = services.temporary_member_add(
        branch=branch, role="unit_member", unit_member=member, principal=world.users["staff"]
    )
    member.refresh_from_db()
    assert (member.assignment, member.branch_id) == ("branch", branch.pk)
    services.temporary_member_end(member=seat, principal=world.users["staff"])
    member.refresh_from_db()
    assert (member.assignment, member.branch_id) == ("", None)


def test_a_seat_is_for_a_member_of_a_unit_of_the_branchs_community(world, seat_world):
    branch, member = seat_world["branch"], seat_world["member"]
    with pytest.raises(DomainError) as refused:
        services.temporary_member_add(
            branch=branch, role="unit_member", unit_member=member, person=world.persons["p1"], principal=world.admin
        )
    assert refused.value.code == "branch_member_who"
    with pytest.raises(DomainError) as refused:
        services.temporary_member_add(branch=branch, role="volunteer", unit_member=member, principal=world.admin)
    assert refused.value.code == "branch_role"
    services.temporary_branch_close(branch=branch, closed_on=timezone.localdate(), principal=world.admin)
    branch.refresh_from_db()
    with pytest.raises((Conflict, NotFound)):
        units.unit_member_assign(member=member, branch=branch, principal=world.users["staff"])
    assert not TemporaryBranchMember.objects.filter(unit_member=member).exists()


def test_the_branch_api_names_the_unit_members_seat(world, seat_world):
    from tests.factories import api

    branch, member = seat_world["branch"], seat_world["member"]
    units.unit_member_assign(member=member, branch=branch, principal=world.users["staff"])
    answer = api(world, "head1")("get", f"/api/v1/mobilization/temporary-branches/{branch.pk}")
    assert answer.status_code == 200
    seats = [s for s in answer.json()["members"] if s["unit_member_id"] == member.pk]
    assert [(s["role"], s["name"]) for s in seats] == [("unit_member", "陈党员（建新供电所）")]
