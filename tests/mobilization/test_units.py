"""双报到: units and their party members register with the community, the community assigns the
members to a temporary branch, a duty or a wish, and issues an appeal (倡议书) to all registered
units, whose acknowledgements it records; the appeal's page shows who has not acknowledged."""

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from epigrid.core.errors import Conflict, DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.mobilization import services, units
from epigrid.mobilization import volunteers as vol
from epigrid.mobilization.models import AppealAck, ReportingUnit, UnitMember
from tests.factories import api


def _client(world, username):
    client = Client()
    client.force_login(world.users[username])
    return client


def _unit(world, name="建新供电所", kind="resident_unit"):
    return units.unit_register(
        grid=world.nodes["S-C"],
        kind=kind,
        name=name,
        contact_name="冯主任",
        contact_phone="13900000031",
        skills="电工",
        hours_offered=8,
        principal=world.users["staff"],
    )


def test_register_assign_appeal_and_acknowledge_on_the_pages(world):
    staff = _client(world, "staff")
    response = staff.post(
        reverse("mobilization:units"),
        {
            "action": "unit",
            "grid": "S-C",
            "kind": "building_enterprise",
            "name": "花园大厦",
            "contact_name": "蒋经理",
            "contact_phone": "139 0000 0041",
            "skills": "保洁",
            "hours_offered": "10",
        },
    )
    unit = ReportingUnit.objects.get()
    assert response.status_code == 302 and unit.kind == "building_enterprise"
    page = staff.get(reverse("mobilization:units")).content.decode()
    assert "花园大厦" in page and "139****0041" in page and "13900000041" not in page
    staff.post(reverse("mobilization:unit", args=[unit.pk]), {"name": "陈党员", "phone": "13900000032"})
    member = UnitMember.objects.get()
    assert "陈党员" in staff.get(reverse("mobilization:unit", args=[unit.pk])).content.decode()

    # Assigned to a temporary branch of the community, then to a wish (replacing it).
    branch = services.temporary_branch_open(
        grid=world.nodes["S-C-G1"],
        site_kind="compound",
        name="第1网格临时党支部",
        opened_on=timezone.localdate(),
        principal=world.users["staff"],
    )
    staff.post(reverse("mobilization:unit_member_assign", args=[member.pk]), {"target": f"branch:{branch.pk}"})
    member.refresh_from_db()
    assert member.assignment == "branch" and member.branch == branch
    assert "第1网格临时党支部" in staff.get(reverse("mobilization:unit", args=[unit.pk])).content.decode()
    wish = vol.wish_post(household=world.households["h1"], text="代购蔬菜", principal=world.users["staff"])
    staff.post(reverse("mobilization:unit_member_assign", args=[member.pk]), {"target": f"wish:{wish.pk}"})
    member.refresh_from_db()
    assert member.assignment == "wish" and member.wish == wish and member.branch is None
    # Nothing chosen: refused with the reason, nothing changed.
    response = staff.post(reverse("mobilization:unit_member_assign", args=[member.pk]), {"target": ""})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.wish == wish

    # A second unit, then the appeal to both: the page names who has not acknowledged.
    _unit(world, name="花园路小学", kind="resident_unit")
    staff.post(
        reverse("mobilization:units"), {"action": "appeal", "grid": "S-C", "title": "倡议书", "text": "共同抗疫。"}
    )
    ack = AppealAck.objects.get(unit=unit)
    page = staff.get(reverse("mobilization:appeal", args=[ack.appeal_id])).content.decode()
    assert page.count('data-pending="1"') == 2
    staff.post(reverse("mobilization:appeal_ack", args=[ack.pk]), {"by_name": "蒋经理"})
    page = staff.get(reverse("mobilization:appeal", args=[ack.appeal_id])).content.decode()
    assert page.count('data-pending="1"') == 1 and "蒋经理" in page
    ack.refresh_from_db()
    assert ack.acknowledged_at is not None and ack.recorded_by == world.users["staff"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"reporting_unit.register", "unit_member.add", "unit_member.assign", "appeal.issue", "appeal.ack"} <= actions


def test_refusals(world):
    staff = world.users["staff"]
    with pytest.raises(DomainError):
        units.unit_register(
            grid=world.nodes["S-C-G1"],
            kind="new_org",
            name="x",
            contact_name="y",
            contact_phone="13900000031",
            principal=staff,
        )
    with pytest.raises(DomainError):
        units.unit_register(
            grid=world.nodes["S-C"],
            kind="nonsense",
            name="x",
            contact_name="y",
            contact_phone="13900000031",
            principal=staff,
        )
    with pytest.raises(DomainError):
        units.unit_register(
            grid=world.nodes["S-C"], kind="new_org", name="x", contact_name="y", contact_phone="123", principal=staff
        )
    with pytest.raises(Conflict):  # nobody to appeal to yet
        units.appeal_issue(grid=world.nodes["S-C"], title="t", text="x", principal=staff)
    unit = _unit(world)
    assert _unit(world) == unit  # the same name again: as it is
    with pytest.raises((NotFound, Forbidden)):  # a grid member does not manage the community's units
        units.unit_member_add(unit=unit, name="陈党员", principal=world.users["member1"])
    member = units.unit_member_add(unit=unit, name="陈党员", principal=staff)
    with pytest.raises(DomainError):
        units.unit_member_assign(member=member, principal=staff)
    with pytest.raises(DomainError):
        units.unit_member_assign(
            member=member, duty="gate_duty", wish=None, branch=None, note="x" * 201, principal=staff
        )
    branch = services.temporary_branch_open(
        grid=world.nodes["S-C-G1"], site_kind="compound", name="临时", opened_on=timezone.localdate(), principal=staff
    )
    services.temporary_branch_close(branch=branch, closed_on=timezone.localdate(), principal=staff)
    branch.refresh_from_db()
    with pytest.raises(Conflict):
        units.unit_member_assign(member=member, branch=branch, principal=staff)
    member.refresh_from_db()
    assert member.assignment == ""


def test_the_api(world):
    client = api(world, "staff")
    response = client(
        "post",
        "/api/v1/mobilization/units",
        {"grid": "S-C", "kind": "new_org", "name": "花园路物业", "contact_name": "蒋经理", "contact_phone": "1"},
    )
    assert response.status_code == 400 and response.json()["code"] == "phone_invalid"
    assert not ReportingUnit.objects.exists()
    unit = _unit(world)
    response = client("post", f"/api/v1/mobilization/units/{unit.pk}/members", {"name": "陈党员"})
    member = response.json()
    response = client(
        "post", f"/api/v1/mobilization/unit-members/{member['id']}/assign", {"duty": "gate_duty", "wish_id": 1}
    )
    assert response.status_code in (400, 404)
    response = client("post", f"/api/v1/mobilization/unit-members/{member['id']}/assign", {"duty": "gate_duty"})
    assert response.status_code == 200 and response.json()["assignment"] == "duty"
    response = client("post", "/api/v1/mobilization/appeals", {"grid": "S-C", "title": "倡议书", "text": "共同抗疫"})
    appeal = response.json()
    assert response.status_code == 201 and appeal["units"] == 1 and appeal["acknowledged"] == 0
    ack = appeal["acks"][0]["id"]
    response = client("post", f"/api/v1/mobilization/appeal-acks/{ack}/acknowledge", {"by_name": ""})
    assert response.status_code == 400
    client("post", f"/api/v1/mobilization/appeal-acks/{ack}/acknowledge", {"by_name": "冯主任"})
    detail = client("get", f"/api/v1/mobilization/appeals/{appeal['id']}").json()
    assert detail["acknowledged"] == 1 and detail["acks"][0]["acknowledged_name"] == "冯主任"


def test_acknowledgements_add_up_whatever_the_order(world):
    """A property: whatever units acknowledge, in whatever order and however often, each unit is
    acknowledged once, the first name stays, and acknowledged + pending = the units appealed to."""
    staff = world.users["staff"]
    unit_rows = [_unit(world, name=f"单位{i}") for i in range(4)]
    appeal = units.appeal_issue(grid=world.nodes["S-C"], title="倡议书", text="共同抗疫", principal=staff)

    class Acks(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.first = {}
            self.savepoint = transaction.savepoint_create()

        @rule(i=st.integers(0, 3), name=st.sampled_from(["甲", "乙", ""]))
        def acknowledge(self, i, name):
            ack = AppealAck.objects.get(appeal=appeal, unit=unit_rows[i])
            try:
                units.appeal_acknowledge(ack=ack, by_name=name, principal=staff)
            except DomainError:
                assert name == ""
                return
            self.first.setdefault(i, name)

        @invariant()
        def counts(self):
            acks = {a.unit_id: a for a in AppealAck.objects.filter(appeal=appeal)}
            done = [a for a in acks.values() if a.acknowledged_at]
            assert len(acks) == 4 and len(done) == len(self.first)
            for i, name in self.first.items():
                assert acks[unit_rows[i].pk].acknowledged_name == name

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

    run_state_machine_as_test(
        Acks,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        ),
    )
