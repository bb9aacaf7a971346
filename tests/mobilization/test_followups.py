"""After release ("1": residents first): a released control order or a reopened compound brings
the follow-up — a visit by the community and street leaders of the chain, a 14-day health check
by the medical liaison — made by the system inside the release (all or nothing), once, and
completed with a date and a note."""

import datetime as dt

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from epigrid.accounts import services as account_services
from epigrid.control import services as control
from epigrid.control.models import ControlOrder
from epigrid.core import extensions
from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent
from epigrid.mobilization import followups, services
from epigrid.mobilization.models import FollowUp
from tests.factories import api, make_user


def _chain_leaders(world):
    street = services.org_create(grid=world.nodes["S"], name="建新街道党工委", principal=world.admin)
    community = services.org_create(grid=world.nodes["S-C"], name="花园路社区党委", principal=world.admin)
    services.member_add(org=community, person=world.persons["p1"], role="secretary", principal=world.admin)
    services.member_add(org=street, person=world.persons["p2"], role="secretary", principal=world.admin)


def _release(world, key="p1b"):
    order = control.control_order_start(
        person=world.persons[key], kind="home_quarantine", reason="other", principal=world.admin
    )
    return control.control_order_release(order=order, early_reason="核酸阴性", principal=world.users["secretary"])


def test_a_release_sets_the_visit_and_the_health_check_once(world):
    _chain_leaders(world)
    medical = make_user("medical1")
    account_services.grid_assignment_create(
        node=world.nodes["S-C"], user=medical, role="medical_liaison", principal=world.admin
    )
    order = _release(world)
    visit = FollowUp.objects.get(kind="visit")
    check = FollowUp.objects.get(kind="health_check")
    today = timezone.localdate()
    assert visit.household == world.persons["p1b"].household and visit.due_on == today + dt.timedelta(days=3)
    assert "张三（花园路社区党委）" in visit.leaders and "王五（建新街道党工委）" in visit.leaders
    assert visit.owner is not None  # the community office
    assert check.person == world.persons["p1b"] and check.owner == medical
    assert check.due_on == today + dt.timedelta(days=14)
    created = AuditEvent.objects.filter(action="followup.create")
    assert created.count() == 2 and set(created.values_list("actor_label", flat=True)) == {"system:release-followup"}
    assert set(created.values_list("actor__username", flat=True)) == {"secretary"}
    # The same cascade again (a retry) makes nothing new.
    extensions.run("order_ended", order=order, cause=world.admin)
    assert FollowUp.objects.count() == 2


def test_completing_on_the_page(world):
    _release(world)
    visit = FollowUp.objects.get(kind="visit")
    check = FollowUp.objects.get(kind="health_check")
    member, head = Client(), Client()
    member.force_login(world.users["member1"])
    head.force_login(world.users["head1"])
    page = member.get(reverse("mobilization:followups")).content.decode()
    assert "李四" in page
    # A grid member does the health check, not the leaders' visit.
    assert member.post(reverse("mobilization:followup_done", args=[visit.pk]), {"note": "x"}).status_code == 403
    member.post(reverse("mobilization:followup_done", args=[check.pk]), {"note": "14天体温正常"})
    check.refresh_from_db()
    assert check.status == "done" and check.done_on == timezone.localdate()
    # A visit needs its note; a date before the release is refused.
    head.post(reverse("mobilization:followup_done", args=[visit.pk]), {"note": ""})
    visit.refresh_from_db()
    assert visit.status == "open"
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    head.post(reverse("mobilization:followup_done", args=[visit.pk]), {"note": "慰问", "done_on": yesterday})
    visit.refresh_from_db()
    assert visit.status == "open"
    head.post(reverse("mobilization:followup_done", args=[visit.pk]), {"note": "上门慰问，送去米面油"})
    visit.refresh_from_db()
    assert visit.status == "done" and visit.note == "上门慰问，送去米面油"
    assert api(world, "member2")("get", "/api/v1/mobilization/followups?status=done").json() == []


def test_the_release_and_its_followups_are_all_or_nothing(world, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(followups, "_create", broken)
    order = control.control_order_start(
        person=world.persons["p1b"], kind="home_quarantine", reason="other", principal=world.admin
    )
    with pytest.raises(RuntimeError):
        control.control_order_release(order=order, early_reason="x", principal=world.admin)
    order.refresh_from_db()
    assert order.status == "active" and not FollowUp.objects.exists()


def test_a_reopened_compound_gets_the_leaders_visit(world):
    _chain_leaders(world)
    extensions.run("compound_reopened", grid=world.nodes["S-C-G1"], cause=world.admin)
    extensions.run("compound_reopened", grid=world.nodes["S-C-G1"], cause=world.admin)
    visit = FollowUp.objects.get()
    assert visit.kind == "visit" and visit.grid == world.nodes["S-C-G1"] and visit.household is None
    assert "花园路社区党委" in visit.leaders


def test_a_transfer_sets_no_followup(world):
    order = control.control_order_start(
        person=world.persons["p1b"], kind="home_quarantine", reason="other", principal=world.admin
    )
    extensions.run("order_ended", order=ControlOrder.objects.get(pk=order.pk), cause=world.admin)
    assert not FollowUp.objects.exists()


class FollowUpMachine(RuleBasedStateMachine):
    """open → done, once: whatever is tried, done iff it has a date between release and today,
    and the first completion's date and note stay."""

    world = None

    @initialize()
    def start(self):
        self.savepoint = transaction.savepoint_create()
        _release(self.world)
        self.first = None

    @rule(
        kind=st.sampled_from(["visit", "health_check"]),
        who=st.sampled_from(["member1", "head1", "member2"]),
        offset=st.integers(-2, 2),
        note=st.sampled_from(["", "慰问"]),
    )
    def complete(self, kind, who, offset, note):
        row = FollowUp.objects.get(kind=kind)
        try:
            followups.followup_done(
                followup=row,
                done_on=timezone.localdate() + dt.timedelta(days=offset),
                note=note,
                principal=self.world.users[who],
            )
        except (DomainError, Forbidden, NotFound):
            return
        if kind == "visit" and self.first is None and row.status == "open":
            self.first = (timezone.localdate() + dt.timedelta(days=offset), note)

    @invariant()
    def consistent(self):
        today = timezone.localdate()
        for row in FollowUp.objects.all():
            assert (row.status == "done") == (row.done_on is not None)
            if row.done_on:
                assert row.released_on <= row.done_on <= today
        if self.first:
            visit = FollowUp.objects.get(kind="visit")
            assert (visit.done_on, visit.note) == self.first

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)


def test_followup_state_machine(world):
    FollowUpMachine.world = world
    run_state_machine_as_test(
        FollowUpMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        ),
    )
