import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from epigrid.control.models import ControlOrder
from epigrid.core.models import AuditEvent
from epigrid.response import services
from epigrid.response.models import Activation, Task
from tests.response.test_response import confirm


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def incident(world):
    case = confirm(world, world.persons["p1"], specimen="V-1", at=timezone.now() - dt.timedelta(hours=2))
    return case.activations.get()  # confirmation activated the plan


@pytest.fixture
def as_user(world):
    def login(username):
        client = Client()
        client.force_login(world.users[username])
        return client

    return login


def test_incident_page_tasks_and_contacts(world, incident, as_user, settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    client = as_user("member1")
    page = client.get(f"/response/{incident.pk}/").content.decode()
    assert "张贴告知书" in page and 'id="chain"' in page
    case = world.persons["p1"]  # named and linked as a case, and offered as a contact's source
    assert f'<a href="/people/{case.pk}/">{case.name}</a>' in page
    head_page = as_user("head1").get(f"/response/{incident.pk}/").content.decode()
    assert f'<option value="{case.pk}">{case.name}</option>' in head_page
    assert "timeline.xlsx" not in page  # the export link only for those who may export
    notice = Task.objects.get(title="张贴告知书")
    photo = SimpleUploadedFile("notice.png", png(), content_type="image/png")
    assert client.post(f"/response/tasks/{notice.pk}/done/", {"photo": photo}).status_code == 302
    notice.refresh_from_db()
    assert notice.status == "done" and notice.evidence_photo.name.endswith(".png")
    response = as_user("head1").post(
        f"/response/{incident.pk}/exposures/",
        {
            "source": world.persons["p1"].pk,
            "contact": "李四",
            "last_exposure_at": "2026-11-28T10:00",
            "degree": "close",
            "setting": "household",
        },
    )
    assert response.status_code == 302
    assert ControlOrder.objects.open().get(person=world.persons["p1b"]).kind == "centralized_quarantine"
    assert as_user("member2").get(f"/response/{incident.pk}/").status_code == 404
    # The timeline is an export like the ledgers: IMPORT_EXPORT where the response is, audited.
    assert client.get(f"/response/{incident.pk}/timeline.xlsx").status_code == 403
    assert as_user("member2").get(f"/response/{incident.pk}/timeline.xlsx").status_code == 404
    export = as_user("staff").get(f"/response/{incident.pk}/timeline.xlsx")
    assert export.status_code == 200
    logged = AuditEvent.objects.get(action="ledger.export", object_type="response.activation")
    assert logged.object_id == str(incident.pk) and logged.changes["kind"] == [None, "response_timeline"]
    assert logged.changes["rows"][1] > 0


def _plan_post(name, rows, delete=()):
    """The plan editor's form: one row per step (title, role, hours, evidence, position)."""
    data = {
        "name": name,
        "steps-TOTAL_FORMS": str(len(rows)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "1",
        "steps-MAX_NUM_FORMS": "60",
    }
    for i, (title, role, hours, evidence, order) in enumerate(rows):
        data.update(
            {
                f"steps-{i}-title": title,
                f"steps-{i}-responsible_role": role,
                f"steps-{i}-deadline_hours": hours,
                f"steps-{i}-evidence": evidence,
                f"steps-{i}-ORDER": order,
            }
        )
        if i in delete:
            data[f"steps-{i}-DELETE"] = "on"
    return data


def test_plan_page_saves_a_new_version(world, as_user):
    client = as_user("commander")
    assert client.get("/response/plan/").status_code == 200
    page = client.get("/response/plan/").content.decode()
    assert page.count('data-testid="plan-step"') == services.plan_current().steps.count() + 3  # + empty rows
    rows = [("成立专班", "commander", "1", "note", "2"), ("消杀", "grid_head", "12", "photo", "1")]
    response = client.post("/response/plan/", _plan_post("新预案", rows))
    assert response.status_code == 302
    saved = services.plan_current()
    assert saved.version == 2 and [s.title for s in saved.steps.order_by("position")] == ["消杀", "成立专班"]
    # A bad row is shown on its row (in the same form), nothing is saved.
    bad = client.post("/response/plan/", _plan_post("新预案", [("成立专班", "commander", "0", "note", "1")]))
    assert bad.status_code == 400 and 'class="error"' in bad.content.decode()
    assert services.plan_current().version == 2
    # A removed row is dropped.
    rows = [("成立专班", "commander", "1", "note", "1"), ("消杀", "grid_head", "12", "photo", "2")]
    client.post("/response/plan/", _plan_post("新预案", rows, delete={1}))
    assert [s.title for s in services.plan_current().steps.all()] == ["成立专班"]
    # A grid member may not change the plan: refused as such (403), not as a form error, and nothing saved.
    refused = as_user("member1").post("/response/plan/", _plan_post("x", [("a", "commander", "1", "note", "1")]))
    assert refused.status_code == 403
    assert services.plan_current().version == 3


def test_point_release_from_the_page(world, incident, as_user):
    point = incident.points.get()
    left = timezone.now() - dt.timedelta(days=20)
    as_user("head1").post(
        f"/response/points/{point.pk}/update/",
        {"last_case_left_at": left.strftime("%Y-%m-%dT%H:%M"), "disinfected_at": left.strftime("%Y-%m-%dT%H:%M")},
    )
    services.points_propose_release()
    assert as_user("head1").post(f"/response/points/{point.pk}/release/").status_code == 403
    assert as_user("commander").post(f"/response/points/{point.pk}/release/").status_code == 302
    assert Activation.objects.get().closed_at is not None


def test_task_owners_see_their_tasks_on_their_day(world, incident, as_user):
    page = as_user("member1").get("/health/today/").content.decode()
    assert "张贴告知书" in page and 'id="plan-tasks"' in page
    assert "张贴告知书" not in as_user("member2").get("/health/today/").content.decode()


def test_the_confirming_user_is_recorded_as_activating(world, django_capture_on_commit_callbacks):
    from epigrid.health import services as health
    from epigrid.health.models import Case

    health.sample_record(
        person=world.persons["p2"], specimen_number="W-1", sampled_at=timezone.now(), principal=world.admin
    )
    health.results_record(results=[health.ResultIn("W-1", "positive", timezone.now())], principal=world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        health.consultation_record(
            case=Case.objects.get(person=world.persons["p2"]),
            held_at=timezone.now(),
            experts="专家组",
            conclusion="confirmed",
            principal=world.users["commander"],
        )
    assert Activation.objects.get(grid__code="S-C-G2").activated_by == world.users["commander"]
