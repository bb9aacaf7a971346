"""消杀: a volunteer's disinfection round recorded done completes the open care disinfection tasks
it answers (care learns of it through the "disinfection_done" extension point)."""

import datetime as dt

import pytest
from django.utils import timezone

from epigrid.care import services as care
from epigrid.care.models import ServiceTask
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.models import AuditEvent
from epigrid.mobilization import volunteers as vol
from epigrid.mobilization.models import Volunteer
from tests.factories import api
from tests.mobilization.world import add_volunteers


@pytest.fixture
def rounds(world):
    """第1网格 disinfected 每日 08:00、16:00 since yesterday, and 张三's household (h1) on its own at
    09:00; the tasks of yesterday and today materialized; 吴志愿 an approved volunteer."""
    yesterday = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    compound = care.schedule_create(
        kind="disinfection", rule="每日 08:00、16:00", grid=world.nodes["S-C-G1"], principal=world.admin, now=yesterday
    )
    own = care.schedule_create(
        kind="disinfection", rule="每日 09:00", household=world.households["h1"], principal=world.admin, now=yesterday
    )
    care.service_tasks_materialize(now=yesterday + dt.timedelta(hours=2), hours=48)
    add_volunteers(world)
    return {"yesterday": yesterday, "compound": compound, "own": own, "volunteer": Volunteer.objects.get(name="吴志愿")}


def _open(schedule) -> list[str]:
    return [
        timezone.localtime(t.due_at).strftime("%d %H:%M")
        for t in ServiceTask.objects.filter(schedule=schedule, done_at__isnull=True).order_by("due_at")
    ]


def test_a_compound_round_completes_the_task_due_around_it_and_no_other(world, rounds):
    day = rounds["yesterday"]
    before = _open(rounds["compound"])
    assert day.strftime("%d 08:00") in before and day.strftime("%d 16:00") in before
    shift = vol.shift_record(
        volunteer=rounds["volunteer"],
        kind="disinfection",
        site=world.nodes["S-C-G1-B1"],  # a building: the round is its compound's
        starts_at=day + dt.timedelta(hours=7, minutes=30),
        ends_at=day + dt.timedelta(hours=8, minutes=30),
        principal=world.users["staff"],
    )
    assert shift.tasks_done == 1 and shift.site == world.nodes["S-C-G1"]
    assert _open(rounds["compound"]) == [t for t in before if t != day.strftime("%d 08:00")]
    done = ServiceTask.objects.get(schedule=rounds["compound"], due_at=day + dt.timedelta(hours=8))
    assert "吴志愿" in done.note and done.done_by == world.users["staff"]
    assert _open(rounds["own"]) == [day.strftime("%d 09:00"), (day + dt.timedelta(days=1)).strftime("%d 09:00")]
    event = AuditEvent.objects.filter(action="service.done").get()
    assert "system:disinfection-round" in event.actor_label and event.actor == world.users["staff"]


def test_a_household_round_completes_only_that_households_task(world, rounds):
    day = rounds["yesterday"]
    compound_before = _open(rounds["compound"])
    shift = vol.shift_record(
        volunteer=rounds["volunteer"],
        kind="disinfection",
        household=world.households["h1"],
        starts_at=day + dt.timedelta(hours=9),
        ends_at=day + dt.timedelta(hours=10),
        principal=world.users["staff"],
    )
    assert shift.tasks_done == 1
    assert _open(rounds["own"]) == [(day + dt.timedelta(days=1)).strftime("%d 09:00")]
    assert _open(rounds["compound"]) == compound_before


def test_only_a_disinfection_round_of_the_volunteers_community_completes_tasks(world, rounds):
    day = rounds["yesterday"]
    times = {"starts_at": day + dt.timedelta(hours=7), "ends_at": day + dt.timedelta(hours=9)}
    with pytest.raises(DomainError) as refused:
        vol.shift_record(
            volunteer=rounds["volunteer"],
            kind="publicity",
            site=world.nodes["S-C-G1"],
            principal=world.users["staff"],
            **times,
        )
    assert refused.value.code == "shift_site"
    with pytest.raises(NotFound):  # the community itself is no compound
        vol.shift_record(
            volunteer=rounds["volunteer"],
            kind="disinfection",
            site=world.nodes["S-C"],
            principal=world.users["staff"],
            **times,
        )
    shift = vol.shift_record(
        volunteer=rounds["volunteer"], kind="disinfection", principal=world.users["staff"], **times
    )
    assert shift.tasks_done == 0  # a round named nowhere completes nothing
    assert day.strftime("%d 08:00") in _open(rounds["compound"])


def test_the_api_records_a_round_and_answers_the_tasks_it_completed(world, rounds):
    day = rounds["yesterday"]
    body = {
        "kind": "disinfection",
        "site": "S-C-G1",
        "starts_at": (day + dt.timedelta(hours=15, minutes=30)).isoformat(),
        "ends_at": (day + dt.timedelta(hours=16, minutes=30)).isoformat(),
    }
    answer = api(world, "staff")("post", f"/api/v1/mobilization/volunteers/{rounds['volunteer'].pk}/shifts", body)
    assert answer.status_code == 201, answer.content
    assert (answer.json()["site"], answer.json()["tasks_done"]) == ("S-C-G1", 1)
    assert day.strftime("%d 16:00") not in _open(rounds["compound"])
