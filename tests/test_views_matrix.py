"""The scoping matrix of the HTML pages: every URL pattern, GET and (where the view takes it)
POST, for anonymous, no-role, out-of-scope, read-only and in-scope users (ARCHITECTURE "Tests").

The rule checked: anonymous is sent to the login page (a bad token on the resident's pages is a
404); an object outside the user's subtree is 404, never 403 and never shown; a list answers 200
with nothing of another compound in it; an object the user sees but may not change answers 403;
the right role is served (200, or a redirect after a successful write). A refused request writes
nothing (no audit row); a served write writes one.

A URL pattern without a row fails `test_every_page_is_in_the_matrix`, so every later page
inherits the check. Where the code answers wrongly today, the case is an `xfail(strict=True)`
naming what happens: it turns into a failure once fixed, and the mark comes off then.
"""

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field

import pytest
import xlsxwriter
from django.apps import apps
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from python_calamine import CalamineWorkbook

from epigrid.core.crypto import unseal
from epigrid.core.models import AuditEvent
from tests.factories import build_world, make_id_number

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # as tests/conftest.py

# Who asks.
ANONYMOUS = "anonymous"
NO_ROLE = "no_role"
OUT_OF_SCOPE = "out_of_scope"
READER = "reader"  # sees the object, may not change it
IN_SCOPE = "in_scope"
WHO = (ANONYMOUS, NO_ROLE, OUT_OF_SCOPE, READER, IN_SCOPE)

# What a page is.
OBJECT = "object"  # one grid-scoped object (or a grid): 404 for whoever cannot see it
LIST = "list"  # everyone's own rows: 200, empty for a user without a role
SHARED = "shared"  # configuration every user reads (rules, the plan): not grid data
TOKEN = "token"  # the resident's own link, a password reset link: the token is the credential
OWN = "own"  # one's own account (password, second factor): every logged-in user's, nobody else's
PUBLIC = "public"  # the installable app's files (manifest, service worker): nobody's data, GET only
OPERATOR = "operator"  # the operator's alone (the retention purge): anyone else 403, whatever their roles
HOME, LOGIN, LOGOUT = "home", "login", "logout"

LOGIN_URL = "/login/"


@dataclass
class Page:
    name: str  # the URL name, namespaced ("people:person")
    kwargs: dict = field(default_factory=dict)  # "{person}" … filled from the world
    query: str = ""
    kind: str = OBJECT
    get: int | None = 200  # what the in-scope user's GET answers; None: the view takes POST only
    post: object = None  # dict, callable(world) -> dict, or "roster"/"results" (uploads); None: no POST
    post_status: int = 302  # what the in-scope user's POST answers
    user: str = "member1"  # in scope, with the role the page needs
    other: str = "member2"  # the same kind of user in the other compound (or community)
    reader: str | None = "inspector"  # sees it, may not change it
    gated: bool = False  # reading it needs more than VIEW (exports, write forms): the reader gets 403
    list_post: int = 404  # a list page's POST names a grid: whoever cannot see it gets 404
    other_post: int | None = None  # the out-of-scope POST, where it is not 404 (batches: 422)
    get_elsewhere: bool = False  # a POST variant of a page whose GET is another row
    writes: str = ""  # a model ("gates.Passage") whose rows a write adds, where it is not audited
    # The audit action(s) a refusal itself records ("import.reject"; a tuple for several).
    logged_refusal: str | tuple = ""
    shows: str = ""  # what the in-scope GET must show (so that its absence elsewhere means something)
    variant: str = ""  # tells apart rows of one pattern (actions, query strings)
    token: tuple = ("token", "token", "stale_token")  # a token page: its URL kwarg, the good and the stale token
    bugs: dict = field(default_factory=dict)  # (method, who) -> what the code does wrong today

    @property
    def id(self) -> str:
        return self.name + (f"[{self.variant}]" if self.variant else "")


def _now_local(hours: float = 0) -> str:
    return timezone.localtime(timezone.now() + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


PAGES = [
    # accounts
    Page("home", kind=HOME),
    Page("login", kind=LOGIN, post=lambda w: {"username": "member1", "password": "x-test-password-1"}),
    Page("logout", kind=LOGOUT, get=None, post={}),
    # The installable app (issue 11 "Offline"): served to anyone, the same for everyone.
    Page("manifest", kind=PUBLIC, shows="standalone"),
    Page("service_worker", kind=PUBLIC, shows="importScripts"),
    Page("account", kind=OWN),
    Page(
        "password_change",
        kind=OWN,
        post={"old_password": "x-test-password-1", "new_password": "gx-5317-lane", "new_password2": "gx-5317-lane"},
    ),
    # Already past the second factor (every factory login is): on to the page asked for.
    Page("mfa_verify", kind=OWN, get=302),
    Page("mfa_enrol", kind=OWN, get=302),
    Page(
        "password_reset",
        {"key": "{reset_key}"},
        kind=TOKEN,
        token=("key", "reset_key", "stale_reset_key"),
        get=302,
        post={"new_password": "gx-5317-lane", "new_password2": "gx-5317-lane"},
    ),
    # accounts managed by a grid head (member1's account, in 第1网格)
    Page(
        "users:list",
        kind=LIST,
        user="head1",
        other="head2",
        shows="member1",
        post={
            "username": "liu9",
            "full_name": "刘九",
            "grid": "S-C-G1",
            "role": "grid_member",
            "password": "gx-5317-lane",
        },
    ),
    Page("users:detail", {"pk": "{member_user}"}, user="head1", other="head2", reader=None, shows="member1"),
    Page(
        "users:assign",
        {"pk": "{member_user}"},
        get=None,
        post={"grid": "S-C-G1-B1", "role": "building_head"},
        user="head1",
        other="head2",
        reader=None,
    ),
    *(
        Page(
            "users:action",
            {"pk": "{inactive_user}" if action == "reactivate" else "{member_user}", "action": action},
            variant=action,
            get=None,
            post={},
            post_status=200 if action == "password-reset" else 302,
            user="head1",
            other="head2",
            reader=None,
        )
        for action in ("deactivate", "reactivate", "password-reset", "mfa-reset")
    ),
    # alerts (the fever alert on 张三)
    Page("alerts:list", kind=LIST, shows="张三"),
    Page(
        "alerts:list",
        query="status=any&sort=-raised&kind=fever&from=2020-01-01",
        variant="filtered",
        kind=LIST,
        shows="张三",
    ),
    Page("alerts:list", query="grid=S-C-G1&sort=kind", variant="grid", shows="张三"),
    Page(
        "alerts:move",
        {"pk": "{alert}", "action": "acknowledge"},
        variant="acknowledge",
        get=None,
        post={},
    ),
    Page(
        "alerts:move",
        {"pk": "{alert}", "action": "resolve"},
        variant="resolve",
        get=None,
        post={"resolution": "已电话联系,复测正常"},
    ),
    # care (张三's household is under home quarantine: its services, and his supply request)
    Page("care:task_done", {"pk": "{service_task}"}, get=None, post={"note": "已送菜"}),
    Page("care:request_done", {"pk": "{supply_request}"}, get=None, post={"note": "已送达"}),
    Page("care:task_photo", {"pk": "{photo_service_task}"}),  # the photo: whoever sees the service
    Page(
        "resident_request",
        {"token": "{token}"},
        kind=TOKEN,
        get=302,
        post={"text": "需要买药"},
    ),
    Page(
        "resident",
        {"token": "{token}"},
        kind=TOKEN,
        # Confirmed: the world has a 38.2 of a moment ago, and a 1.7 °C jump asks first.
        post={"value": "36.5", "confirm": "1"},
        post_status=200,
    ),
    # grids
    Page("grids:place", {"pk": "{clinic}"}, shows="卫生室"),
    Page(
        "grids:place_create",
        {"code": "S-C-G1"},
        post={"name": "药店", "kind": "shop"},
        gated=True,
    ),
    # oversight (mounted under grids/)
    Page("oversight:tree", kind=LIST, shows="S-C-G1 name"),
    Page("oversight:coverage", kind=LIST),
    Page("oversight:coverage", query="grid=S-C-G1", variant="grid"),
    Page(
        "oversight:assignment_end",
        {"pk": "{assignment}"},
        get=None,
        post={"confirm": "1"},
        user="head1",
        other="head2",
    ),
    Page("oversight:node", {"code": "S-C-G1"}, shows="S-C-G1-B1 name"),
    Page("oversight:node", {"code": "S-C-G1"}, query="tab=persons", variant="persons", shows="张三"),
    Page("oversight:node", {"code": "S-C-G1"}, query="tab=staff", variant="staff"),
    Page(
        "oversight:assignment_add",
        {"code": "S-C-G1"},
        get=None,
        post={"username": "norole", "role": "volunteer"},
        user="head1",
        other="head2",
    ),
    # people
    Page("people:persons", kind=LIST, shows="张三"),
    Page("people:persons", query="grid=S-C-G1", variant="grid", shows="张三"),
    Page(
        "people:persons", query="q=S-C&sort=-name&status=&from=2020-01-01", variant="filtered", kind=LIST, shows="张三"
    ),
    Page("people:households", kind=LIST, shows="S-C-G1-B1 1-101"),
    Page("people:households", query="grid=S-C-G1&q=1-101&sort=-address", variant="grid", shows="S-C-G1-B1 1-101"),
    Page(
        "people:person_create",
        query="household={household}",
        post=lambda w: {"name": "新人", "id_number": make_id_number()},
        gated=True,
    ),
    Page("people:person", {"pk": "{person}"}, shows="张三"),
    # The exact search (a full ID number, posted): the unmask right where it searches. Out of
    # scope it finds nobody and still logs the search as a reveal.
    Page(
        "people:person_search",
        kind=LIST,
        get=None,
        post=lambda w: {"key": unseal(w.persons["p1"].id_number_sealed)},
        post_status=200,
        list_post=403,
        other_post=200,
        logged_refusal="person.search_reveal",
    ),
    Page(
        "people:person_edit",
        {"pk": "{person}"},
        post={"name": "张三", "note": "行动不便"},
        gated=True,
    ),
    Page("people:person_reveal", {"pk": "{person}", "field": "phone"}, get=None, post={}, post_status=200),
    Page("people:person_archive", {"pk": "{person}"}, get=None, post={"reason": "搬离"}),
    Page(
        "people:household_create",
        query="grid=S-C-G1-B1",
        post={"number": "2-202", "address": "2单元202"},
        gated=True,
    ),
    Page("people:household", {"pk": "{household}"}, shows="李四"),
    # The import page itself is a form anyone may open (tests/test_views.py); the write needs
    # the import right (403 before anything is queued), and the file becomes a background job
    # whose page follows it (302). Rows outside the importer's subtree are refused row by row in
    # the job ("unknown grid code (or outside your area)", as for a code that does not exist):
    # nothing written but the refused job's own record (tests/core/test_jobs.py).
    Page(
        "people:import",
        kind=LIST,
        post="roster",
        post_status=302,
        user="staff",
        other="staff2",
        list_post=403,
        other_post=302,
        logged_refusal=("import.reject", "job.running", "job.failed"),
    ),
    # Background jobs (core.jobs): one's own, and those over the grids where one reads the audit
    # log (the inspector at the subdistrict reads staff's job, may not cancel it).
    Page("jobs:list", kind=LIST, user="staff", other="staff2", shows="jobs-roster.xlsx"),
    Page("jobs:detail", {"pk": "{job}"}, user="staff", other="staff2", shows="jobs-roster.xlsx"),
    Page("jobs:cancel", {"pk": "{job}"}, get=None, post={}, user="staff", other="staff2"),
    # The file a job made (staff's residents export of 建新社区): its starter alone downloads it;
    # anyone else, the inspector who reads the job too, 404 (tests/core/test_job_results.py).
    Page("jobs:download", {"pk": "{export_job}"}, user="staff", other="staff2", reader=None, shows="张三"),
    # The retention purge: the operator's page and its start (a dry run here), each a job
    # (tests/oversight/test_purge_page.py).
    Page(
        "retention:purge",
        kind=OPERATOR,
        user="operator",
        other="secretary",
        reader="commander",
        shows='data-setting="retention_days"',
    ),
    Page(
        "retention:purge_start",
        kind=OPERATOR,
        get=None,
        post={"dry_run": "1"},
        user="operator",
        other="secretary",
        reader="commander",
    ),
    # The residents' export as a background job: 302 to the job's page (tests/core/test_job_results.py).
    Page(
        "people:export_job",
        {"kind": "residents"},
        get=None,
        post={"grid": "S-C"},
        user="staff",
        other="staff2",
    ),
    Page(
        "people:export",
        {"kind": "residents"},
        query="grid=S-C-G1",
        gated=True,
        user="staff",
        other="staff2",
        shows="张三",
    ),
    # 督查: inspections of 第1网格 (tests/oversight/world.py): the inspector (at the subdistrict)
    # inspects, 第1网格's head reads and owns the rectifications, 第2网格's head sees none of it.
    Page(
        "inspections:list",
        kind=LIST,
        user="inspector",
        other="head2",
        reader="head1",
        shows="S-C-G1 name",
        post={"grid": "S-C-G1", "checklist": "{checklist_local}", "planned_for": "2020-02-12"},
    ),
    Page(
        "inspections:round", {"pk": "{inspection}"}, user="inspector", other="head2", reader="head1", shows="排查到位"
    ),
    Page(
        "inspections:finding",
        {"pk": "{inspection}"},
        get=None,
        post={"item": "1", "passed": "no", "note": "无人值守"},
        user="inspector",
        other="head2",
        reader="head1",
    ),
    Page(
        "inspections:complete",
        {"pk": "{inspection_full}"},
        get=None,
        post={},
        user="inspector",
        other="head2",
        reader="head1",
    ),
    Page(
        "inspections:rectify",
        {"pk": "{failed_finding}"},
        get=None,
        post={"request": "设宣传栏", "owner": "{head1_user}", "due_at": "2099-01-01T10:00"},
        user="inspector",
        other="head2",
        reader="head1",
    ),
    Page("inspections:rectifications", kind=LIST, user="head1", other="head2", shows="补齐门岗登记"),
    Page(
        "inspections:rectification",
        {"pk": "{rectification_open}"},
        user="head1",
        other="head2",
        reader="member1",
        shows="补齐门岗登记",
    ),
    Page(
        "inspections:answer",
        {"pk": "{rectification_open}"},
        get=None,
        post={"answer": "已补齐"},
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "inspections:recheck",
        {"pk": "{rectification_answered}"},
        get=None,
        post={"passed": "yes"},
        user="inspector",
        other="head2",
        reader="head1",
    ),
    Page(
        "inspections:photo",
        {"which": "finding", "pk": "{failed_finding}"},
        user="inspector",
        other="head2",
        reader="head1",
    ),
    Page(
        "inspections:checklists",
        kind=LIST,
        user="inspector",
        other="head2",
        reader="head1",
        shows="第1网格清单",
        post={"name": "新清单", "items": "排查到位\n消杀记录", "grid": "S-C-G1"},
    ),
    Page(
        "inspections:checklist",
        {"pk": "{checklist_local}"},
        user="inspector",
        other="head2",
        reader="head1",
        shows="门岗登记",
        post={"name": "第1网格清单", "items": "门岗登记"},
    ),
    Page("inspections:scores", kind=LIST, user="inspector", other="head2", shows="S-C-G1 name"),
    # The command dashboard: 第1网格's figures for its staff; a guard there has none (403), the
    # other compound's staff none of it (404); thresholds are set by who sets the rules.
    Page("dashboard:home", kind=LIST, get=302, user="commander", other="guard1", reader=None),
    Page(
        "dashboard:node",
        {"code": "S-C-G1"},
        user="head1",
        other="member2",
        reader="guard1",
        gated=True,
        shows="S-C-G1 name",
    ),
    Page(
        "dashboard:map",
        {"code": "S-C-G1"},
        user="head1",
        other="member2",
        reader="guard1",
        gated=True,
        shows="S-C-G1 name",
    ),
    # 网格地图: an outline drawn on the map page, by who edits the grid tree there.
    Page(
        "dashboard:outline",
        {"code": "S-C-G1"},
        get=None,
        post={
            "boundary": json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [[[117.03, 36.67], [117.031, 36.67], [117.031, 36.671], [117.03, 36.67]]],
                }
            )
        },
        user="secretary",
        other="staff2",
        reader="head1",
    ),
    # 网格地图: outlines from GeoJSON, by who edits the grid tree.
    Page(
        "oversight:map_import",
        kind=LIST,
        user="secretary",
        other="staff2",
        reader=None,
        post="geojson",
        list_post=403,
    ),
    Page(
        "dashboard:thresholds",
        kind=SHARED,
        get=None,
        post={"fevers_today": "3", "next": "/dashboard/S-C/"},
        user="secretary",
        other="member2",
        reader="member1",
    ),
    # 日报: today's reports (tests/oversight/world.py): 第1网格's is read by its staff and signed
    # by its head; the other compound's staff see nothing of it.
    Page("reports:list", kind=LIST, user="head1", other="head2", reader=None, shows="S-C-G1 name"),
    Page(
        "reports:report",
        {"pk": "{report}"},
        user="head1",
        other="head2",
        reader="member1",
        post={"remarks": "夜间巡查两次", "action": "save"},
        shows="S-C-G1 name",
    ),
    Page("reports:print", {"pk": "{report}"}, user="head1", other="head2", reader=None, shows="S-C-G1 name"),
    Page("reports:xlsx", {"pk": "{report}"}, user="head1", other="head2", reader=None),
    # 核查名单 (tests/oversight/world.py): pushed to 花园社区, imported by its staff; 张三's row is
    # 第1网格's member's to verify; the unmatched row is the community's to place.
    Page(
        "verification:list",
        kind=LIST,
        user="staff",
        other="staff2",
        reader=None,
        post="verification",
        shows="市大数据筛查名单",
    ),
    Page(
        "verification:detail",
        {"pk": "{verification_list}"},
        user="staff",
        other="member2",
        reader="member1",
        shows="张三",
    ),
    Page(
        "verification:feedback",
        {"pk": "{verification_list}"},
        user="staff",
        other="member2",
        reader="member1",
        gated=True,
    ),
    Page(
        "verification:verify",
        {"pk": "{entry_matched}"},
        get=None,
        post={"outcome": "at_home", "note": "在家"},
        user="member1",
        other="member2",
        reader="inspector",
    ),
    Page(
        "verification:place",
        {"pk": "{entry_unmatched}"},
        get=None,
        post={"grid": "S-C-G1"},
        user="staff",
        other="member2",
        reader="inspector",
    ),
    # 漏报/瞒报: the checks' finding on 张三 (tests/oversight/world.py), reviewed by the inspector.
    Page("inspections:omissions", kind=LIST, user="inspector", other="head2", reader=None, shows="张三"),
    Page(
        "inspections:omission_review",
        {"pk": "{omission}"},
        get=None,
        post={"verdict": "dismissed", "note": "已离开本市"},
        user="inspector",
        other="head2",
        reader="member1",
    ),
    # mobilization: the party chain of 第1网格 (tests/mobilization/world.py), set up by its grid head
    Page(
        "mobilization:chain",
        kind=LIST,
        user="head1",
        other="head2",
        shows="第1网格党支部",
        post={"grid": "S-C-G1-B2", "name": "2号楼党小组"},
    ),
    Page(
        "mobilization:import",
        kind=LIST,
        post="chain",
        # Queued as a background job (mobilization.ledger_jobs), whose page shows the report; rows
        # outside the importer's area are refused in the job: nothing written but its own record.
        post_status=302,
        user="staff",
        other="staff2",
        list_post=403,
        other_post=302,
        logged_refusal=("job.running", "job.failed"),
    ),
    Page(
        "mobilization:export",
        query="grid=S-C-G1",
        gated=True,
        user="staff",
        other="staff2",
        shows="第1网格党支部",
    ),
    # The chain ledger as a background job: 302 to the job's page (tests/core/test_ledger_export_jobs.py).
    Page("mobilization:export_job", get=None, post={"grid": "S-C-G1"}, user="staff", other="staff2"),
    # The ledgers of the "3" (tests/mobilization/world.py add_units, add_volunteers): 花园路社区's office's.
    Page(
        "mobilization:ledger",
        {"kind": "units"},
        kind=LIST,
        post="units_ledger",
        # Queued as a background job (mobilization.ledger_jobs), whose page shows the report; rows
        # outside the importer's area are refused in the job: nothing written but its own record.
        post_status=302,
        user="staff",
        other="staff2",
        list_post=403,
        other_post=302,
        logged_refusal=("job.running", "job.failed"),
    ),
    *(
        Page(
            "mobilization:ledger_export",
            {"kind": kind},
            query="grid=S-C",
            gated=True,
            user="staff",
            other="staff2",
            shows=shows,
            variant=kind,
        )
        for kind, shows in (("units", "建新供电所"), ("volunteers", "吴志愿"), ("hours", "开始时间"))
    ),
    *(
        Page(
            "mobilization:ledger_export_job",
            {"kind": kind},
            get=None,
            post={"grid": "S-C"},
            user="staff",
            other="staff2",
            variant=kind,
        )
        for kind in ("units", "volunteers", "hours")
    ),
    Page("mobilization:org", {"pk": "{org}"}, user="head1", other="head2", shows="张三"),
    Page(
        "mobilization:org_dissolve",
        {"pk": "{org_empty}"},
        get=None,
        post={"confirm": "yes"},
        user="head1",
        other="head2",
    ),
    Page(
        "mobilization:member_add",
        {"pk": "{org}"},
        get=None,
        post={"person": "{new_member}", "role": "member"},
        user="head1",
        other="head2",
    ),
    Page("mobilization:member_end", {"pk": "{party_member}"}, get=None, post={}, user="head1", other="head2"),
    Page("mobilization:central_create", {"pk": "{party_member}"}, get=None, post={}, user="head1", other="head2"),
    Page(
        "mobilization:central_assign",
        {"pk": "{central}"},
        get=None,
        post={"households": ["{unassigned_household}"]},
        user="head1",
        other="head2",
    ),
    Page(
        "mobilization:household_assign",
        {"pk": "{unassigned_household}"},
        get=None,
        post={"central": "{central}"},
        user="head1",
        other="head2",
    ),
    Page("mobilization:household_release", {"pk": "{looked_after}"}, get=None, post={}, user="head1", other="head2"),
    Page(
        "mobilization:temporary_branches",
        kind=LIST,
        user="head1",
        other="head2",
        shows="第1网格楼院临时党支部",
        post={"grid": "S-C-G1", "site_kind": "checkpoint", "site": "西门", "name": "西门卡点临时党支部"},
    ),
    Page("mobilization:temporary_branch", {"pk": "{temp_branch}"}, user="head1", other="head2", shows="钱八"),
    Page(
        "mobilization:temporary_branch_close",
        {"pk": "{temp_branch}"},
        get=None,
        post={"confirm": "yes"},
        user="head1",
        other="head2",
    ),
    Page(
        "mobilization:temporary_member_add",
        {"pk": "{temp_branch}"},
        get=None,
        post={"person": "{new_member}", "role": "volunteer"},
        user="head1",
        other="head2",
    ),
    Page("mobilization:temporary_member_end", {"pk": "{temp_seat}"}, get=None, post={}, user="head1", other="head2"),
    # volunteers and wishes (泉心愿, tests/mobilization/world.py add_volunteers): the community's
    # teams and volunteers are its office's (staff); the wishes of 张三's household are member1's.
    Page(
        "mobilization:volunteers",
        kind=LIST,
        user="staff",
        other="staff2",
        shows="周志愿",
        post={"action": "team", "grid": "S-C", "name": "爱邻联盟"},
    ),
    *(
        Page(
            "mobilization:volunteer_decide",
            {"pk": "{pending_volunteer}", "action": action},
            variant=action,
            get=None,
            post={},
            user="staff",
            other="staff2",
        )
        for action in ("approve", "refuse")
    ),
    Page(
        "mobilization:shift_record",
        {"pk": "{approved_volunteer}"},
        get=None,
        post=lambda w: {"kind": "gate_duty", "starts_at": _now_local(-5), "ends_at": _now_local(-1)},
        user="staff",
        other="staff2",
    ),
    Page(
        "mobilization:volunteer_link",
        {"pk": "{approved_volunteer}"},
        gated=True,
        post={},
        user="staff",
        other="staff2",
        shows="<svg",
    ),
    # The approved volunteer's own link (no account): the community's open wishes, to claim.
    Page(
        "mobilization:volunteer_home",
        {"token": "{volunteer_token}"},
        kind=TOKEN,
        token=("token", "volunteer_token", "stale_volunteer_token"),
        shows="代购蔬菜",
    ),
    Page(
        "mobilization:volunteer_claim",
        {"token": "{volunteer_token}", "pk": "{wish_open}"},
        kind=TOKEN,
        token=("token", "volunteer_token", "stale_volunteer_token"),
        get=302,
        post={},
    ),
    Page("mobilization:signup_qr", {"code": "S-C"}, gated=True, user="staff", other="staff2", shows="<svg"),
    Page(
        "mobilization:signup",
        {"token": "{signup_token}"},
        kind=TOKEN,
        token=("token", "signup_token", "stale_signup_token"),
        shows="红色管家",
        post={"name": "郑志愿", "phone": "13900000021", "skills": "水电维修"},
        post_status=200,
    ),
    Page(
        "mobilization:wishes",
        kind=LIST,
        shows="代购蔬菜",
        post={"household": "{household}", "text": "送菜上门"},
    ),
    *(
        Page(
            "mobilization:wish_action",
            {"pk": "{wish_open}" if action in ("claim", "cancel") else "{wish_claimed}", "action": action},
            variant=action,
            get=None,
            post={"volunteer": "{approved_volunteer}"} if action == "claim" else {},
        )
        for action in ("claim", "release", "done", "cancel")
    ),
    # 双报到 (tests/mobilization/world.py add_units): 花园路社区's units and appeals are its office's (staff).
    Page(
        "mobilization:units",
        kind=LIST,
        user="staff",
        other="staff2",
        shows="建新供电所",
        post={
            "action": "unit",
            "grid": "S-C",
            "kind": "new_org",
            "name": "花园路物业公司",
            "contact_name": "蒋经理",
            "contact_phone": "13900000041",
        },
    ),
    Page(
        "mobilization:unit",
        {"pk": "{unit}"},
        user="staff",
        other="staff2",
        shows="陈党员",
        post={"name": "韩党员", "phone": "13900000042"},
    ),
    Page(
        "mobilization:unit_member_assign",
        {"pk": "{unit_member}"},
        get=None,
        post={"target": "duty:gate_duty"},
        user="staff",
        other="staff2",
    ),
    Page("mobilization:appeal", {"pk": "{appeal}"}, user="staff", other="staff2", shows="建新供电所"),
    Page(
        "mobilization:appeal_ack",
        {"pk": "{appeal_ack}"},
        get=None,
        post={"by_name": "冯主任"},
        user="staff",
        other="staff2",
    ),
    # Notices to households (tests/mobilization/world.py add_notices): 第1网格's, issued by its grid head.
    Page(
        "mobilization:notices",
        kind=LIST,
        user="head1",
        other="head2",
        shows="关于小区封闭管理的告知书",
        post={"scope": "grid", "grid": "S-C-G1", "audience": "all", "title": "防控知识手册", "text": "请阅读。"},
    ),
    Page("mobilization:notice", {"pk": "{notice}"}, shows="关于小区封闭管理的告知书"),
    Page(
        "mobilization:task_notice_issue",
        {"pk": "{task}"},
        get=None,
        post={"title": "关于小区封闭管理的告知书", "text": "即日起小区封闭管理。"},
        user="head1",
        other="head2",
    ),
    Page("resident_notice_read", {"token": "{token}", "pk": "{notice}"}, kind=TOKEN, get=302, post={}),
    # Publicity campaigns (tests/mobilization/world.py add_campaigns): 第1网格's, run by its grid head.
    Page(
        "mobilization:campaigns",
        kind=LIST,
        user="head1",
        other="head2",
        shows="疫情防控宣传周",
        post={"grid": "S-C-G1", "title": "防疫知识进万家", "target": "controlled"},
    ),
    Page("mobilization:campaign", {"pk": "{campaign}"}, shows="抗疫抖音"),
    Page(
        "mobilization:campaign_material_add",
        {"pk": "{campaign}"},
        get=None,
        post={"kind": "video", "title": "防控知识", "link": "https://example.org/v2"},
        user="head1",
        other="head2",
    ),
    Page(
        "mobilization:campaign_post_log",
        {"pk": "{campaign}"},
        get=None,
        post={"channel": "douyin", "link": "https://example.org/d"},
        user="head1",
        other="head2",
    ),
    Page("mobilization:campaign_file", {"which": "post", "pk": "{campaign_post}"}),
    # After release (tests/mobilization/world.py add_followups): 李四's visit is the grid lead's.
    Page("mobilization:followups", kind=LIST, shows="李四"),
    Page(
        "mobilization:followup_done",
        {"pk": "{followup_visit}"},
        get=None,
        post={"note": "上门慰问，情况良好"},
        user="head1",
        other="head2",
    ),
    Page("resident_wish", {"token": "{token}"}, kind=TOKEN, get=302, post={"text": "送报纸"}),
    Page(
        "resident_wish_thank",
        {"token": "{token}", "pk": "{wish_done}"},
        kind=TOKEN,
        get=302,
        post={"thanks": "谢谢志愿者"},
    ),
    # control
    Page(
        "control:tip_create",
        query="household={household}",
        post={
            "origin_code": "420600",
            "travel_mode": "self_drive",
            "persons": ["{person}"],
            "reported_at": "2020-01-26T16:00",
            "reporter": "网格员",
        },
        gated=True,
    ),
    Page("control:key_persons", kind=LIST, shows="张三"),
    # 返乡申报: the compound's poster (its staff), the public form its QR opens (the token is the
    # credential), the list to check and the check.
    Page("control:poster", {"code": "S-C-G1"}, post={}, gated=True, shows="<svg"),
    Page(
        "control:join",
        {"token": "{poster_token}"},
        kind=TOKEN,
        token=("token", "poster_token", "stale_poster_token"),
        post=lambda w: {
            "name": "周九",
            "id_number": make_id_number(),
            "phone": "13912345679",
            "origin_code": "420000",
            "travel_mode": "train",
            "arrival_date": timezone.localdate().isoformat(),
            "address": "2号楼101",
        },
        post_status=200,
    ),
    Page("control:self_registrations", kind=LIST, shows="孙小美"),
    Page("control:self_registration_check", {"pk": "{self_tip}"}, get=None, post={}),
    Page(
        "control:key_person_assess",
        {"pk": "{key_person}"},
        get=None,
        post={"assessment": "来自襄阳,需居家隔离"},
    ),
    Page("control:key_person_assess", {"pk": "{key_person}"}, variant="close", get=None, post={"action": "close"}),
    Page("control:orders", kind=LIST, shows="张三"),
    Page("control:orders", query="q=zs&sort=name&from=2020-01-01", variant="filtered", kind=LIST, shows="张三"),
    Page("control:orders", query="grid=S-C-G1&sort=-ends", variant="grid", shows="张三"),
    Page(
        "control:order_start",
        {"person_pk": "{person_b}"},
        post=lambda w: {"kind": "home_quarantine", "reason": "other", "starts_at": _now_local(-1)},
        gated=True,
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "control:order_action",
        {"pk": "{order}", "action": "period"},
        variant="period",
        post={"days": 20, "reason": "同住人发热"},
        gated=True,
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "control:order_action",
        {"pk": "{order}", "action": "transfer"},
        variant="transfer",
        post={"kind": "hospital_isolation", "reason": "positive_test", "site": "济南市传染病医院"},
        gated=True,
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "control:order_action",
        {"pk": "{order}", "action": "release"},
        variant="release",
        post={"early_reason": "误报", "confirm": "1"},
        gated=True,
        user="secretary",
        other="secretary2",
        reader="member1",
    ),
    Page(
        "control:team_member_add",
        {"household_pk": "{household}"},
        get=None,
        post={"username": "bhead1", "role": "cadre"},
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "control:team_member_end",
        {"pk": "{team_member}"},
        get=None,
        post={},
        user="head1",
        other="head2",
        reader="member1",
    ),
    # health
    Page("health:today", kind=LIST, shows="张三"),
    Page(
        "health:rules",
        kind=SHARED,
        post={"what": "risk_area", "code": "420100", "name": "武汉市"},
        user="commander",
    ),
    Page(
        "health:temperature_record",
        {"person_pk": "{person}"},
        get=None,
        post={"value": "36.6"},
    ),
    Page("health:report_link_issue", {"person_pk": "{person}"}, get=None, post={"confirm": "1"}),
    Page(
        "health:staff_contact_record",
        {"person_pk": "{person}"},
        get=None,
        post={"kind": "visit", "note": "入户"},
    ),
    Page(
        "health:test_lists",
        kind=LIST,
        post={"name": "第二轮", "test_date": "2020-02-08", "selection": "grid", "grid": "S-C-G1"},
        user="staff",
        other="staff2",
        reader="member1",
        shows="建新街道核酸测试名单",
    ),
    Page("health:test_list", {"pk": "{test_list}"}, shows="张三"),
    Page(
        "health:sample_create",
        {"pk": "{test_list}", "person_pk": "{person}"},
        get=None,
        post={"specimen_number": "MX-9"},
    ),
    Page(
        "health:results_import",
        kind=LIST,
        get=None,
        post="results",
        post_status=302,
        user="staff",
        other="staff2",
        reader="member1",
        list_post=403,
        # Another community's specimens: the job fails (specimen_unknown), nothing stored.
        other_post=302,
        logged_refusal=("job.running", "job.failed"),
    ),
    Page(
        "health:result_record",
        {"pk": "{sample}"},
        get=None,
        post={"result": "negative", "lab": "济南市疾控中心"},
        user="staff",
        other="staff2",
        reader="member1",
    ),
    Page(
        "health:consultation_create",
        {"case_pk": "{suspect_case}"},
        get=None,
        post={"held_at": "2020-02-06T20:00", "experts": "市级专家组", "conclusion": "confirmed", "confirm": "1"},
        user="commander",
        reader="member1",
    ),
    Page(
        "health:consultation_create",
        {"case_pk": "{case}"},
        variant="confirmed",
        get=None,
        post={"held_at": "2020-02-06T20:00", "experts": "市级专家组", "conclusion": "confirmed", "confirm": "1"},
        user="commander",
        reader="member1",
    ),
    Page(
        "health:ledger_export",
        {"name": "orders"},
        query="grid=S-C-G1",
        gated=True,
        user="staff",
        other="staff2",
        shows="张三",
    ),
    # A health ledger as a background job: 302 to the job's page (tests/core/test_ledger_export_jobs.py).
    Page(
        "health:ledger_export_job", {"name": "orders"}, get=None, post={"grid": "S-C-G1"}, user="staff", other="staff2"
    ),
    # gates (幸福里东门 on 第1网格, its passes issued, one passage, one shift of guard1)
    Page(
        "gates:list",
        kind=LIST,
        variant="open",
        post={"grid": "S-C-G1", "name": "南门"},
        shows="幸福里东门",
        user="secretary",
        other="secretary2",
    ),
    Page(
        "gates:list",
        kind=LIST,
        variant="close",
        get_elsewhere=True,
        post={"close": "{checkpoint}"},
        user="secretary",
        other="secretary2",
    ),
    Page(
        "gates:list",
        kind=LIST,
        variant="temperature",
        get_elsewhere=True,
        post={"temperature": "{checkpoint}", "required": "0"},
        user="secretary",
        other="secretary2",
    ),
    # Every download of the passage ledger is audited (ledger.export), an empty one too.
    Page(
        "gates:ledger",
        kind=LIST,
        user="guard1",
        other="head2",
        shows="S-C-G1-B1 1-101",
        logged_refusal="ledger.export",
    ),
    Page("gates:checkpoint", {"pk": "{checkpoint}"}, user="guard1", other="head2", shows="幸福里东门"),
    Page(
        "gates:scan",
        {"pk": "{checkpoint}"},
        get=None,
        post={"number": "{pass_number}", "direction": "in", "temperature": "36.5"},
        post_status=200,
        writes="gates.Passage",  # the passage ledger is the record of a scan
        user="guard1",
        other="head2",
    ),
    Page(
        "gates:visitor",
        {"pk": "{checkpoint}"},
        get=None,
        post=lambda w: {
            "name": "来访者",
            "phone": "13800138000",
            "id_number": make_id_number(),
            "visiting": w.households["h1"].address,  # as the guard types it, found within the compound
            "reason": "送药",
            "direction": "in",
            "temperature": "36.4",
        },
        post_status=200,
        user="guard1",
        other="head2",
    ),
    Page(
        "gates:roster",
        {"pk": "{checkpoint}"},
        post=lambda w: {"starts_at": _now_local(30), "ends_at": _now_local(38), "leader": "guard1"},
        user="secretary",
        other="secretary2",
        reader="guard1",
    ),
    Page(
        "gates:shift_check",
        {"pk": "{shift}", "action": "in"},
        get=None,
        post={},
        user="guard1",
        other="head2",
    ),
    Page("gates:passes", {"code": "S-C-G1"}, post={}, user="head1", other="head2", reader="member1"),
    Page(
        "gates:pass_sheet",
        {"code": "S-C-G1"},
        gated=True,
        user="head1",
        other="head2",
        reader="member1",
    ),
    # The whole sheet as a background job: 302 to the job's page (tests/gates/test_pass_sheet_job.py).
    Page(
        "gates:pass_sheet_job",
        {"code": "S-C-G1"},
        get=None,
        post={},
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "gates:pass_action",
        {"pk": "{household_pass}", "action": "reissue"},
        variant="reissue",
        get=None,
        post={"confirm": "1"},
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page(
        "gates:pass_action",
        {"pk": "{household_pass}", "action": "revoke"},
        variant="revoke",
        get=None,
        post={"confirm": "1"},
        user="head1",
        other="head2",
        reader="member1",
    ),
    # response (李四 confirmed: the plan is activated for 第1网格)
    Page("response:list", kind=LIST, shows="S-C-G1 name"),
    Page(
        "response:plan",
        kind=SHARED,
        post={
            "name": "预案",
            "steps-TOTAL_FORMS": "1",
            "steps-INITIAL_FORMS": "0",
            "steps-0-title": "成立工作专班",
            "steps-0-responsible_role": "commander",
            "steps-0-deadline_hours": "1",
            "steps-0-evidence": "note",
            "steps-0-ORDER": "1",
        },
        user="commander",
    ),
    Page("response:incident", {"pk": "{activation}"}, shows="李四"),
    # The timeline export is a ledger: it needs the import/export right (community staff).
    Page("response:timeline", {"pk": "{activation}"}, user="staff", other="staff2", reader="member1", gated=True),
    Page(
        "response:exposure_add",
        {"pk": "{activation}"},
        get=None,
        post=lambda w: {
            "source": w.persons["p1b"].pk,
            "contact": "赵七",
            "last_exposure_at": _now_local(-20),
            "degree": "close",
            "setting": "household",
        },
        user="head1",
        other="head2",
        reader="member1",
    ),
    Page("response:task_done", {"pk": "{task}"}, get=None, post={"note": "已成立工作专班"}),
    Page("response:task_photo", {"pk": "{photo_task}"}),  # the evidence photo: whoever sees the task
    Page(
        "response:point_action",
        {"pk": "{point}", "action": "update"},
        variant="update",
        get=None,
        post={"disinfected_at": "2020-02-07T10:00"},
    ),
    # Reachable, then refused by the rule (no release proposed; the sweep that proposes one is
    # not callable here): access is what is tested, as in the API matrix.
    Page(
        "response:point_action",
        {"pk": "{point}", "action": "release"},
        variant="release",
        get=None,
        post={},
        post_status=400,
        user="commander",
        reader="member1",
    ),
]

# Who is out of scope of what: the marks of each compound's data that must not reach a page.
# (Names, not codes: a code the user typed comes back in the page's own URL.)
MARKS_G1 = (
    *("张三", "李四", "赵七", "卫生室", "幸福里东门", "建新街道核酸测试名单"),
    *("S-C-G1 name", "S-C-G1-B1 name", "S-C-G1-B1 1-101", "3单元301"),
)
MARKS_G2 = ("王五", "超市", "S-C-G2 name", "S-C-G2-B1 name", "S-C-G2-B1 1-101")
FOREIGN = {
    "norole": MARKS_G1 + MARKS_G2,
    "member1": MARKS_G2,
    "head1": MARKS_G2,
    "guard1": MARKS_G2,
    "member2": MARKS_G1,
    "head2": MARKS_G1,
    "secretary2": MARKS_G1 + MARKS_G2,
    "staff2": MARKS_G1 + MARKS_G2,
}


def expected(page: Page, method: str, who: str) -> int | None:
    """The answer due, or None when the case does not apply."""
    if page.kind == HOME:
        return (302 if who in (ANONYMOUS, NO_ROLE, IN_SCOPE) else None) if method == "GET" else None
    if page.kind == LOGIN:
        if method == "GET":
            return 200 if who in (ANONYMOUS, IN_SCOPE) else None
        return 302 if who == IN_SCOPE else None  # anonymous with the right password
    if page.kind == PUBLIC:
        if method == "GET":
            return 200 if who in (ANONYMOUS, NO_ROLE, IN_SCOPE) else None
        return 405 if who in (ANONYMOUS, IN_SCOPE) else None
    if page.kind == LOGOUT:
        if method == "GET":
            return 405 if who == IN_SCOPE else None
        return 302 if who in (ANONYMOUS, IN_SCOPE) else None
    if method == "POST" and page.post is None:
        return None
    if page.kind == OWN:
        if who == ANONYMOUS:
            return 302
        if method == "GET" and who in (IN_SCOPE, NO_ROLE):
            return page.get
        return page.post_status if method == "POST" and who == IN_SCOPE else None
    if who == READER and page.reader is None:
        return None
    if page.kind == TOKEN:
        # anonymous/no-role: a bad token; out of scope: the token replaced by a new link.
        if who == READER:
            return None
        if who != IN_SCOPE:
            return 404
        return page.get if method == "GET" else page.post_status
    if method == "GET" and page.get_elsewhere:
        return None
    if method == "GET" and page.get is None:  # POST only: refused before anything is looked up
        return 302 if who == ANONYMOUS else (405 if who == IN_SCOPE else None)
    if who == ANONYMOUS:
        return 302
    if who == IN_SCOPE:
        return page.get if method == "GET" else page.post_status
    if page.kind == OPERATOR:
        return 403
    if page.kind == SHARED:
        return 200 if method == "GET" else 403
    if method == "POST":
        if who == READER:
            return 403
        if who == OUT_OF_SCOPE and page.other_post is not None:
            return page.other_post
        return page.list_post if page.kind == LIST else 404
    if who == READER:
        return 403 if page.gated else 200
    return 200 if page.kind == LIST else 404


def _cases():
    for page in PAGES:
        for method in ("GET", "POST"):
            for who in WHO:
                status = expected(page, method, who)
                if status is None:
                    continue
                marks = ()
                if (method, who) in page.bugs:
                    marks = pytest.mark.xfail(strict=True, reason=page.bugs[(method, who)])
                yield pytest.param(page, method, who, status, id=f"{page.id}-{method}-{who}", marks=marks)


CASES = list(_cases())


# ---------------------------------------------------------------- the world


def _photo():
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 6), (30, 160, 60)).save(out, "JPEG")
    return SimpleUploadedFile("evidence.jpg", out.getvalue(), content_type="image/jpeg")


def _build_world():
    """The base world plus one of everything the pages act on, all in 第1网格 (member1's), some
    of it mirrored in 第2网格, and a second community (S-D) whose staff see neither."""
    from epigrid.accounts import services as accounts
    from epigrid.accounts.choices import Role
    from epigrid.alerts.models import Alert
    from epigrid.care import services as care
    from epigrid.care.models import ServiceTask
    from epigrid.control import services as control
    from epigrid.gates import services as gates
    from epigrid.gates.models import HouseholdPass
    from epigrid.grids import services as grids
    from epigrid.grids.choices import GridLevel
    from epigrid.health import services as health
    from epigrid.health.models import Case, Sample
    from epigrid.people import services as people
    from epigrid.response.models import Activation
    from tests.factories import make_user

    world = build_world()
    admin, now = world.admin, timezone.now()
    p1, p1b, p2 = world.persons["p1"], world.persons["p1b"], world.persons["p2"]
    for parent, code, level in (("S", "S-D", GridLevel.COMMUNITY), ("S-D", "S-D-G1", GridLevel.GRID)):
        world.nodes[code] = grids.grid_node_create(
            parent=world.nodes[parent], code=code, name=f"{code} name", level=level, principal=admin
        )
    for username, role in (("secretary2", Role.COMMUNITY_SECRETARY), ("staff2", Role.COMMUNITY_STAFF)):
        world.users[username] = make_user(username)
        accounts.grid_assignment_create(node=world.nodes["S-D"], user=world.users[username], role=role, principal=admin)

    tip = control.tip_record(
        persons=[p1],
        reported_at=now - dt.timedelta(days=2),
        reporter="网格员",
        origin_code="420600",
        travel_mode="self_drive",
        principal=world.users["member1"],
    )
    order = control.control_order_start(
        person=p1,
        kind="home_quarantine",
        reason="risk_area_arrival",
        starts_at=now - dt.timedelta(days=1),
        principal=world.users["head1"],
    )
    control.control_order_start(
        person=p2, kind="home_quarantine", reason="other", starts_at=now, principal=world.users["head2"]
    )
    member = control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.users["head1"]
    )
    test_list = health.test_list_create(
        name="建新街道核酸测试名单",
        test_date=timezone.localdate(),
        grid=world.nodes["S-C-G1"],
        persons=p1.__class__.objects.filter(pk=p1.pk),
        principal=world.users["staff"],
    )
    health.sample_record(
        person=p1, specimen_number="MX-1", sampled_at=now, test_list=test_list, principal=world.users["member1"]
    )
    health.sample_record(person=p1b, specimen_number="MX-2", sampled_at=now, principal=world.users["member1"])
    health.results_record(results=[health.ResultIn("MX-2", "positive", now)], principal=world.users["staff"])
    case = Case.objects.get(person=p1b)
    # Confirmation activates the plan in its own transaction (the "case_confirmed" cascade).
    health.consultation_record(
        case=case, held_at=now, experts="专家组", conclusion="confirmed", principal=world.users["commander"]
    )
    activation = Activation.objects.get(cases=case)
    from epigrid.response import services as response

    photo_task = response.task_complete(
        task=activation.tasks.get(title="张贴告知书"), photo=_photo(), principal=world.users["member1"]
    )
    for person in (p1, p2):
        health.temperature_reports_record(
            readings=[health.Reading(person.pk, "38.2", now)], source="liaison", principal=admin
        )
    # The resident's link: the first one replaced by a second (the out-of-scope token).
    stale = health.resident_link_issue(person=p1, principal=world.users["member1"])
    token = health.resident_link_issue(person=p1, principal=world.users["member1"])
    care.schedules_reconcile(now=now - dt.timedelta(hours=1))
    care.service_tasks_materialize(now=now - dt.timedelta(hours=1))
    care.service_tasks_materialize(now=now - dt.timedelta(hours=1), hours=72)  # a second one, whatever the hour
    photo_service_task = care.service_task_complete(
        task=ServiceTask.objects.filter(household=world.households["h1"]).order_by("due_at")[1],
        photo=_photo(),
        principal=world.users["member1"],
    )
    supply = care.supply_request_create(person=p1, text="需要买菜")

    checkpoint = gates.checkpoint_open(
        grid=world.nodes["S-C-G1"], name="幸福里东门", principal=world.users["secretary"]
    )
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    household_pass = HouseholdPass.objects.get(household=world.households["h1"], revoked_at__isnull=True)
    gates.gate_scan(
        checkpoint=checkpoint, direction="out", number=household_pass.number, principal=world.users["guard1"]
    )
    # A household registered after the passes were issued: the next issue has one to make. 赵七
    # in it: a close contact to record, and a suspected case awaiting its consultation.
    household_c = people.household_create(
        grid=world.nodes["S-C-G1-B1"], number="3-301", address="3单元301", principal=admin
    )
    zhao = people.person_create(name="赵七", id_number=make_id_number(), household=household_c, principal=admin)
    health.sample_record(person=zhao, specimen_number="MX-3", sampled_at=now, principal=world.users["member1"])
    health.results_record(results=[health.ResultIn("MX-3", "positive", now)], principal=world.users["staff"])
    shift = gates.shift_create(
        checkpoint=checkpoint,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=7),
        leader=world.users["guard1"],
        guards=[],
        principal=world.users["secretary"],
    )
    # A second member of 第1网格, deactivated; a password reset link of member1's, and an older one
    # it replaced.
    from epigrid.accounts import users as account_users

    member1b = make_user("member1b")
    accounts.grid_assignment_create(node=world.nodes["S-C-G1"], user=member1b, role=Role.GRID_MEMBER, principal=admin)
    account_users.user_deactivate(user=member1b, principal=admin)
    stale_reset = account_users.password_reset_issue(user=world.users["member1"], principal=admin)
    reset = account_users.password_reset_issue(user=world.users["member1"], principal=admin)
    # 第1网格's 返乡申报 poster, replaced once (the stale token), and a self-registration from it.
    from epigrid.control import services as control_services

    stale_poster = control_services.poster_issue(grid=world.nodes["S-C-G1"], principal=world.users["member1"])
    poster = control_services.poster_issue(grid=world.nodes["S-C-G1"], principal=world.users["member1"])
    self_tip = control_services.self_registration_submit(
        grid=world.nodes["S-C-G1"],
        name="孙小美",
        id_number=make_id_number(),
        phone="13912345678",
        origin_code="420000",
        arrival_date=timezone.localdate(),
        address="1号楼301",
    )
    from tests.mobilization.world import (
        add_campaigns,
        add_chain,
        add_followups,
        add_notices,
        add_units,
        add_volunteers,
    )
    from tests.oversight.world import add_inspections, add_omissions, add_reports, add_verification

    chain = add_chain(world)
    from epigrid.core.models import Job

    job = Job.objects.create(
        kind="ledger_import",
        params={"kind": "residents", "file_name": "jobs-roster.xlsx", "second_factor": True},
        created_by=world.users["staff"],
        grid_path=world.nodes["S-C"].path,
    )
    from epigrid.core import jobs
    from epigrid.people.ledgers import ledger_export_start

    export_job = ledger_export_start(kind="residents", node=world.nodes["S-C"], principal=world.users["staff"])
    jobs.run(export_job.pk)  # the world is built inside a transaction: run it now, not after a commit
    world.extra = {
        "job": job.pk,
        "export_job": export_job.pk,
        **chain,
        **add_volunteers(world),
        **add_units(world),
        **add_notices(world),
        **add_campaigns(world),
        **add_followups(world),
        **add_inspections(world),
        **add_reports(world),
        **add_verification(world),
        **add_omissions(world),
        "poster_token": poster,
        "stale_poster_token": stale_poster,
        "self_tip": self_tip.pk,
        "member_user": world.users["member1"].pk,
        "inactive_user": member1b.pk,
        "reset_key": reset,
        "stale_reset_key": stale_reset,
        "alert": Alert.objects.get(kind="fever", person=p1).pk,
        "service_task": ServiceTask.objects.filter(household=world.households["h1"]).order_by("due_at").first().pk,
        "supply_request": supply.pk,
        "token": token,
        "stale_token": stale,
        "clinic": world.places["clinic"].pk,
        "assignment": world.users["member1"].grid_assignments.get().pk,
        "person": p1.pk,
        "person_b": p1b.pk,
        "household": world.households["h1"].pk,
        "key_person": tip.key_persons.get().pk,
        "order": order.pk,
        "team_member": member.pk,
        "test_list": test_list.pk,
        "sample": Sample.objects.get(specimen_number="MX-1").pk,
        "case": case.pk,
        "suspect_case": Case.objects.get(person=zhao).pk,
        "checkpoint": checkpoint.pk,
        "household_pass": household_pass.pk,
        "pass_number": household_pass.number,
        "shift": shift.pk,
        "activation": activation.pk,
        "task": activation.tasks.get(title="成立工作专班").pk,
        "photo_task": photo_task.pk,
        "photo_service_task": photo_service_task.pk,
        "point": activation.points.get().pk,
    }
    world.users["operator"] = admin  # who may purge: edits people everywhere
    return world


@pytest.fixture(scope="module")
def _world_once(django_db_setup, django_db_blocker):
    """The world is built once for the module inside a transaction that is rolled back at the
    end (Django's setUpTestData, for pytest): five hundred cases, one build."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(_world_once, db):
    """Each case runs in its own rolled-back transaction (`db`), nested in the module's: what one
    case writes, no other sees."""
    return _world_once


# ---------------------------------------------------------------- calling a page


def _fill(world, value):
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(world.extra[m.group(1)]), value)
    if isinstance(value, list):
        return [_fill(world, v) for v in value]
    return value


def _xlsx(rows) -> io.BytesIO:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    out.seek(0)
    return out


def _body(world, page: Page):
    if page.post == "roster":
        upload = _xlsx(
            [
                ["网格编码", "户号", "住址", "姓名", "身份证号码"],
                ["S-C-G1-B1", "5-501", "5单元501", "钱七", make_id_number()],
            ]
        )
        upload.name = "roster.xlsx"
        return {"kind": "residents", "file": upload}
    if page.post == "units_ledger":
        upload = _xlsx(
            [
                ["类型", "社区编码", "单位名称", "单位类别", "姓名", "联系电话"],
                ["党员", "S-C", "建新供电所", "", "韩党员", ""],
            ]
        )
        upload.name = "units.xlsx"
        return {"file": upload}
    if page.post == "chain":
        upload = _xlsx([["类型", "网格编码", "名称"], ["楼院党小组", "S-C-G1-B2", "2号楼党小组"]])
        upload.name = "chain.xlsx"
        return {"file": upload}
    if page.post == "geojson":
        ring = [[117.03, 36.67], [117.031, 36.67], [117.031, 36.671], [117.03, 36.671], [117.03, 36.67]]
        feature = {
            "type": "Feature",
            "properties": {"code": "S-C-G1"},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        upload = io.BytesIO(json.dumps({"type": "FeatureCollection", "features": [feature]}).encode())
        upload.name = "grids.geojson"
        return {"file": upload}
    if page.post == "verification":
        upload = _xlsx([["姓名", "身份证号"], ["钱七", make_id_number()]])
        upload.name = "list.xlsx"
        return {"grid": "S-C", "name": "名单", "due_hours": "24", "file": upload}
    if page.post == "results":
        upload = _xlsx([["样本编号", "检测结果", "报告时间", "检测机构"], ["MX-1", "阴性", "2020-02-06 10:00", "疾控"]])
        upload.name = "results.xlsx"
        return {"file": upload}
    body = page.post(world) if callable(page.post) else page.post
    return {key: _fill(world, value) for key, value in body.items()}


def _request(world, page: Page, method: str, who: str):
    """The client and URL of the case: who is logged in, and which token a token page gets."""
    kwargs = {key: _fill(world, value) for key, value in page.kwargs.items()}
    username = {NO_ROLE: "norole", OUT_OF_SCOPE: page.other, READER: page.reader, IN_SCOPE: page.user}.get(who)
    if page.kind == TOKEN:
        kwarg, good, stale = page.token
        kwargs[kwarg] = {IN_SCOPE: world.extra[good], OUT_OF_SCOPE: world.extra[stale]}.get(
            who, "not-a-token-" + "x" * 20
        )
        username = "norole" if who == NO_ROLE else None
    if page.kind == LOGIN and method == "POST":
        username = None  # the in-scope case is anonymous with the right password
    client = Client()
    if username:
        client.force_login(world.users[username])
    url = reverse(page.name, kwargs=kwargs)
    if page.query:
        url += "?" + _fill(world, page.query)
    return client, url, username


def _text(response) -> str:
    """What a page shows: its HTML, or the cells of a spreadsheet download."""
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        content = b"".join(response.streaming_content) if response.streaming else response.content
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        return "\n".join(
            "\t".join(str(cell) for cell in row)
            for name in book.sheet_names
            for row in book.get_sheet_by_name(name).to_python()
        )
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


@pytest.mark.parametrize(("page", "method", "who", "status"), CASES)
def test_page(world, page, method, who, status):
    client, url, username = _request(world, page, method, who)
    assert resolve(url.split("?")[0]).view_name == page.name, f"{url} is shadowed by another pattern"
    counted = [AuditEvent] + ([apps.get_model(page.writes)] if page.writes else [])
    before = [model.objects.count() for model in counted]
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, _body(world, page) if page.post is not None else {})
    body = _text(response)
    assert response.status_code == status, f"{method} {url}: {response.status_code}, not {status}\n{body[:1500]}"
    written = sum(model.objects.count() for model in counted) - sum(before)
    location = response.get("Location", "")
    if page.kind == HOME and who != ANONYMOUS:
        assert location == reverse("health:today")
    elif page.kind == LOGOUT and status == 302:
        assert location == LOGIN_URL
    elif who == ANONYMOUS and status == 302:
        assert location.startswith(f"{LOGIN_URL}?next="), location
    elif status == 302:
        assert not location.startswith(LOGIN_URL), location
    if method == "POST" and who == IN_SCOPE and status in (200, 302) and page.kind not in (LOGIN, LOGOUT):
        assert written > 0, "a served write leaves a record (an audit row, or the ledger's row)"
    if who != IN_SCOPE:
        refusals = page.logged_refusal if isinstance(page.logged_refusal, tuple) else (page.logged_refusal,)
        logged = AuditEvent.objects.filter(id__gt=last_event, action__in=refusals).count()
        assert written - logged == 0, "a refused request writes nothing"
    if who == IN_SCOPE and method == "GET" and page.shows:
        assert page.shows in body, f"the in-scope page does not show {page.shows!r}"
    # Whatever the answer (a list, an error page, a row report), nothing of a compound the user
    # does not serve reaches it.
    shown = [mark for mark in (MARKS_G2 if page.kind == TOKEN else FOREIGN.get(username or "", ())) if mark in body]
    assert not shown, f"{username} is shown another compound's data: {shown}"


# ---------------------------------------------------------------- the matrix is complete

# Includes that are not HTML pages of the project: the API (its own matrix), the language switch.
SKIPPED_INCLUDES = ("api/v1/", "i18n/", "static/", "media/", "admin/")


def _url_patterns(resolver=None, prefix: str = "", namespace: str = ""):
    """(name, route) of every URL pattern, through includes."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern) in SKIPPED_INCLUDES:
                continue
            inner = ":".join(n for n in (namespace, pattern.namespace) if n)
            yield from _url_patterns(pattern, route, inner)
        else:
            yield (f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name), route


def test_every_page_is_in_the_matrix():
    listed = {page.name for page in PAGES}
    patterns = list(_url_patterns())
    assert patterns, "the URLconf walk found nothing"
    routes: dict[str, str] = {}
    for name, route in patterns:
        assert name, f"the URL pattern {route!r} has no name, so it cannot be in the matrix"
        # A row reverses its name: two patterns under one name would leave one of them unchecked.
        assert routes.setdefault(name, route) == route, f"{name} names both {routes[name]!r} and {route!r}"
        assert name in listed, f"{name} ({route}) is not in the page matrix (tests/test_views_matrix.py)"
    assert listed <= set(routes), f"rows for pages that no longer exist: {listed - set(routes)}"


def test_the_matrix_has_every_kind_of_user():
    """Each page is checked for every user who can reach it (a row cannot silently skip one)."""
    for page in PAGES:
        whos = {case.values[2] for case in CASES if case.values[0] is page}
        if page.kind in (OBJECT, LIST, SHARED):
            assert {ANONYMOUS, NO_ROLE, OUT_OF_SCOPE, IN_SCOPE} <= whos, page.id
