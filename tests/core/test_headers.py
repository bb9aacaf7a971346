"""Answers that carry personal data are not cached, browser features are off, and a client's
request id reaches the audit log only as a plain token."""

from django.test import Client

from epigrid.core.models import AuditEvent
from tests.factories import api


def test_pages_and_api_answers_are_not_stored_and_keep_features_off(world):
    client = Client()
    client.force_login(world.users["member1"])
    page = client.get(f"/people/{world.persons['p1'].pk}/")
    answer = api(world, "member1")("get", f"/api/v1/persons/{world.persons['p1'].pk}")
    for response in (page, answer, Client().get("/login/")):
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        assert "camera=(self)" in response["Permissions-Policy"]
        assert "geolocation=()" in response["Permissions-Policy"]


def test_a_request_id_is_kept_only_when_it_is_a_plain_token(db):
    assert Client().get("/login/", HTTP_X_REQUEST_ID="edge-7f3a.1")["X-Request-ID"] == "edge-7f3a.1"
    echoed = Client().get("/login/", HTTP_X_REQUEST_ID="<script>alert(1)</script>")["X-Request-ID"]
    assert echoed != "<script>alert(1)</script>" and len(echoed) == 32 and echoed.isalnum()


def test_a_request_id_longer_than_the_audit_log_keeps_is_replaced(world):
    """The audit and access logs keep 36 characters (a UUID with its dashes): a longer id would
    make every audited write of the request fail on PostgreSQL."""
    kept = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert Client().get("/login/", HTTP_X_REQUEST_ID=kept)["X-Request-ID"] == kept
    long_id = "a" * 37
    replaced = Client().get("/login/", HTTP_X_REQUEST_ID=long_id)["X-Request-ID"]
    assert replaced != long_id and len(replaced) == 32
    client = Client()
    client.force_login(world.users["member1"])
    reveal = client.post(f"/people/{world.persons['p1'].pk}/reveal/phone/", HTTP_X_REQUEST_ID="b" * 64)
    assert reveal.status_code == 200
    assert AuditEvent.objects.latest("id").request_id == reveal["X-Request-ID"] != "b" * 64
