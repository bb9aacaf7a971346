"""Issue 11 "Everyone": the navigation follows the user's roles, irreversible actions ask first
(server-side: a post without `confirm` changes nothing and shows what will follow), every action
says it was done, and a form's error shows on the form."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.accounts.models import GridAssignment
from epigrid.control import services as control
from epigrid.control.models import ControlOrder
from epigrid.gates import services as gates
from epigrid.gates.models import HouseholdPass
from epigrid.health import services as health
from epigrid.health.models import Case, Sample
from epigrid.response.models import Activation, EpidemicPoint


@pytest.fixture
def as_user(world):
    def login(username):
        client = Client()
        client.force_login(world.users[username])
        return client

    return login


def _nav(page: str) -> str:
    """The header's navigation of a page (the tab bar repeats its first links)."""
    start = page.index('data-testid="main-nav"')
    return page[start : page.index("</nav>", start)]


# ---------------------------------------------------------------- navigation per role


def test_a_guard_sees_the_gate_and_not_the_households(as_user):
    page = as_user("guard1").get("/gates/").content.decode()
    nav = _nav(page)
    assert 'href="/gates/"' in nav
    for hidden in ("/people/", "/health/today/", "/alerts/", "/people/import/", "/grids/coverage/"):
        assert f'href="{hidden}"' not in nav
    assert 'data-testid="tabbar"' in page


def test_a_grid_member_sees_today_households_and_alerts(as_user):
    page = as_user("member1").get("/health/today/").content.decode()
    nav = _nav(page)
    for shown in ("/health/today/", "/people/", "/alerts/"):
        assert f'href="{shown}"' in nav
    assert "今日" in nav
    # Not the desks of the community office or the command center.
    for hidden in ("/health/rules/", "/people/import/", "/grids/coverage/", "/control/orders/"):
        assert f'href="{hidden}"' not in nav
    tabbar = page[page.index('data-testid="tabbar"') :]
    assert 'href="/health/today/"' in tabbar and 'aria-current="page"' in tabbar


def test_the_community_secretary_and_the_inspector_see_their_desks(as_user):
    secretary = _nav(as_user("secretary").get("/health/today/").content.decode())
    for shown in ("/control/orders/", "/people/import/", "/grids/coverage/", "/gates/", "/health/rules/"):
        assert f'href="{shown}"' in secretary
    inspector = _nav(as_user("inspector").get("/grids/").content.decode())
    assert 'href="/grids/coverage/"' in inspector and 'href="/people/"' in inspector
    assert 'href="/health/today/"' not in inspector and 'href="/alerts/"' not in inspector


def test_a_user_without_a_role_gets_no_links(as_user):
    assert 'data-testid="main-nav"' not in as_user("norole").get("/health/today/").content.decode()


# ---------------------------------------------------------------- the confirm step


@pytest.fixture
def suspect(world):
    """王五 of 第2网格 is… no: 张三 of 第1网格, positive, awaiting the experts (a suspected case)."""
    now = timezone.now()
    person = world.persons["p1"]
    health.sample_record(person=person, specimen_number="FX-1", sampled_at=now, principal=world.users["member1"])
    health.results_record(results=[health.ResultIn("FX-1", "positive", now)], principal=world.users["staff"])
    return Case.objects.get(person=person)


CONSULTATION = {"held_at": "2020-02-06T20:00", "experts": "市级专家组", "conclusion": "confirmed"}


def test_confirming_a_case_asks_first_and_says_what_follows(world, as_user, suspect):
    client = as_user("commander")
    url = f"/health/cases/{suspect.pk}/consultations/"
    ask = client.post(url, CONSULTATION)
    page = ask.content.decode()
    assert ask.status_code == 200 and 'data-testid="confirm-step"' in page
    suspect.refresh_from_db()
    assert suspect.status == "suspected" and not Activation.objects.exists()
    # What the cascade will do, from the real data: the plan, the compound closed.
    assert "应急预案" in page and "S-C-G1 name" in page and "疫点" in page and "红码" in page
    assert 'name="confirm" value="1"' in page and 'name="experts" value="市级专家组"' in page

    done = client.post(url, {**CONSULTATION, "confirm": "1"}, follow=True)
    suspect.refresh_from_db()
    assert suspect.status == "confirmed" and Activation.objects.filter(cases=suspect).exists()
    assert EpidemicPoint.objects.filter(grid=world.nodes["S-C-G1"]).exists()
    assert "应急响应已启动" in done.content.decode()


def test_the_consultation_form_has_no_default_conclusion(world, as_user, suspect):
    page = as_user("commander").get(f"/people/{suspect.person_id}/").content.decode()
    form = page[page.index('name="conclusion"') :]
    select = form[: form.index("</select>")]
    assert 'value="" selected' in select
    # Without a conclusion: the error is on the form, with what was typed; nothing is recorded.
    response = as_user("commander").post(
        f"/health/cases/{suspect.pk}/consultations/", {**CONSULTATION, "conclusion": "", "confirm": "1"}
    )
    body = response.content.decode()
    assert response.status_code == 400 and 'class="errorlist' in body and "市级专家组" in body
    assert "操作未完成" not in body
    suspect.refresh_from_db()
    assert suspect.status == "suspected"


def test_a_positive_result_asks_first(world, as_user):
    now = timezone.now()
    health.sample_record(
        person=world.persons["p1"], specimen_number="FX-2", sampled_at=now, principal=world.users["member1"]
    )
    sample = Sample.objects.get(specimen_number="FX-2")
    client = as_user("staff")
    ask = client.post(f"/health/samples/{sample.pk}/result/", {"result": "positive", "lab": "疾控"})
    assert ask.status_code == 200 and "疑似" in ask.content.decode()
    sample.refresh_from_db()
    assert sample.result == "pending" and not Case.objects.exists()
    done = client.post(f"/health/samples/{sample.pk}/result/", {"result": "positive", "lab": "疾控", "confirm": "1"})
    assert done.status_code == 302
    sample.refresh_from_db()
    assert sample.result == "positive" and Case.objects.filter(person=world.persons["p1"]).exists()


def test_a_negative_result_needs_no_confirmation_and_says_it_was_entered(world, as_user):
    health.sample_record(
        person=world.persons["p1"], specimen_number="FX-3", sampled_at=timezone.now(), principal=world.users["member1"]
    )
    sample = Sample.objects.get(specimen_number="FX-3")
    done = as_user("staff").post(f"/health/samples/{sample.pk}/result/", {"result": "negative"}, follow=True)
    sample.refresh_from_db()
    assert sample.result == "negative" and "张三" in done.content.decode() and "阴性" in done.content.decode()


@pytest.fixture
def household_pass(world):
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    return HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)


def test_revoking_a_pass_asks_first_then_says_it_is_done(world, as_user, household_pass):
    client = as_user("head1")
    url = f"/gates/pass/{household_pass.pk}/revoke/"
    ask = client.post(url)
    page = ask.content.decode()
    assert ask.status_code == 200 and household_pass.number in page and "S-C-G1-B1 1-101" in page
    household_pass.refresh_from_db()
    assert household_pass.revoked_at is None
    done = client.post(url, {"confirm": "1"}, follow=True)
    household_pass.refresh_from_db()
    assert household_pass.revoked_at is not None
    assert done.redirect_chain[-1][0] == "/gates/passes/S-C-G1/"
    assert f"{household_pass.number}" in done.content.decode() and "已作废" in done.content.decode()


def test_reissuing_a_pass_asks_first(world, as_user, household_pass):
    client = as_user("head1")
    url = f"/gates/pass/{household_pass.pk}/reissue/"
    assert client.post(url).status_code == 200
    assert HouseholdPass.objects.filter(household=world.households["h1"]).count() == 1
    done = client.post(url, {"confirm": "1"}, follow=True)
    assert HouseholdPass.objects.filter(household=world.households["h1"]).count() == 2
    assert "已补发" in done.content.decode()


def test_ending_an_assignment_asks_first(world, as_user):
    assignment = world.users["member1"].grid_assignments.get()
    client = as_user("head1")
    url = f"/grids/assignments/{assignment.pk}/end/"
    ask = client.post(url)
    assert ask.status_code == 200 and "member1" in ask.content.decode()
    assert GridAssignment.objects.get(pk=assignment.pk).ended_at is None
    done = client.post(url, {"confirm": "1"}, follow=True)
    assert GridAssignment.objects.get(pk=assignment.pk).ended_at is not None
    assert "已解除" in done.content.decode()


def test_releasing_an_order_asks_first_and_names_what_ends(world, as_user):
    order = control.control_order_start(
        person=world.persons["p1"],
        kind="home_quarantine",
        reason="other",
        starts_at=timezone.now() - dt.timedelta(days=1),
        principal=world.users["head1"],
    )
    client = as_user("secretary")
    url = f"/control/orders/{order.pk}/release/"
    ask = client.post(url, {"early_reason": "登记错误"})
    page = ask.content.decode()
    assert ask.status_code == 200 and "居家隔离" in page and "S-C-G1-B1 1-101" in page
    assert ControlOrder.objects.get(pk=order.pk).status == "active"
    done = client.post(url, {"early_reason": "登记错误", "confirm": "1"}, follow=True)
    assert ControlOrder.objects.get(pk=order.pk).status == "released"
    assert "张三" in done.content.decode() and "已解除" in done.content.decode()


def test_a_new_personal_link_asks_first_when_one_exists(world, as_user):
    person = world.persons["p1"]
    client = as_user("member1")
    url = f"/health/persons/{person.pk}/report-link/"
    assert client.post(url).status_code == 302  # the first link replaces nothing
    first = health.resident_link_token(person=person)
    ask = client.post(url)
    assert ask.status_code == 200 and 'data-testid="confirm-step"' in ask.content.decode()
    assert health.resident_link_token(person=person) == first
    assert client.post(url, {"confirm": "1"}).status_code == 302
    assert health.resident_link_token(person=person) != first


def test_the_api_is_unchanged_an_api_call_is_its_own_confirmation(world, suspect):
    from tests.factories import api

    call = api(world, "commander")
    response = call(
        "post", f"/api/v1/cases/{suspect.pk}/consultations", CONSULTATION | {"held_at": "2020-02-06T20:00:00+08:00"}
    )
    assert response.status_code in (200, 201), response.content
    suspect.refresh_from_db()
    assert suspect.status == "confirmed"


def test_yellow_code_contrast_is_at_least_4_5(settings):
    """The yellow-code pill had white on #bf8700 (3.1:1)."""
    import re
    from pathlib import Path

    import epigrid

    css = (Path(epigrid.__file__).parent / "static/epigrid/app.css").read_text()
    colour = re.findall(r"\.code-yellow\s*\{\s*background:(#[0-9a-fA-F]{6})", css)[-1]

    def luminance(hex_colour):
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    assert (1.05) / (luminance(colour) + 0.05) >= 4.5


def test_a_refused_import_says_how_many_problems_not_a_placeholder(world, as_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.people.test_ledgers import HEADER, resident_rows, xlsx

    rows = resident_rows(3, building="S-C-G1-B1")
    rows[1][4] = "370102198001010016"
    upload = SimpleUploadedFile("台账.xlsx", xlsx([HEADER, *rows]))
    page = as_user("staff").post("/people/import/", {"kind": "residents", "file": upload}, follow=True)
    page = page.content.decode()  # the job's page (a background job)
    assert "%(count)s" not in page and "发现 1 个问题，未导入任何数据" in page


def test_a_refused_row_action_shows_on_its_page_not_a_separate_one(world, as_user, household_pass):
    """Re-issuing a card already replaced (a stale page): the reason on the passes page."""
    client = as_user("head1")
    url = f"/gates/pass/{household_pass.pk}/reissue/"
    client.post(url, {"confirm": "1"})
    again = client.post(url, {"confirm": "1"}, follow=True)
    page = again.content.decode()
    assert again.redirect_chain[-1][0] == "/gates/passes/S-C-G1/"
    assert "msg-error" in page and "操作未完成" not in page
    assert HouseholdPass.objects.filter(household=world.households["h1"]).count() == 2


def test_a_refusal_page_links_back_to_where_the_user_was_never_to_javascript(world):
    from django.test import Client

    client = Client()
    client.force_login(world.users["member1"])
    response = client.post("/response/plan/", {"name": "x"}, HTTP_REFERER="http://testserver/response/plan/")
    body = response.content.decode()
    assert response.status_code == 403 and 'href="/response/plan/"' in body and "javascript:" not in body
    foreign = client.post("/response/plan/", {"name": "x"}, HTTP_REFERER="https://evil.example/x").content.decode()
    assert "evil.example" not in foreign
