"""值守: a volunteer's gate duty at a checkpoint counts in its 24-hour roster (gates asks the
"roster_cover" extension point), and the dashboard's figure and the gate page agree."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from epigrid.core.errors import DomainError, NotFound
from epigrid.gates import services as gates
from epigrid.mobilization import volunteers as vol
from epigrid.mobilization.models import Volunteer
from epigrid.oversight import rollup
from epigrid.oversight.selectors import coverage_audit
from tests.factories import api
from tests.mobilization.world import add_volunteers


@pytest.fixture
def gap(world):
    """北门 of 第1网格, guarded for the next 8 days but for two hours from 3 hours on."""
    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    spans = [(start, start + dt.timedelta(hours=3)), (start + dt.timedelta(hours=5), start + dt.timedelta(days=1))]
    spans += [(start + dt.timedelta(days=d), start + dt.timedelta(days=d + 1)) for d in range(1, 8)]
    for starts_at, ends_at in spans:
        gates.shift_create(
            checkpoint=checkpoint,
            starts_at=starts_at,
            ends_at=ends_at,
            leader=world.users["guard1"],
            guards=[],
            principal=world.users["secretary"],
        )
    add_volunteers(world)
    return checkpoint, start


def _dashboard_figure(world) -> int:
    rollup.refresh(days=None)
    figures, _at = rollup.figures_for([world.nodes["S"].pk])
    return figures[world.nodes["S"].pk].get("checkpoints_uncovered", 0)


def _roster_page(world, checkpoint) -> str:
    client = Client()
    client.force_login(world.users["secretary"])
    return client.get(reverse("gates:roster", args=[checkpoint.pk])).content.decode()


def test_a_volunteers_gate_duty_fills_the_gap_for_the_gate_page_and_the_dashboard_alike(world, gap):
    checkpoint, start = gap
    gaps = [start + dt.timedelta(hours=3), start + dt.timedelta(hours=4)]
    assert gates.uncovered_hours(checkpoint=checkpoint, start=timezone.now()) == gaps
    assert _dashboard_figure(world) == 1
    assert "checkpoint_uncovered" in coverage_audit(user=world.users["commander"]).gap_counts
    page = _roster_page(world, checkpoint)
    assert '<p class="error">' in page and timezone.localtime(gaps[0]).strftime("%m-%d %H:00") in page

    approved = Volunteer.objects.get(name="吴志愿")
    shift = vol.shift_record(
        volunteer=approved,
        kind="gate_duty",
        checkpoint=checkpoint,
        starts_at=gaps[0],
        ends_at=gaps[-1] + dt.timedelta(hours=1),
        principal=world.users["staff"],
    )
    assert shift.checkpoint_id == checkpoint.pk
    assert gates.uncovered_hours(checkpoint=checkpoint, start=timezone.now()) == []
    assert _dashboard_figure(world) == 0
    assert "checkpoint_uncovered" not in coverage_audit(user=world.users["commander"]).gap_counts
    page = _roster_page(world, checkpoint)
    assert '<p class="error">' not in page and '<p class="ok">' in page  # every hour of the week covered
    # The roster lists who covers those hours, not only that they are covered.
    covers = page[page.index('id="roster-covers"') :]
    assert "吴志愿" in covers and timezone.localtime(gaps[0]).strftime("%m-%d %H:%M") in covers
    # Planned, not served yet: no hours for recognition until it is over.
    assert vol.hours_by_volunteer(user=world.users["staff"]).get(pk=approved.pk).minutes == 0


def test_only_an_approved_volunteers_gate_duty_at_that_gate_covers_it(world, gap):
    checkpoint, start = gap
    gaps = [start + dt.timedelta(hours=3), start + dt.timedelta(hours=5)]
    approved = Volunteer.objects.get(name="吴志愿")
    with pytest.raises(DomainError) as refused:  # a planned shift is gate duty at a checkpoint
        vol.shift_record(
            volunteer=approved, kind="gate_duty", starts_at=gaps[0], ends_at=gaps[1], principal=world.users["staff"]
        )
    assert refused.value.code == "shift_times"
    with pytest.raises(DomainError) as refused:
        vol.shift_record(
            volunteer=approved,
            kind="publicity",
            checkpoint=checkpoint,
            starts_at=gaps[0],
            ends_at=gaps[1],
            principal=world.users["staff"],
        )
    assert refused.value.code == "shift_checkpoint"
    with pytest.raises(DomainError) as refused:  # pending: no duty before the community verifies
        vol.shift_record(
            volunteer=Volunteer.objects.get(name="周志愿"),
            kind="gate_duty",
            checkpoint=checkpoint,
            starts_at=gaps[0],
            ends_at=gaps[1],
            principal=world.users["staff"],
        )
    assert refused.value.code == "volunteer_not_approved"
    assert _dashboard_figure(world) == 1


def test_the_api_records_gate_duty_at_a_checkpoint_in_sight(world, gap):
    checkpoint, start = gap
    approved = Volunteer.objects.get(name="吴志愿")
    body = {
        "kind": "gate_duty",
        "checkpoint_id": checkpoint.pk,
        "starts_at": (start + dt.timedelta(hours=3)).isoformat(),
        "ends_at": (start + dt.timedelta(hours=5)).isoformat(),
    }
    answer = api(world, "staff")("post", f"/api/v1/mobilization/volunteers/{approved.pk}/shifts", body)
    assert answer.status_code == 201, answer.content
    assert answer.json()["checkpoint_id"] == checkpoint.pk
    assert gates.uncovered_hours(checkpoint=checkpoint, start=timezone.now()) == []
    answer = api(world, "staff")(
        "post", f"/api/v1/mobilization/volunteers/{approved.pk}/shifts", {**body, "checkpoint_id": 999999}
    )
    assert answer.status_code == 404
    with pytest.raises(NotFound):
        vol.checkpoint_get(user=world.users["head2"], pk=checkpoint.pk)
