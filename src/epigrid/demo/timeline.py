"""The article's timeline (docs/method.md "The reference scenario"), replayed through the public API.

Each step runs with the clock set to its moment (time-machine), as the users it names, through
/api/v1 — the same calls a phone or an office would make. The reference-scenario test checks the
system's state between steps; `epigrid demo --as-of DATE` stops the replay at a date.
"""

import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import time_machine
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from epigrid.accounts.models import User
from epigrid.accounts.permissions import console_verified
from epigrid.accounts.services import api_token_grant

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2020, month, day, hour, minute, tzinfo=SHANGHAI)


RELEASE_AT = at(2, 21, 0, 0)  # 2月20日24时


class Api:
    """In-process calls to /api/v1 as named users (bearer tokens), failing loudly on a refusal."""

    def __init__(self):
        self.client = Client(raise_request_exception=True)
        self.tokens: dict[str, dict] = {}  # username -> {"token", "refresh", "expires_at"}, as a device keeps them

    def _headers(self, username: str) -> dict:
        keys = self.tokens.get(username)
        if keys is not None and keys["expires_at"] <= timezone.now():
            # The access key lasts hours, the timeline days: renew it as a phone would.
            response = self.client.post("/api/v1/auth/refresh", {"refresh": keys["refresh"]}, "application/json")
            keys = response.json() if response.status_code == 200 else None
            if keys is not None:
                keys["expires_at"] = dt.datetime.fromisoformat(keys["expires_at"])
                self.tokens[username] = keys
        if keys is None:
            # The replay acts from the console: the user's second factor is taken as given.
            user = console_verified(User.objects.get(username=username))
            issued = api_token_grant(user=user, label="timeline")
            keys = {"token": issued.access, "refresh": issued.refresh, "expires_at": issued.token.expires_at}
            self.tokens[username] = keys
        return {"HTTP_AUTHORIZATION": f"Bearer {keys['token']}"}

    def call(self, username: str, method: str, path: str, body=None, expect=(200, 201)):
        kwargs = self._headers(username)
        if body is not None:
            kwargs.update(data=json.dumps(body, default=str), content_type="application/json")
        # on_commit hooks (the plan's activation on confirmation) run as in production.
        with transaction.atomic():
            response = getattr(self.client, method.lower())(f"/api/v1{path}", **kwargs)
        if response.status_code not in expect:
            raise AssertionError(f"{method} {path} as {username}: {response.status_code} {response.content[:500]!r}")
        return response.json() if response.content and "json" in response.get("Content-Type", "") else None

    def get(self, username, path):
        return self.call(username, "GET", path)


@dataclass
class Step:
    moment: dt.datetime
    label: str


def replay(*, until: dt.datetime | None = None) -> Iterator[Step]:
    """Run the timeline step by step (a generator: the caller checks state between steps)."""
    api = Api()
    family = ["张伟", "刘芳", "张子涵", "张梓萱"]
    steps = []

    def step(moment, label):
        def wrap(fn):
            steps.append((moment, label, fn))
            return fn

        return wrap

    ids: dict[str, int] = {}

    @step(at(1, 26, 16), "tip")
    def tip():
        # The family's flat: 利农庄路23号院1号楼1单元301室.
        ids["household"] = api.get("commander", "/households?grid=JZXC-HYL-09-B01&q=1-301")["items"][0]["id"]
        members = api.get("commander", f"/persons?household={ids['household']}")["items"]
        ids.update({p["name"]: p["id"] for p in members})
        api.call(
            "member9",
            "POST",
            "/tips",
            {
                "household_id": ids["household"],
                "reported_at": at(1, 26, 16),
                "reporter": "网格员 赵敏",
                "origin_code": "420600",
                "travel_mode": "self_drive",
                "expected_arrival_at": at(1, 26, 21),
                "note": "一家四人从湖北襄阳自驾返济",
            },
        )

    @step(at(1, 26, 21), "home_quarantine")
    def home_quarantine():
        api.call(
            "gridhead9",
            "POST",
            "/orders",
            {
                "household_id": ids["household"],
                "kind": "home_quarantine",
                "reason": "risk_area_arrival",
                "starts_at": at(1, 26, 21),
            },
        )
        for username, role in (("member9", "liaison"), ("community", "cadre"), ("doctor", "medical")):
            api.call("community", "POST", f"/households/{ids['household']}/team", {"username": username, "role": role})

    @step(at(2, 1, 10), "test_list")
    def test_list():
        ids["test_list"] = api.call(
            "community",
            "POST",
            "/test-lists",
            {
                "name": "建新街道核酸测试名单",
                "test_date": "2020-02-01",
                "grid": "JZXC-HYL",
                "selection": "under_control",
            },
        )["id"]

    @step(at(2, 4, 10), "sampling")
    def sampling():
        for n, name in enumerate(family, start=1):
            api.call(
                "member9",
                "POST",
                "/samples",
                {
                    "person_id": ids[name],
                    "specimen_number": f"JN20200204-{n:03d}",
                    "sampled_at": at(2, 4, 10),
                    "test_list_id": ids["test_list"],
                },
            )

    @step(at(2, 6, 9), "positive")
    def positive():
        api.call(
            "community",
            "POST",
            "/results/batch",
            {
                "results": [
                    {
                        "specimen_number": f"JN20200204-{n:03d}",
                        "result": "positive" if n == 1 else "negative",
                        "result_at": at(2, 6, 9),
                        "lab": "济南市疾控中心",
                    }
                    for n in range(1, 5)
                ]
            },
        )

    @step(at(2, 6, 11), "transfer")
    def transfer():
        order = api.get("commander", "/orders?status=active&grid=JZXC-HYL-09")
        order_id = next(o["id"] for o in order["items"] if o["person_id"] == ids["张伟"])
        api.call(
            "gridhead9",
            "POST",
            f"/orders/{order_id}/transfer",
            {
                "kind": "hospital_isolation",
                "reason": "positive_test",
                "site": "济南市传染病医院",
                "transport": "120负压救护车",
            },
        )

    @step(at(2, 6, 15), "confirmed")
    def confirmed():
        case = api.get("commander", f"/cases?person={ids['张伟']}")["items"][0]
        api.call(
            "doctor",
            "POST",
            f"/cases/{case['id']}/consultations",
            {"held_at": at(2, 6, 15), "experts": "济南市新冠肺炎医疗救治专家组", "conclusion": "confirmed"},
        )

    @step(at(2, 6, 18), "response")
    def response():
        activation = api.get("commander", "/activations")[0]
        ids["activation"], ids["point"] = activation["id"], activation["points"][0]["id"]
        # The three close contacts (the family) to the centralized quarantine site.
        for name in family[1:]:
            api.call(
                "community",
                "POST",
                "/exposures",
                {
                    "source_id": ids["张伟"],
                    "contact_id": ids[name],
                    "last_exposure_at": at(2, 6, 11),
                    "starts_at": at(2, 6, 18),
                    "setting": "household",
                },
            )
        tasks = {t["title"]: t["id"] for t in activation["tasks"]}
        api.call(
            "commander", "POST", f"/tasks/{tasks['成立工作专班']}/complete", {"note": "成立利农庄路23号院工作专班"}
        )
        api.call("community", "POST", f"/tasks/{tasks['追踪密切接触者并送集中隔离点']}/complete", {"count": 3})
        api.call(
            "community",
            "POST",
            f"/tasks/{tasks['院落封闭管理(只留一个出入口并设检查点)']}/complete",
            {"note": "只保留北门出入口,设防疫检查点"},
        )

    @step(at(2, 6, 20), "disinfection")
    def disinfection():
        api.call(
            "gridhead9",
            "PATCH",
            f"/epidemic-points/{ids['point']}",
            {"last_case_left_at": at(2, 6, 11), "disinfected_at": at(2, 6, 20)},
        )
        # The two households inside the compound under home quarantine, supplied daily.
        households = [h["id"] for h in api.get("commander", "/households?grid=JZXC-HYL-09-B02&limit=2")["items"]]
        api.call("gridhead9", "POST", f"/epidemic-points/{ids['point']}/households", {"household_ids": households})

    @step(RELEASE_AT, "release")
    def release():
        call_command("sweep", at=RELEASE_AT.isoformat(), stdout=io.StringIO())
        api.call("commander", "POST", f"/epidemic-points/{ids['point']}/release", {"at": RELEASE_AT})

    for moment, label, fn in steps:
        if until is not None and moment > until:
            return
        with time_machine.travel(moment, tick=False):
            fn()
        yield Step(moment, label)
    return
