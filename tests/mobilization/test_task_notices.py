"""告知书 issued from an incident's task: a panel under the task on the incident page, and
`task_id` on the notices API; the notice reaches the households of the task's grid."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from epigrid.core.models import AuditEvent
from epigrid.mobilization.models import Notice
from epigrid.response.models import Task
from tests.factories import api
from tests.response.test_response import confirm


@pytest.fixture
def task(world):
    confirm(world, world.persons["p1"], specimen="A-1", at=timezone.now() - dt.timedelta(hours=1))
    return Task.objects.select_related("grid", "activation").get(title="张贴告知书")


def _page(world, username, task) -> str:
    client = Client()
    client.force_login(world.users[username])
    answer = client.get(reverse("response:incident", args=[task.activation_id]))
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_task_panel_issues_a_notice_to_the_tasks_households(world, task):
    assert task.grid == world.nodes["S-C-G1"]
    page = _page(world, "head1", task)
    assert f'action="{reverse("mobilization:task_notice_issue", args=[task.pk])}"' in page
    # A grid member may do the task but not issue notices: no form for them.
    assert reverse("mobilization:task_notice_issue", args=[task.pk]) not in _page(world, "member1", task)
    client = Client()
    client.force_login(world.users["head1"])
    answer = client.post(
        reverse("mobilization:task_notice_issue", args=[task.pk]),
        {"title": "关于小区封闭管理的告知书", "text": "即日起小区封闭管理。", "audience": "all"},
    )
    notice = Notice.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse("mobilization:notice", args=[notice.pk])
    assert (notice.task_id, notice.grid, notice.issued_by) == (task.pk, world.nodes["S-C-G1"], world.users["head1"])
    assert AuditEvent.objects.get(action="notice.issue").changes["task"] == [None, task.pk]
    # Shown under the task, to whoever sees the incident.
    assert "关于小区封闭管理的告知书" in _page(world, "member1", task)
    # Another compound's grid head cannot reach the task.
    other = Client()
    other.force_login(world.users["head2"])
    assert (
        other.post(reverse("mobilization:task_notice_issue", args=[task.pk]), {"title": "x", "text": "y"}).status_code
        == 404
    )
    assert Notice.objects.count() == 1


def test_the_notices_api_takes_a_task(world, task):
    call = api(world, "head1")
    answer = call("post", "/api/v1/mobilization/notices", {"task_id": task.pk, "title": "告知书", "text": "请居家。"})
    assert answer.status_code == 201, answer.content
    assert (answer.json()["task_id"], answer.json()["grid"]) == (task.pk, "S-C-G1")
    answer = call(
        "post",
        "/api/v1/mobilization/notices",
        {"task_id": task.pk, "grid": "S-C-G1-B1", "title": "一号楼", "text": "x"},
    )
    assert answer.status_code == 201 and answer.json()["grid"] == "S-C-G1-B1"
    staff = api(world, "staff")
    answer = staff(
        "post", "/api/v1/mobilization/notices", {"task_id": task.pk, "grid": "S-C-G2", "title": "x", "text": "y"}
    )
    assert answer.status_code == 400 and answer.json()["code"] == "notice_task_grid"
    answer = call("post", "/api/v1/mobilization/notices", {"task_id": 999999, "title": "x", "text": "y"})
    assert answer.status_code == 404
    answer = api(world, "head2")(
        "post", "/api/v1/mobilization/notices", {"task_id": task.pk, "title": "x", "text": "y"}
    )
    assert answer.status_code == 404
    answer = call("post", "/api/v1/mobilization/notices", {"title": "x", "text": "y"})
    assert answer.status_code == 400 and answer.json()["code"] == "grid_required"
    assert Notice.objects.filter(task=task).count() == 2
