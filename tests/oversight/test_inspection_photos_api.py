"""Inspections on a phone through the API (issue 13 §4): a finding's photo and a rectification's
evidence photo are uploaded as multipart; only a real image within the limits is stored (clear
400 otherwise, nothing written), by whom may, while the round or rectification is still open."""

import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image

from epigrid.accounts.services import api_token_issue
from epigrid.core.models import AuditEvent
from epigrid.oversight import inspections
from epigrid.oversight.models import Checklist, Finding, Rectification


def _jpeg(colour="red", size=(64, 48)) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    out.seek(0)
    out.name = "photo.jpg"
    return out


def _upload(world, username, path, file):
    client = Client()
    token = api_token_issue(user=world.users[username])
    return client.post(path, {"photo": file}, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def failed(world):
    inspector = world.users["inspector"]
    round_ = inspections.round_plan(
        grid=world.nodes["S-C-G1"],
        checklist=Checklist.objects.get(grid__isnull=True),
        planned_for=dt.date(2020, 2, 10),
        principal=inspector,
    )
    return inspections.finding_record(inspection=round_, item=0, passed=False, note="门岗无登记", principal=inspector)


def test_the_inspector_attaches_a_photo_to_a_finding(world, failed):
    path = f"/api/v1/inspections/findings/{failed.pk}/photo"
    response = _upload(world, "inspector", path, _jpeg())
    assert response.status_code == 200, response.content
    assert response.json()["has_photo"] is True
    failed.refresh_from_db()
    assert failed.photo.name.endswith(".jpg") and "photo" not in failed.photo.name  # a random name
    assert AuditEvent.objects.filter(action="inspection.photo").count() == 1
    # Readable back through the page that serves it to who sees the grid.
    client = Client()
    client.force_login(world.users["inspector"])
    assert client.get(f"/inspections/finding/{failed.pk}/photo/").status_code == 200


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"<html><script>alert(1)</script></html>", "photo.jpg", "photo_type"),
        (b"GIF89a" + b"\0" * 40, "photo.gif", "photo_type"),
        (_jpeg().getvalue()[:200], "photo.jpg", "photo_damaged"),
    ],
)
def test_what_is_not_a_photo_is_refused_and_nothing_is_stored(world, failed, content, name, code):
    file = io.BytesIO(content)
    file.name = name
    response = _upload(world, "inspector", f"/api/v1/inspections/findings/{failed.pk}/photo", file)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and response.json()["field"] == "photo"
    assert not Finding.objects.get(pk=failed.pk).photo
    assert not AuditEvent.objects.filter(action="inspection.photo").exists()


def test_a_photo_over_the_size_limit_is_refused(world, failed, settings):
    settings.UPLOAD_IMAGE_MAX_BYTES = 1024
    big = io.BytesIO()
    Image.effect_noise((200, 200), 80).convert("RGB").save(big, "JPEG", quality=95)
    big.seek(0)
    big.name = "big.jpg"
    response = _upload(world, "inspector", f"/api/v1/inspections/findings/{failed.pk}/photo", big)
    assert response.status_code == 400 and response.json()["code"] == "photo_too_large"
    assert not Finding.objects.get(pk=failed.pk).photo


def test_no_file_is_a_4xx_and_others_may_not(world, failed):
    client = Client()
    token = api_token_issue(user=world.users["inspector"])
    missing = client.post(f"/api/v1/inspections/findings/{failed.pk}/photo", {}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert missing.status_code == 422
    path = f"/api/v1/inspections/findings/{failed.pk}/photo"
    assert _upload(world, "head1", path, _jpeg()).status_code == 403  # sees the grid, does not inspect
    assert _upload(world, "head2", path, _jpeg()).status_code == 404
    assert not Finding.objects.get(pk=failed.pk).photo


def test_a_completed_rounds_findings_take_no_new_photo(world, failed):
    round_ = failed.inspection
    for i in range(1, len(round_.items)):
        inspections.finding_record(inspection=round_, item=i, passed=True, principal=world.users["inspector"])
    inspections.round_complete(inspection=round_, principal=world.users["inspector"])
    response = _upload(world, "inspector", f"/api/v1/inspections/findings/{failed.pk}/photo", _jpeg())
    assert response.status_code == 409 and response.json()["code"] == "inspection_completed"


def test_the_owner_sends_the_evidence_then_answers_and_the_inspector_closes(world, failed):
    rectification = inspections.rectification_order(
        finding=failed,
        owner=world.users["head1"],
        request="补齐门岗登记",
        due_at=timezone.now() + dt.timedelta(days=1),
        principal=world.users["inspector"],
    )
    path = f"/api/v1/inspections/rectifications/{rectification.pk}/evidence"
    assert _upload(world, "inspector", path, _jpeg()).status_code == 403  # only the owner
    assert _upload(world, "head2", path, _jpeg()).status_code == 404
    not_a_photo = io.BytesIO(b"%PDF-1.4 not a photo")
    not_a_photo.name = "evidence.pdf"
    assert _upload(world, "head1", path, not_a_photo).json()["code"] == "photo_type"
    assert not Rectification.objects.get(pk=rectification.pk).answer_photo
    sent = _upload(world, "head1", path, _jpeg("blue"))
    assert sent.status_code == 200, sent.content
    assert sent.json()["has_evidence_photo"] is True and sent.json()["status"] == "open"
    inspections.rectification_answer(rectification=rectification, answer="已补齐", principal=world.users["head1"])
    inspections.rectification_recheck(rectification=rectification, passed=True, principal=world.users["inspector"])
    closed = _upload(world, "head1", path, _jpeg("green"))
    assert closed.status_code == 409 and closed.json()["code"] == "rectification_closed"
    assert AuditEvent.objects.filter(action="rectification.evidence").count() == 1
