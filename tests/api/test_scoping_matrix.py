"""The scoping matrix: every API endpoint, for anonymous, no-role, out-of-scope and in-scope
users. A new endpoint that is not listed here fails `test_every_endpoint_is_in_the_matrix`, so
every later endpoint inherits the check."""

import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass

import pytest
import xlsxwriter
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.api.main import api
from epigrid.core.crypto import unseal
from tests.factories import make_id_number


@dataclass
class Endpoint:
    method: str
    path: str  # {grid} {person} {household} {place} {assignment} are filled from the world
    body: object = None  # dict, or a callable(world) -> dict; "multipart" for uploads
    in_scope_status: int = 200
    # What a user without any role gets: lists answer empty (200), objects 404.
    no_role_status: int = 404
    out_of_scope_status: int = 404
    in_scope_user: str = "member1"
    out_of_scope_user: str = "member2"
    shared: bool = False  # configuration every user reads (risk areas, rules): not grid data
    # The same call by the in-scope user, naming an object of another compound by a value typed
    # in the body (a pass number, a household id): answered with this status and nothing of it,
    # and nothing is written about it (test_naming_another_compounds_object_gives_nothing_of_it).
    foreign_body: object = None
    foreign_status: int = 404


def _today_iso():
    from django.utils import timezone

    return timezone.localdate().isoformat()


def _xlsx(rows):
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


ENDPOINTS = [
    Endpoint("GET", "/api/v1/grids", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/grids/{grid}"),
    Endpoint(
        "POST",
        "/api/v1/grids",
        body={"parent": "{grid}", "code": "S-C-G1-B9", "name": "9号楼", "level": "building"},
        in_scope_status=201,
        in_scope_user="secretary",
    ),
    Endpoint("GET", "/api/v1/coverage", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/coverage?grid={grid}"),
    # Who opened a file: where the caller may read the audit log (inspectors, the community office).
    Endpoint(
        "GET",
        "/api/v1/access-log?person={person}",
        no_role_status=200,
        out_of_scope_status=200,
        in_scope_user="inspector",
    ),
    Endpoint("GET", "/api/v1/places", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/places/{place}"),
    Endpoint("POST", "/api/v1/places", body={"name": "药店", "kind": "shop", "grid": "{grid}"}, in_scope_status=201),
    Endpoint("PATCH", "/api/v1/places/{place}", body={"address": "新地址"}),
    Endpoint("GET", "/api/v1/households", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/households/{household}"),
    Endpoint(
        "POST",
        "/api/v1/households",
        body={"grid": "{building}", "number": "2-202", "address": "2单元202"},
        in_scope_status=201,
    ),
    Endpoint("PATCH", "/api/v1/households/{household}", body={"address": "1单元101室"}),
    Endpoint("GET", "/api/v1/persons", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/persons?grid={grid}"),
    Endpoint("GET", "/api/v1/persons/{person}"),
    # The exact search: a full ID number in the body, among persons the user may unmask. No role:
    # the right nowhere (403); out of scope: found nobody (200, empty). Naming 第2网格's person
    # finds nothing and writes nothing there.
    Endpoint(
        "POST",
        "/api/v1/persons/search",
        body=lambda w: {"id_number": unseal(w.persons["p1"].id_number_sealed)},
        no_role_status=403,
        out_of_scope_status=200,
        foreign_body=lambda w: {"id_number": unseal(w.persons["p2"].id_number_sealed)},
        foreign_status=200,
    ),
    Endpoint(
        "POST",
        "/api/v1/persons",
        body=lambda w: {"name": "新人", "id_number": make_id_number(), "household_id": w.households["h1"].pk},
        in_scope_status=201,
    ),
    Endpoint("PATCH", "/api/v1/persons/{person}", body={"note": "行动不便"}),
    Endpoint("POST", "/api/v1/persons/{person}/reveal", body={"field": "phone"}),
    Endpoint("POST", "/api/v1/persons/{person}/archive", body={"reason": "搬离"}),
    Endpoint("GET", "/api/v1/persons/{person}/timeline"),
    # Tokens are the caller's own, whatever their role: each lists only theirs (the one the matrix
    # issued for the call); another's token is not found (tests/accounts/test_tokens.py).
    Endpoint("GET", "/api/v1/auth/tokens", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint("POST", "/api/v1/auth/tokens/{api_token}/revoke"),
    Endpoint("POST", "/api/v1/auth/logout", in_scope_status=204, no_role_status=204, out_of_scope_status=204),
    Endpoint("GET", "/api/v1/assignments", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/assignments",
        body={"username": "norole", "grid": "{grid}", "role": "volunteer"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    Endpoint("PATCH", "/api/v1/assignments/{assignment}", body={"duties": ["work_safety"]}, in_scope_user="head1"),
    Endpoint("POST", "/api/v1/assignments/{assignment}/end", in_scope_user="head1"),
    # Accounts (a grid head manages the grid's members; tests/accounts/test_users.py for the rest)
    Endpoint("GET", "/api/v1/users", no_role_status=200, out_of_scope_status=200, in_scope_user="head1"),
    Endpoint(
        "POST",
        "/api/v1/users",
        body={
            "username": "new1",
            "full_name": "新人",
            "grid": "{grid}",
            "role": "grid_member",
            "password": "gx-5317-lane",
        },
        in_scope_status=201,
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/users/{user}", in_scope_user="head1", out_of_scope_user="head2"),
    Endpoint("POST", "/api/v1/users/{user}/deactivate", in_scope_user="head1", out_of_scope_user="head2"),
    Endpoint("POST", "/api/v1/users/{user}/reactivate", in_scope_user="head1", out_of_scope_user="head2"),
    Endpoint("POST", "/api/v1/users/{user}/password-reset", in_scope_user="head1", out_of_scope_user="head2"),
    Endpoint("POST", "/api/v1/users/{user}/mfa-reset", in_scope_user="head1", out_of_scope_user="head2"),
    # One's own password: every user's own account, nobody else's.
    Endpoint(
        "POST",
        "/api/v1/auth/password",
        body={"old_password": "x-test-password-1", "new_password": "gx-5317-lane"},
        no_role_status=200,
        out_of_scope_status=200,
        shared=True,
    ),
    Endpoint(
        "POST",
        "/api/v1/imports",
        body="multipart",
        in_scope_status=202,  # queued as a background job (tests/core/test_jobs.py)
        in_scope_user="staff",
        # Refused before any row is read for users without the import right (scope of the
        # rows themselves: tests/people/test_ledgers.py).
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/exports/{kind}?grid={grid}", in_scope_user="staff"),
    # Background jobs: one's own (staff's import), and over the grids where one reads the audit log.
    Endpoint("GET", "/api/v1/jobs", no_role_status=200, out_of_scope_status=200, in_scope_user="staff"),
    Endpoint("GET", "/api/v1/jobs/{job}", in_scope_user="staff"),
    Endpoint("POST", "/api/v1/jobs/{job}/cancel", in_scope_user="staff"),
    # The file of staff's export job: its starter alone downloads it (tests/core/test_job_results.py).
    Endpoint("GET", "/api/v1/jobs/{export_job}/download", in_scope_user="staff"),
    Endpoint(
        "POST",
        "/api/v1/exports/{kind}/jobs",
        body={"grid": "{grid}"},
        in_scope_status=202,  # queued as a background job; its file is downloaded from the job
        in_scope_user="staff",
    ),
    # Control (issue: key persons, orders, teams)
    Endpoint("GET", "/api/v1/risk-areas", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint(
        "POST",
        "/api/v1/risk-areas",
        body={"code": "420600"},
        in_scope_user="commander",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint(
        "POST",
        "/api/v1/tips",
        body={
            "person_ids": ["{person}"],
            "reported_at": "2020-01-26T16:00:00+08:00",
            "reporter": "网格员",
            "origin_code": "420600",
            "travel_mode": "self_drive",
        },
        in_scope_status=201,
    ),
    Endpoint("GET", "/api/v1/tips", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/tips?grid={grid}"),
    Endpoint("GET", "/api/v1/tips?person={person}"),
    Endpoint("GET", "/api/v1/tips/{tip}"),
    Endpoint("GET", "/api/v1/key-persons", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/key-persons/{key_person}"),
    Endpoint("POST", "/api/v1/key-persons/{key_person}/assess", body={"assessment": "来自襄阳,需居家隔离"}),
    Endpoint("POST", "/api/v1/key-persons/{key_person}/close"),
    Endpoint("GET", "/api/v1/orders", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/orders?person={person}"),
    Endpoint("GET", "/api/v1/orders?household={household}"),
    Endpoint(
        "POST",
        "/api/v1/orders",
        body={"person_id": "{person_b}", "kind": "home_quarantine", "reason": "other"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    Endpoint("GET", "/api/v1/orders/{order}"),
    Endpoint("POST", "/api/v1/orders/{order}/period", body={"days": 20, "reason": "同住人发热"}, in_scope_user="head1"),
    Endpoint(
        "POST",
        "/api/v1/orders/{order}/transfer",
        body={"kind": "hospital_isolation", "reason": "positive_test", "site": "济南市传染病医院"},
        in_scope_user="head1",
    ),
    Endpoint("POST", "/api/v1/orders/{order}/release", body={"early_reason": "误报"}, in_scope_user="secretary"),
    Endpoint("GET", "/api/v1/control-rules", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint("GET", "/api/v1/control-periods", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint(
        "POST",
        "/api/v1/control-rules",
        body={"kind": "home_quarantine", "days": 21},
        in_scope_user="commander",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/households/{household}/team"),
    Endpoint(
        "POST",
        "/api/v1/households/{household}/team",
        body={"username": "bhead1", "role": "cadre"},
        in_scope_user="head1",
    ),
    Endpoint("POST", "/api/v1/team-members/{team_member}/end", in_scope_user="head1"),
    Endpoint("GET", "/api/v1/metrics/tip-to-control", no_role_status=200, out_of_scope_status=200),
    # Health (temperatures, tests, cases)
    Endpoint(
        "POST",
        "/api/v1/temperatures/batch",
        body=lambda w: {
            "readings": [
                {
                    "person_id": w.persons["p1"].pk,
                    "value": 36.6,
                    "measured_at": _now_iso(),
                    "client_id": str(uuid.uuid4()),
                }
            ]
        },
        # A batch lists each refused row: out-of-scope persons are "not found" rows.
        no_role_status=422,
        out_of_scope_status=422,
    ),
    Endpoint("GET", "/api/v1/temperatures", no_role_status=200, out_of_scope_status=200),
    Endpoint("POST", "/api/v1/persons/{person}/report-link"),
    Endpoint("GET", "/api/v1/persons/{person}/health-code"),
    Endpoint("GET", "/api/v1/persons/{person}/contacts"),
    Endpoint(
        "POST", "/api/v1/persons/{person}/contacts", body={"kind": "phone", "note": "电话询问"}, in_scope_status=201
    ),
    Endpoint("GET", "/api/v1/health-code-rules", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint("GET", "/api/v1/test-lists", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/test-lists",
        body={"name": "名单", "test_date": "2020-02-01", "grid": "{grid}"},
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/test-lists/{test_list}"),
    Endpoint(
        "POST",
        "/api/v1/samples",
        body={"person_id": "{person}", "specimen_number": "MX-9", "sampled_at": "2020-02-04T10:00:00+08:00"},
        in_scope_status=201,
    ),
    Endpoint("GET", "/api/v1/samples", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/samples?person={person}"),
    Endpoint("GET", "/api/v1/samples?grid={grid}"),
    Endpoint(
        "POST",
        "/api/v1/results/batch",
        body={"results": [{"specimen_number": "MX-1", "result": "negative", "result_at": "2020-02-06T10:00:00+08:00"}]},
        in_scope_user="staff",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint(
        "POST",
        "/api/v1/results/import",
        body="results",
        in_scope_status=202,
        in_scope_user="staff",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/cases", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/cases?person={person_b}"),
    Endpoint("GET", "/api/v1/cases?grid={grid}"),
    Endpoint("GET", "/api/v1/cases/{case}"),
    Endpoint("GET", "/api/v1/cases/{case}/consultations"),
    Endpoint(
        "POST",
        "/api/v1/cases/{case}/consultations",
        body={"held_at": "2020-02-06T20:00:00+08:00", "experts": "市级专家组", "conclusion": "confirmed"},
        in_scope_user="commander",
    ),
    Endpoint("GET", "/api/v1/monitoring-policy", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint(
        "PUT",
        "/api/v1/monitoring-policy",
        body={"slot_times": ["08:00", "12:00", "16:00", "20:00"], "window_minutes": 60, "fever_threshold": 37.3},
        in_scope_user="commander",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/dashboard-thresholds", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint(
        "PUT",
        "/api/v1/dashboard-thresholds",
        body={"thresholds": {"fevers_today": 3}},
        in_scope_user="commander",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/ledgers/{ledger}?grid={grid}", in_scope_user="staff"),
    Endpoint(
        "POST",
        "/api/v1/ledgers/{ledger}/jobs",
        body={"grid": "{grid}"},
        in_scope_status=202,  # the export job (tests/core/test_ledger_export_jobs.py)
        in_scope_user="staff",
    ),
    # Emergency response
    Endpoint("GET", "/api/v1/plans/current", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint(
        "POST",
        "/api/v1/plans",
        body={"name": "预案", "steps": [{"title": "成立专班", "responsible_role": "commander", "deadline_hours": 1}]},
        in_scope_user="commander",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/activations", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/activations/{activation}"),
    Endpoint("GET", "/api/v1/activations/{activation}/chain"),
    Endpoint("POST", "/api/v1/tasks/{task}/complete", body={"note": "已成立工作专班"}),
    Endpoint(
        "POST",
        "/api/v1/exposures",
        body={"source_id": "{person_b}", "contact_id": "{person}", "last_exposure_at": "2020-02-05T18:00:00+08:00"},
        in_scope_user="head1",
    ),
    Endpoint("GET", "/api/v1/exposures", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/exposures?person={person_b}"),
    Endpoint("GET", "/api/v1/exposures?grid={grid}"),
    Endpoint("GET", "/api/v1/exposures/{exposure}"),
    Endpoint("GET", "/api/v1/epidemic-points", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/epidemic-points/{point}"),
    Endpoint("PATCH", "/api/v1/epidemic-points/{point}", body={"disinfected_at": "2020-02-07T10:00:00+08:00"}),
    Endpoint(
        "POST",
        "/api/v1/epidemic-points/{point}/households",
        body={"household_ids": ["{household_c}"]},
        in_scope_user="head1",
    ),
    # Reachable, then refused by the rule (the release is not proposed yet): access is what is tested.
    Endpoint(
        "POST", "/api/v1/epidemic-points/{point}/release", body={}, in_scope_user="commander", in_scope_status=400
    ),
    # Alerts
    Endpoint("GET", "/api/v1/alerts", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/alerts?person={person}"),
    Endpoint("GET", "/api/v1/alerts?grid={grid}&kind=fever"),
    Endpoint("GET", "/api/v1/alert-timing", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint("POST", "/api/v1/alerts/{alert}/acknowledge"),
    Endpoint("POST", "/api/v1/alerts/{alert}/resolve", body={"resolution": "已电话联系,复测正常"}),
    # Moves taken offline: each row names its alert; one the caller may not handle is a row error
    # (422, alert_not_found) and nothing moves.
    Endpoint(
        "POST",
        "/api/v1/alerts/actions/batch",
        body=lambda w: {
            "actions": [
                {
                    "client_id": str(uuid.uuid4()),
                    "alert_id": w.extra["alert"],
                    "action": "acknowledge",
                    "at": _now_iso(),
                }
            ]
        },
        no_role_status=422,
        out_of_scope_status=422,
    ),
    # Checkpoints (北门 on 第1网格, its passes issued)
    # 督查: inspections of 第1网格 (tests/oversight/world.py); the inspector (at the subdistrict)
    # inspects, 第1网格's staff read, the head of 第1网格 owns the rectifications.
    # The command dashboard (aggregates of 第1网格 for its staff; 第2网格's see nothing of it).
    Endpoint("GET", "/api/v1/dashboard/{grid}"),
    # 日报 (tests/oversight/world.py): 第1网格's report, signed by its head.
    Endpoint("GET", "/api/v1/reports", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/reports/{report}"),
    Endpoint(
        "POST",
        "/api/v1/reports/{report}/sign",
        body=lambda w: {"remarks": "已核", "version": w.extra["report_version"]},
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    # 核查名单 (tests/oversight/world.py): pushed to 花园社区; 张三's row is 第1网格's member's.
    Endpoint("POST", "/api/v1/verification-lists", body="verification", in_scope_status=202, in_scope_user="staff"),
    Endpoint("GET", "/api/v1/verification-lists", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/verification-lists/{verification_list}"),
    Endpoint("GET", "/api/v1/verification-lists/{verification_list}/entries"),
    Endpoint("POST", "/api/v1/verification-entries/{entry_matched}/outcome", body={"outcome": "at_home"}),
    Endpoint(
        "POST", "/api/v1/verification-entries/{entry_unmatched}/place", body={"grid": "S-C-G1"}, in_scope_user="staff"
    ),
    Endpoint(
        "GET", "/api/v1/omission-findings", no_role_status=200, out_of_scope_status=200, in_scope_user="inspector"
    ),
    Endpoint(
        "POST",
        "/api/v1/omission-findings/{omission}/review",
        body={"confirmed": False, "note": "已离开本市"},
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/inspections", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/inspections",
        body=lambda w: {"grid": "S-C-G1", "checklist_id": w.extra["checklist_local"], "planned_for": "2020-02-12"},
        in_scope_status=201,
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/inspections/{inspection}"),
    Endpoint(
        "POST",
        "/api/v1/inspections/{inspection}/findings",
        body={"item": 1, "passed": False, "note": "无人值守"},
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/inspections/{inspection}/complete",
        in_scope_status=400,
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/inspections/findings/{failed_finding}/rectification",
        body=lambda w: {
            "owner_id": w.users["head1"].pk,
            "request": "设宣传栏",
            "due_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        },
        in_scope_status=201,
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/inspections/findings/{failed_finding}/photo",
        body="photo",
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/inspections/rectifications/{rectification_open}/evidence",
        body="photo",
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/rectifications", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/rectifications/{rectification_open}/answer",
        body={"answer": "已补齐"},
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/rectifications/{rectification_answered}/recheck",
        body={"passed": True},
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/inspections/checklists", no_role_status=200, out_of_scope_status=200, shared=True),
    Endpoint(
        "POST",
        "/api/v1/inspections/checklists",
        body={"name": "新清单", "items": ["排查到位"], "grid": "S-C-G1"},
        in_scope_status=201,
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/inspections/checklists/{checklist_local}",
        body={"name": "第1网格清单", "items": ["门岗登记"], "grid": "S-C-G1"},
        in_scope_user="inspector",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/inspections/scores", no_role_status=200, out_of_scope_status=200),
    # mobilization: the party chain of 第1网格 (tests/mobilization/world.py), set up by its grid head
    Endpoint("GET", "/api/v1/mobilization/orgs", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/orgs",
        body={"grid": "S-C-G1-B2", "name": "2号楼党小组"},
        in_scope_status=201,
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/mobilization/orgs/{org}"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/orgs/{org_empty}/dissolve",
        body={"confirm": True},
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/orgs/{org}/members",
        body={"person_id": "{new_member}", "role": "member"},
        in_scope_status=201,
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST", "/api/v1/mobilization/members/{party_member}/end", in_scope_user="head1", out_of_scope_user="head2"
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/members/{party_member}/central",
        in_scope_status=201,
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/centrals/{central}/households",
        body={"household_ids": ["{unassigned_household}"]},
        in_scope_user="head1",
        out_of_scope_user="head2",
        # 第2网格's household named in the body of 第1网格's central household: unknown to the caller.
        foreign_body={"household_ids": ["{foreign_household}"]},
    ),
    Endpoint("GET", "/api/v1/mobilization/households/{household}/chain"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/chain/import",
        body="chain",
        in_scope_status=202,  # queued as a background job (tests/mobilization/test_ledger_jobs.py)
        in_scope_user="staff",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/mobilization/chain/export?grid={grid}", in_scope_user="staff"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/chain/export/jobs",
        body={"grid": "{grid}"},
        in_scope_status=202,  # the export job (tests/core/test_ledger_export_jobs.py)
        in_scope_user="staff",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/ledgers/{team_ledger}/import",
        body="units_ledger",
        in_scope_status=202,  # queued as a background job (tests/mobilization/test_ledger_jobs.py)
        in_scope_user="staff",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    *(
        Endpoint("GET", f"/api/v1/mobilization/ledgers/{{{key}}}/export?grid=S-C", in_scope_user="staff")
        for key in ("team_ledger", "team_ledger_v", "team_ledger_h")
    ),
    *(
        Endpoint(
            "POST",
            f"/api/v1/mobilization/ledgers/{{{key}}}/export/jobs",
            body={"grid": "S-C"},
            in_scope_status=202,  # the export job (tests/core/test_ledger_export_jobs.py)
            in_scope_user="staff",
        )
        for key in ("team_ledger", "team_ledger_v", "team_ledger_h")
    ),
    Endpoint("GET", "/api/v1/mobilization/temporary-branches", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/temporary-branches",
        body=lambda w: {
            "grid": "S-C-G1",
            "site_kind": "checkpoint",
            "site": "西门",
            "name": "西门卡点临时党支部",
            "opened_on": _today_iso(),
        },
        in_scope_status=201,
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint("GET", "/api/v1/mobilization/temporary-branches/{temp_branch}"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/temporary-branches/{temp_branch}/close",
        body=lambda w: {"closed_on": _today_iso(), "confirm": True},
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/temporary-branches/{temp_branch}/members",
        body={"person_id": "{new_member}", "role": "volunteer"},
        in_scope_status=201,
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/temporary-branch-members/{temp_seat}/end",
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    # volunteers and wishes (泉心愿): the community's office (staff) decides; 张三's wishes are member1's.
    Endpoint("GET", "/api/v1/mobilization/volunteer-teams", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/volunteer-teams",
        body={"grid": "S-C", "name": "爱邻联盟"},
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/mobilization/volunteers", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/volunteers",
        body={"grid": "S-C", "person_id": "{person}", "skills": "开车"},
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("POST", "/api/v1/mobilization/volunteers/{pending_volunteer}/approve", body={}, in_scope_user="staff"),
    Endpoint("POST", "/api/v1/mobilization/volunteers/{pending_volunteer}/refuse", body={}, in_scope_user="staff"),
    Endpoint("GET", "/api/v1/mobilization/volunteer-signup-link?grid=S-C", in_scope_user="staff"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/volunteers/{approved_volunteer}/shifts",
        body=lambda w: {
            "kind": "gate_duty",
            "starts_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).isoformat(),
            "ends_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
        },
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/mobilization/volunteer-hours", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/volunteers/{approved_volunteer}/link",
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/mobilization/wishes", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/wishes",
        body={"household_id": "{household}", "text": "送菜上门"},
        in_scope_status=201,
        foreign_body=lambda w: {"household_id": w.households["h2"].pk, "text": "送菜上门"},
    ),
    Endpoint("GET", "/api/v1/mobilization/wishes/{wish_open}"),
    Endpoint("POST", "/api/v1/mobilization/wishes/{wish_open}/claim", body={"volunteer_id": "{approved_volunteer}"}),
    Endpoint("POST", "/api/v1/mobilization/wishes/{wish_claimed}/release"),
    Endpoint("POST", "/api/v1/mobilization/wishes/{wish_claimed}/done", body={"note": "已送到"}),
    Endpoint("POST", "/api/v1/mobilization/wishes/{wish_open}/cancel", body={}),
    # 双报到: 花园路社区's units and appeals are its office's (staff).
    Endpoint("GET", "/api/v1/mobilization/units", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/units",
        body={
            "grid": "S-C",
            "kind": "building_enterprise",
            "name": "花园大厦物业",
            "contact_name": "蒋经理",
            "contact_phone": "13900000041",
        },
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/mobilization/units/{unit}", in_scope_user="staff"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/units/{unit}/members",
        body={"name": "韩党员"},
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/unit-members/{unit_member}/assign",
        body={"duty": "disinfection"},
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/mobilization/appeals", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/appeals",
        body={"grid": "S-C", "title": "倡议书", "text": "共同抗疫。"},
        in_scope_status=201,
        in_scope_user="staff",
    ),
    Endpoint("GET", "/api/v1/mobilization/appeals/{appeal}", in_scope_user="staff"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/appeal-acks/{appeal_ack}/acknowledge",
        body={"by_name": "冯主任"},
        in_scope_user="staff",
    ),
    # Notices to households: 第1网格's, issued by its grid head.
    Endpoint("GET", "/api/v1/mobilization/notices", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/notices",
        body={"grid": "S-C-G1", "title": "防控知识手册", "link": "https://example.org/booklet.pdf"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    # … and from an incident's task (张贴告知书 of 第1网格's activation): the task's grid by default.
    Endpoint(
        "POST",
        "/api/v1/mobilization/notices",
        body={"task_id": "{task}", "title": "关于小区封闭管理的告知书", "text": "即日起小区封闭管理。"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    Endpoint("GET", "/api/v1/mobilization/notices/{notice}"),
    # Publicity campaigns: 第1网格's, run by its grid head.
    Endpoint("GET", "/api/v1/mobilization/campaigns", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/campaigns",
        body={"grid": "S-C-G1", "title": "防疫知识进万家", "target": "grid"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    Endpoint("GET", "/api/v1/mobilization/campaigns/{campaign}"),
    Endpoint(
        "POST",
        "/api/v1/mobilization/campaigns/{campaign}/materials",
        body={"kind": "text", "title": "告居民书", "text": "请配合防控。"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    Endpoint(
        "POST",
        "/api/v1/mobilization/campaigns/{campaign}/posts",
        body={"channel": "official_account", "link": "https://example.org/a"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    # After release: 李四's visit (grid lead) and health check (grid member: record_health).
    Endpoint("GET", "/api/v1/mobilization/followups", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/mobilization/followups/{followup_visit}/done",
        body={"note": "上门慰问"},
        in_scope_user="head1",
        out_of_scope_user="head2",
    ),
    Endpoint("POST", "/api/v1/mobilization/followups/{followup_check}/done", body={"note": "体温正常"}),
    Endpoint("GET", "/api/v1/checkpoints", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/checkpoints",
        body={"grid": "{grid}", "name": "南门"},
        in_scope_status=201,
        in_scope_user="secretary",
    ),
    Endpoint("POST", "/api/v1/checkpoints/{checkpoint}/close", in_scope_user="secretary"),
    Endpoint(
        "POST",
        "/api/v1/checkpoints/{checkpoint}/scan",
        body={"number": "{pass_number}", "direction": "in", "temperature": 36.5},
        in_scope_user="guard1",
        foreign_body={"number": "{foreign_pass_number}", "direction": "out", "temperature": 36.5},
    ),
    Endpoint(
        "POST",
        "/api/v1/passages/batch",
        body=lambda w: {
            "checkpoint_id": w.extra["checkpoint"],
            "passages": [
                {"number": w.extra["pass_number"], "direction": "out", "at": _now_iso(), "client_id": str(uuid.uuid4())}
            ],
        },
        in_scope_user="guard1",
        foreign_body=lambda w: {
            "checkpoint_id": w.extra["checkpoint"],
            "passages": [
                {
                    "number": w.extra["foreign_pass_number"],
                    "direction": "out",
                    "at": _now_iso(),
                    "client_id": str(uuid.uuid4()),
                }
            ],
        },
        foreign_status=422,
    ),
    Endpoint(
        "POST",
        "/api/v1/checkpoints/{checkpoint}/visitors",
        body=lambda w: {
            "name": "来访者",
            "phone": "13800138000",
            "id_number": make_id_number(),
            "visiting_household_id": w.households["h1"].pk,
            "reason": "送药",
            "direction": "in",
            "temperature": 36.4,
        },
        in_scope_status=201,
        in_scope_user="guard1",
        foreign_body=lambda w: {
            "name": "来访者",
            "phone": "13800138000",
            "id_number": make_id_number(),
            "visiting_household_id": w.households["h2"].pk,
            "reason": "送药",
            "direction": "in",
        },
    ),
    # Visitors registered offline: the household visited is looked up in the checkpoint's compound
    # only; another compound's address is a row error (422) with nothing of it.
    Endpoint(
        "POST",
        "/api/v1/visitors/batch",
        body=lambda w: {
            "checkpoint_id": w.extra["checkpoint"],
            "visitors": [_offline_visitor(w.households["h1"].address)],
        },
        in_scope_user="guard1",
        foreign_body=lambda w: {
            "checkpoint_id": w.extra["checkpoint"],
            "visitors": [_offline_visitor(w.households["h2"].address)],
        },
        foreign_status=422,
    ),
    Endpoint("POST", "/api/v1/households/passes", body={"grid": "{grid}"}, in_scope_user="head1"),
    # The retention purge (a dry run here): the operator's alone (tests/oversight/test_purge_page.py).
    Endpoint(
        "POST",
        "/api/v1/purge",
        body={"dry_run": True},
        in_scope_status=202,
        in_scope_user="operator",
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint(
        "POST",
        "/api/v1/passes/sheet-jobs",
        body={"grid": "{grid}"},
        in_scope_status=202,  # queued as a background job (tests/gates/test_pass_sheet_job.py)
        in_scope_user="head1",
    ),
    Endpoint("GET", "/api/v1/households/{household}/passes"),
    Endpoint("POST", "/api/v1/passes/{household_pass}/reissue", in_scope_user="head1"),
    Endpoint("POST", "/api/v1/passes/{household_pass}/revoke", in_scope_user="head1"),
    Endpoint("GET", "/api/v1/checkpoints/{checkpoint}/roster", in_scope_user="guard1"),
    Endpoint("GET", "/api/v1/passages", no_role_status=200, out_of_scope_status=200, in_scope_user="guard1"),
    Endpoint("GET", "/api/v1/passages?checkpoint={checkpoint}", in_scope_user="guard1"),
    Endpoint("GET", "/api/v1/passages?household={household}"),
    Endpoint("GET", "/api/v1/passages?grid={grid}", in_scope_user="guard1"),
    Endpoint(
        "POST",
        "/api/v1/checkpoints/{checkpoint}/shifts",
        body=lambda w: {
            "starts_at": _now_iso(),
            "ends_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).isoformat(),
            "leader": "guard1",
            "guards": [],
        },
        in_scope_status=201,
        in_scope_user="secretary",
    ),
]


def _now_iso():
    return dt.datetime.now(dt.UTC).isoformat()


def _offline_visitor(visiting: str) -> dict:
    return {
        "name": "来访者",
        "phone": "13800138000",
        "id_number": make_id_number(),
        "visiting": visiting,
        "reason": "送药",
        "temperature": 36.4,
        "at": _now_iso(),
        "client_id": str(uuid.uuid4()),
    }


@pytest.fixture
def world(world):
    """The base world plus one of everything the control and health endpoints act on, all in
    第1网格 (member1's) — never in member2's."""
    from epigrid.alerts.models import Alert
    from epigrid.control import services as control
    from epigrid.health import services as health

    p1, p1b, admin = world.persons["p1"], world.persons["p1b"], world.admin
    tip = control.tip_record(
        persons=[p1],
        reported_at=dt.datetime(2020, 1, 26, 8, tzinfo=dt.UTC),
        reporter="网格员",
        origin_code="420600",
        travel_mode="self_drive",
        principal=admin,
    )
    order = control.control_order_start(
        person=p1,
        kind="home_quarantine",
        reason="risk_area_arrival",
        starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        principal=admin,
    )
    member = control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=admin
    )
    test_list = health.test_list_create(
        name="建新街道核酸测试名单",
        test_date=dt.date(2020, 2, 1),
        grid=world.nodes["S-C-G1"],
        persons=world.persons["p1"].__class__.objects.filter(pk=p1.pk),
        principal=admin,
    )
    health.sample_record(person=p1, specimen_number="MX-1", sampled_at=dt.datetime.now(dt.UTC), principal=admin)
    health.sample_record(person=p1b, specimen_number="MX-2", sampled_at=dt.datetime.now(dt.UTC), principal=admin)
    health.results_record(results=[health.ResultIn("MX-2", "positive", dt.datetime.now(dt.UTC))], principal=admin)
    health.temperature_reports_record(
        readings=[health.Reading(p1.pk, "38.2", dt.datetime.now(dt.UTC))], source="liaison", principal=admin
    )
    from epigrid.people import services as people_services
    from epigrid.response.models import Activation
    from tests.factories import make_id_number

    health.consultation_record(
        case=p1b.case, held_at=dt.datetime.now(dt.UTC), experts="专家组", conclusion="confirmed", principal=admin
    )
    from epigrid.response import services as response

    activation = response.Activation.objects.get(cases=p1b.case)
    household_c = people_services.household_create(
        grid=world.nodes["S-C-G1-B1"], number="3-301", address="3单元301", principal=admin
    )
    people_services.person_create(name="赵七", id_number=make_id_number(), household=household_c, principal=admin)
    # A close contact of the confirmed case (a household of its own: its orders touch nothing else).
    household_x = people_services.household_create(
        grid=world.nodes["S-C-G1-B1"], number="4-401", address="4单元401", principal=admin
    )
    contact = people_services.person_create(
        name="孙九", id_number=make_id_number(), household=household_x, principal=admin
    )
    exposure = response.exposure_record(
        source=p1b, contact=contact, last_exposure_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2), principal=admin
    )
    assert Activation.objects.count() == 1
    from epigrid.gates import services as gates
    from epigrid.gates.models import HouseholdPass

    checkpoint = gates.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=admin)
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=admin)
    household_pass = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)
    # 第2网格's passes too (member2's compound): a gate of 第1网格 must answer them with nothing.
    gates.passes_issue(grid=world.nodes["S-C-G2"], principal=admin)
    foreign_pass = HouseholdPass.objects.get(household=world.households["h2"], revoked_at__isnull=True)
    from epigrid.accounts.services import api_token_grant
    from epigrid.core.models import Job
    from tests.mobilization.world import (
        add_campaigns,
        add_chain,
        add_followups,
        add_notices,
        add_units,
        add_volunteers,
    )
    from tests.oversight.world import add_inspections, add_omissions, add_reports, add_verification

    job = Job.objects.create(
        kind="ledger_import",
        params={"kind": "residents", "file_name": "jobs-roster.xlsx", "second_factor": True},
        created_by=world.users["staff"],
        grid_path=world.nodes["S-C"].path,
    )
    from epigrid.core import jobs
    from epigrid.people.ledgers import ledger_export_start

    export_job = ledger_export_start(kind="residents", node=world.nodes["S-C"], principal=world.users["staff"])
    jobs.run(export_job.pk)  # at once: the world's transaction never commits
    world.extra = {
        "job": job.pk,
        "export_job": export_job.pk,
        **add_chain(world),
        **add_volunteers(world),
        **add_units(world),
        **add_notices(world),
        **add_campaigns(world),
        **add_followups(world),
        **add_inspections(world),
        **add_reports(world),
        **add_verification(world),
        **add_omissions(world),
        "foreign_household": world.households["h2"].pk,
        "api_token": api_token_grant(user=world.users["member1"], label="phone").token.pk,
        "activation": activation.pk,
        "task": activation.tasks.get(title="成立工作专班").pk,
        "point": activation.points.get().pk,
        "household_c": household_c.pk,
        "key_person": tip.key_persons.get().pk,
        "tip": tip.pk,
        "exposure": exposure.pk,
        "order": order.pk,
        "team_member": member.pk,
        "test_list": test_list.pk,
        "case": p1b.case.pk,
        "alert": Alert.objects.get(kind="fever").pk,
        "person_b": p1b.pk,
        "ledger": "orders",
        "checkpoint": checkpoint.pk,
        "household_pass": household_pass.pk,
        "pass_number": household_pass.number,
        "foreign_pass_number": foreign_pass.number,
    }
    world.users["operator"] = admin  # who may purge: edits people everywhere
    return world


def _fill(world, template: str) -> str:
    values = {
        **getattr(world, "extra", {}),
        "grid": "S-C-G1",
        "kind": "residents",
        "team_ledger": "units",  # the units, volunteers and hours ledgers of the "3" (mobilization)
        "team_ledger_v": "volunteers",
        "team_ledger_h": "hours",
        "building": "S-C-G1-B1",
        "person": world.persons["p1"].pk,
        "household": world.households["h1"].pk,
        "place": world.places["clinic"].pk,
        "assignment": world.users["member1"].grid_assignments.get().pk,
        "user": world.users["member1"].pk,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


def _call(world, endpoint: Endpoint, username: str | None, body=None):
    client = Client()
    headers = {}
    if username:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {api_token_issue(user=world.users[username])}"
    path = _fill(world, endpoint.path)
    method = getattr(client, endpoint.method.lower())
    if endpoint.body == "results":
        upload = io.BytesIO(
            _xlsx(
                [
                    ["样本编号", "检测结果", "报告时间", "检测机构"],
                    ["MX-1", "阴性", "2020-02-06 10:00", "济南市疾控中心"],
                ]
            )
        )
        upload.name = "results.xlsx"
        return method(path, {"file": upload}, **headers)
    if endpoint.body == "units_ledger":
        rows = [
            ["类型", "社区编码", "单位名称", "单位类别", "姓名", "联系电话"],
            ["党员", "S-C", "建新供电所", "", "韩党员", ""],
        ]
        upload = io.BytesIO(_xlsx(rows))
        upload.name = "units.xlsx"
        return method(path, {"file": upload}, **headers)
    if endpoint.body == "chain":
        upload = io.BytesIO(_xlsx([["类型", "网格编码", "名称"], ["楼院党小组", "S-C-G1-B2", "2号楼党小组"]]))
        upload.name = "chain.xlsx"
        return method(path, {"file": upload}, **headers)
    if endpoint.body == "verification":
        upload = io.BytesIO(_xlsx([["姓名", "身份证号"], ["钱七", make_id_number()]]))
        upload.name = "list.xlsx"
        return method(path, {"grid": "S-C", "name": "名单", "file": upload}, **headers)
    if endpoint.body == "photo":
        from PIL import Image

        upload = io.BytesIO()
        Image.new("RGB", (40, 30), "green").save(upload, "JPEG")
        upload.seek(0)
        upload.name = "photo.jpg"
        return method(path, {"photo": upload}, **headers)
    if endpoint.body == "multipart":
        rows = [
            ["网格编码", "户号", "住址", "姓名", "身份证号码"],
            ["S-C-G1-B1", "3-301", "3单元301", "钱七", make_id_number()],
        ]
        upload = io.BytesIO(_xlsx(rows))
        upload.name = "roster.xlsx"
        return method(path, {"kind": "residents", "file": upload}, **headers)
    body = endpoint.body if body is None else body
    body = body(world) if callable(body) else body
    if body is None:
        return method(path, **headers)
    body = {k: _fill_value(world, v) for k, v in body.items()}
    return method(path, body, content_type="application/json", **headers)


def _fill_value(world, value):
    if isinstance(value, str):
        filled = _fill(world, value)
        return int(filled) if filled.isdigit() and value.startswith("{") else filled
    if isinstance(value, list):
        return [_fill_value(world, v) for v in value]
    return value


def _ids(endpoint):
    return f"{endpoint.method} {endpoint.path}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_anonymous_is_refused(world, endpoint):
    response = _call(world, endpoint, None)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_user_without_role_sees_nothing(world, endpoint):
    response = _call(world, endpoint, "norole")
    assert response.status_code == endpoint.no_role_status, response.content
    if response.status_code == 200 and "json" in response["Content-Type"]:
        data = response.json()
        items = data.get("items", data) if isinstance(data, dict) else data
        if isinstance(data, dict) and "gaps" in data:
            items = data["gaps"] + data["overlaps"]
        if not endpoint.shared:
            assert items == [], data


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_out_of_scope_user_gets_404_or_nothing(world, endpoint):
    response = _call(world, endpoint, endpoint.out_of_scope_user)
    assert response.status_code == endpoint.out_of_scope_status, response.content
    body = response.content.decode()
    # Nothing of the other grid leaks into a list.
    assert "张三" not in body and str(world.persons["p1"].id_number_masked) not in body


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_in_scope_user_is_served(world, endpoint):
    response = _call(world, endpoint, endpoint.in_scope_user)
    assert response.status_code == endpoint.in_scope_status, response.content


def _about_compound_2(world) -> dict:
    """What is recorded about 第2网格's household: passages of its pass, alerts and audit there."""
    from epigrid.alerts.models import Alert
    from epigrid.core.models import AuditEvent
    from epigrid.gates.models import Passage

    path = world.nodes["S-C-G2"].path
    return {
        "passages": Passage.objects.filter(household_pass__household=world.households["h2"]).count(),
        "alerts": Alert.objects.filter(grid__path__startswith=path).count(),
        "audit": AuditEvent.objects.filter(grid_path__startswith=path).count(),
    }


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.foreign_body is not None], ids=_ids)
def test_naming_another_compounds_object_gives_nothing_of_it(world, endpoint):
    before = _about_compound_2(world)
    response = _call(world, endpoint, endpoint.in_scope_user, body=endpoint.foreign_body)
    assert response.status_code == endpoint.foreign_status, response.content
    body = response.content.decode()
    household = world.households["h2"]
    for shown in ("王五", household.address, "S-C-G2-B1", "colour", "codes", "passage_id"):
        assert shown not in body, shown
    assert f'"household_id": {household.pk}' not in body and f'"id": {household.pk}' not in body
    assert _about_compound_2(world) == before


PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/resident/{token}/temperature"),
    ("POST", "/api/v1/mobilization/signup/{token}"),  # a community's signed sign-up token
    ("GET", "/api/v1/mobilization/volunteer/{token}/wishes"),  # an approved volunteer's own link
    ("POST", "/api/v1/mobilization/volunteer/{token}/wishes/{pk}/claim"),
}


def test_every_endpoint_is_in_the_matrix():
    listed = {(e.method, e.path.split("?")[0]) for e in ENDPOINTS} | PUBLIC
    schema = api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        template = re.sub(r"\{\w+\}", "{x}", path)
        for method in operations:
            known = {(m, re.sub(r"\{\w+\}", "{x}", p)) for m, p in listed}
            assert (method.upper(), template) in known, f"{method.upper()} {path} is not in the scoping matrix"
