"""`next` never redirects off-site (issue 9, item 11).

Before: the login page checked its `next`, but five forms (alerts, temperatures, key persons,
services, supply requests) redirected to whatever `next` they were posted, so a page elsewhere
could send a logged-in user through epigrid to any site (`next=https://evil.com`). Now every
view that honours a `next` goes through `core.views.safe_next`: a path on this site is followed,
anything else falls back to the view's own page.
"""

import datetime as dt
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from epigrid.alerts.models import Alert
from epigrid.care import services as care
from epigrid.care.models import ServiceTask
from epigrid.control import services as control
from epigrid.core.views import is_local_path, safe_next
from epigrid.health import services as health

OFF_SITE = [
    "//evil.com",
    "///evil.com",
    "////evil.com/x",
    "https://evil.com",
    "http://evil.com/login/",
    "HTTPS://EVIL.COM",
    "http:evil.com",
    "https:/evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "\\/evil.com",
    " //evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "\x00//evil.com",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.com",  # percent-encoded: sent as is, it names no path of ours
    "%2f%2fevil.com",
    "http://testserver@evil.com/",
    "https://testserver.evil.com/",
    "evil.com",
    "home",  # a URL name is not a path
    "/\r\nLocation: https://evil.com",
]


def location_is_ours(location: str) -> bool:
    parts = urlsplit(location.replace("\\", "/"))
    return not parts.scheme and not parts.netloc and location.startswith("/") and location[1:2] not in ("/", "\\")


@pytest.fixture
def member(world):
    client = Client()
    client.force_login(world.users["member1"])
    return client


def _alert(world):
    health.temperature_reports_record(
        readings=[health.Reading(world.persons["p1"].pk, "38.2", timezone.now())],
        source="liaison",
        principal=world.admin,
    )
    return Alert.objects.get(person=world.persons["p1"])


def _service_task(world):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    care.service_tasks_materialize()
    return ServiceTask.objects.filter(household=world.households["h1"]).order_by("due_at").first()


def _supply_request(world):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.admin
    )
    return care.supply_request_create(person=world.persons["p1"], text="需要买药")


def _key_person(world):
    tip = control.tip_record(
        persons=[world.persons["p1"]],
        reported_at=timezone.now() - dt.timedelta(days=1),
        reporter="网格员",
        origin_code="420600",
        travel_mode="self_drive",
        principal=world.users["member1"],
    )
    return tip.key_persons.get()


# Every page form that takes a `next`: (url, body, where it goes without one).
FORMS = {
    "alerts:move": (lambda w: f"/alerts/{_alert(w).pk}/acknowledge/", {}, "/alerts/"),
    "health:temperature_record": (
        lambda w: f"/health/persons/{w.persons['p1'].pk}/temperature/",
        {"value": "36.6"},
        "/health/today/",
    ),
    "control:key_person_assess": (
        lambda w: f"/control/key-persons/{_key_person(w).pk}/assess/",
        {"assessment": "来自襄阳"},
        "/control/key-persons/",
    ),
    "care:task_done": (lambda w: f"/care/tasks/{_service_task(w).pk}/done/", {"note": "已送菜"}, "/health/today/"),
    "care:request_done": (
        lambda w: f"/care/requests/{_supply_request(w).pk}/done/",
        {"note": "已送达"},
        "/health/today/",
    ),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_a_form_never_sends_the_user_off_site(world, member, form):
    url, body, default = FORMS[form]
    url = url(world)
    answers = {target: member.post(url, {**body, "next": target}) for target in OFF_SITE}
    wrong = {
        t: (r.status_code, r.get("Location"))
        for t, r in answers.items()
        if (r.status_code, r.get("Location")) != (302, default)
    }
    assert not wrong, f"not sent to {default}: {wrong}"


@pytest.mark.parametrize("form", list(FORMS))
def test_a_form_follows_a_next_on_this_site(world, member, form):
    url, body, _default = FORMS[form]
    response = member.post(url(world), {**body, "next": "/people/?q=1-101&page=2"})
    assert response.status_code == 302 and response["Location"] == "/people/?q=1-101&page=2"


def test_an_escaped_line_break_is_a_path_and_stays_escaped(world, member):
    url, body, _default = FORMS["health:temperature_record"]
    response = member.post(url(world), {**body, "next": "/%0D%0ASet-Cookie:x=1"})
    assert response.status_code == 302 and response["Location"] == "/%0D%0ASet-Cookie:x=1"
    assert "x" not in response.cookies


def test_login_never_sends_the_user_off_site(world):
    wrong = {}
    for target in OFF_SITE:
        response = Client().post(
            "/login/?" + urlencode({"next": target}), {"username": "member1", "password": "x-test-password-1"}
        )
        if (response.status_code, response.get("Location")) != (302, "/"):
            wrong[target] = (response.status_code, response.get("Location"))
    assert not wrong, f"not sent home: {wrong}"


ENCODED = (
    "next=%2F%2Fevil.com",  # decodes to //evil.com
    "next=%252F%252Fevil.com",  # double-encoded: decodes to %2F%2Fevil.com, not a path
    "next=https%3A%2F%2Fevil.com",
    "next=%2F%5Cevil.com",  # /\evil.com
    "next=%2F%09%2Fevil.com",  # /<tab>/evil.com
    "next=%20%2F%2Fevil.com",
    "next=javascript%3Aalert(1)",
    "next=%E3%80%80%2F%2Fevil.com",  # an ideographic space first
)


def test_login_with_an_encoded_next_stays_here(world):
    for query in ENCODED:
        response = Client().post("/login/?" + query, {"username": "member1", "password": "x-test-password-1"})
        assert response.status_code == 302 and response["Location"] == "/", query


def test_login_follows_the_page_it_was_sent_from(world):
    client = Client()
    sent = client.get("/people/?grid=S-C-G1")
    assert sent.status_code == 302 and sent["Location"] == "/login/?next=/people/%3Fgrid%3DS-C-G1"
    response = client.post(sent["Location"], {"username": "member1", "password": "x-test-password-1"})
    assert response.status_code == 302 and response["Location"] == "/people/?grid=S-C-G1"


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_the_language_switch_stays_here(world, member, target):
    response = member.post(
        "/i18n/setlang/", {"language": "en", "next": target}, headers={"referer": "https://evil.com/"}
    )
    assert response.status_code == 302 and location_is_ours(response["Location"]), response["Location"]


# ---------------------------------------------------------------- the helper itself


def test_safe_next_falls_back_to_the_default_url():
    request = RequestFactory().post("/x/", {"next": "//evil.com"})
    assert safe_next(request, "health:today") == "/health/today/"
    assert safe_next(request, "people:person", pk=7) == "/people/7/"
    assert safe_next(RequestFactory().get("/x/?next=/alerts/"), "home") == "/alerts/"


@given(st.text(max_size=40))
def test_whatever_is_taken_as_local_is_a_path_here(target):
    """Any string the helper accepts is a path on this host, read the way a browser reads it
    (backslashes as slashes, tabs and line breaks dropped)."""
    request = RequestFactory().get("/")
    if not is_local_path(target, request):
        return
    browser = target.replace("\\", "/")
    for dropped in "\t\n\r":
        browser = browser.replace(dropped, "")
    parts = urlsplit(browser)
    assert not parts.scheme and not parts.netloc and browser.startswith("/") and not browser.startswith("//")


@given(st.sampled_from(["//", "/\\", "\\\\", "https://", "javascript:", "\t//", "/\t/"]), st.text(max_size=20))
def test_no_off_site_prefix_is_taken_as_local(prefix, rest):
    assert not is_local_path(prefix + "evil.com/" + rest, RequestFactory().get("/"))
