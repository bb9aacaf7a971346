"""The reference scenario (docs/method.md "The reference scenario"): the article's timeline
replayed through the public API, with what the command center sees checked on each date."""

import datetime as dt

import pytest
import time_machine

from epigrid.demo import scenario, timeline
from epigrid.demo.timeline import at
from epigrid.health import codes
from epigrid.oversight import rollup


@pytest.fixture
def replayed(db, django_capture_on_commit_callbacks):
    scenario.load(live=False)
    api = timeline.Api()
    steps = timeline.replay()

    def advance():
        # Each step's commit hooks run when the step ends, as they would in production.
        with django_capture_on_commit_callbacks(execute=True):
            return next(steps)

    def see(moment, path, user="commander"):
        with time_machine.travel(moment, tick=False):
            return api.get(user, path)

    def do(moment, method, path, body=None, user="commander"):
        with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
            return api.call(user, method, path, body)

    def board(moment, code="JZXC"):
        """The command dashboard's figures at `moment`, after the sweep's rollup ran then."""
        with time_machine.travel(moment, tick=False):
            rollup.refresh(now=moment, days=None)
            return api.get("commander", f"/dashboard/{code}")["figures"]

    see.do = do
    see.board = board
    return advance, see


def test_the_article_day_by_day(replayed):
    advance, see = replayed

    assert advance().label == "tip"  # 1月26日16时: the family of four from 襄阳 is reported
    key_persons = see(at(1, 26, 16, 5), "/key-persons")["items"]
    assert len(key_persons) == 4
    # The tip reads back whole, with the four it named.
    [tip] = see(at(1, 26, 16, 5), "/tips")["items"]
    assert (tip["origin_code"], tip["travel_mode"]) == ("420600", "self_drive")
    assert dt.datetime.fromisoformat(tip["reported_at"]) == at(1, 26, 16)
    assert see(at(1, 26, 16, 5), f"/tips/{tip['id']}")["key_persons"] == tip["key_persons"]
    assert {k["id"] for k in tip["key_persons"]} == {k["id"] for k in key_persons}
    assert {k["status"] for k in key_persons} == {"reported"} and {k["risk_area"] for k in key_persons} == {
        "湖北省襄阳市"
    }

    assert advance().label == "home_quarantine"  # home quarantine on arrival, 14 days
    orders = see(at(1, 27, 9), "/orders?status=active")["items"]
    assert len(orders) == 4 and {o["kind"] for o in orders} == {"home_quarantine"}
    assert {dt.datetime.fromisoformat(o["ends_at"]) for o in orders} == {at(2, 9, 21)}
    assert {k["status"] for k in see(at(1, 27, 9), "/key-persons")["items"]} == {"controlled"}
    metrics = see(at(1, 27, 9), "/metrics/tip-to-control")
    assert metrics == [{"grid": "JZXC-HYL-09", "controlled": 4, "median_minutes": 300.0, "max_minutes": 300.0}]
    household = orders[0]["person_id"]
    household_id = see(at(1, 27, 9), f"/persons/{household}")["household_id"]
    team = see(at(1, 27, 9), f"/households/{household_id}/team")
    assert team["missing_roles"] == []
    assert see(at(1, 27, 9), f"/households/{household_id}/passes") == []  # no gate yet
    assert see(at(1, 27, 9), "/coverage")["ok"] is True
    figures = see.board(at(1, 27, 9))  # the dashboard: the family of four under home quarantine
    assert figures["orders_home_quarantine"] == 4 and figures["controlled_total"] == 4

    assert advance().label == "test_list"  # 2月1日: 建新街道核酸测试名单
    lists = see(at(2, 1, 12), "/test-lists")
    assert [(t["name"], t["persons"]) for t in lists] == [("建新街道核酸测试名单", 4)]

    assert advance().label == "sampling"  # 2月4日 sampled
    samples = see(at(2, 4, 12), "/samples")["items"]
    assert len(samples) == 4 and {s["result"] for s in samples} == {"pending"}

    assert advance().label == "positive"  # 2月6日 the CDC reports a positive
    alerts = see(at(2, 6, 9, 30), "/alerts")["items"]
    assert [(a["kind"], a["severity"], a["owner"]) for a in alerts] == [("positive_test", "urgent", "commander")]
    cases = see(at(2, 6, 9, 30), "/cases")["items"]
    assert [c["status"] for c in cases] == ["suspected"]
    patient = cases[0]["person_id"]
    assert see(at(2, 6, 9, 30), f"/persons/{patient}/health-code")["colour"] == "red"

    assert advance().label == "transfer"  # negative-pressure ambulance to 济南市传染病医院
    hospital = see(at(2, 6, 12), "/orders?status=active&kind=hospital_isolation")["items"]
    assert [(o["person_id"], o["site"], o["transport"]) for o in hospital] == [
        (patient, "济南市传染病医院", "120负压救护车")
    ]

    assert see(at(2, 6, 14), "/activations") == []  # not before the expert consultation
    assert advance().label == "confirmed"  # confirmed after expert consultation: the plan starts
    [incident] = see(at(2, 6, 16), "/activations")
    assert incident["grid"] == "JZXC-HYL-09" and incident["case_person_ids"] == [patient]
    assert len(incident["tasks"]) == 9 and {t["status"] for t in incident["tasks"]} == {"open"}
    assert [p["status"] for p in incident["points"]] == ["closed"]

    assert advance().label == "response"  # 3 close contacts to centralized quarantine
    incident = see(at(2, 6, 19), f"/activations/{incident['id']}")
    assert incident["close_contacts"] == 3 and incident["contact_orders"] == {"centralized_quarantine": 3}
    done = {t["title"] for t in incident["tasks"] if t["status"] == "done"}
    assert done == {"成立工作专班", "追踪密切接触者并送集中隔离点", "院落封闭管理(只留一个出入口并设检查点)"}
    chain = see(at(2, 6, 19), f"/activations/{incident['id']}/chain")
    assert len(chain["edges"]) == 3 and {e["source"] for e in chain["edges"]} == {patient}
    # Closed management: a pass per household of the compound; the family's reads back as its
    # number and status, never the token.
    assert see.do(at(2, 6, 19), "POST", "/households/passes", {"grid": "JZXC-HYL-09"})["issued"] > 0
    passes = see(at(2, 6, 19, 5), f"/households/{household_id}/passes")
    assert [p["status"] for p in passes] == ["active"] and passes[0]["number"]
    assert set(passes[0]) == {"id", "number", "household_id", "status", "issued_at", "revoked_at"}
    assert dt.datetime.fromisoformat(passes[0]["issued_at"]) == at(2, 6, 19)
    # The three exposures read back, from the case's side and one by one.
    exposures = see(at(2, 6, 19), f"/exposures?person={patient}")["items"]
    assert len(exposures) == 3 and {e["source_id"] for e in exposures} == {patient}
    assert {e["degree"] for e in exposures} == {"close"}
    assert {e["contact_id"] for e in exposures} == {e["target"] for e in chain["edges"]}
    assert see(at(2, 6, 19), f"/exposures/{exposures[0]['id']}") == exposures[0]
    assert [c["conclusion"] for c in see(at(2, 6, 19), f"/cases/{cases[0]['id']}/consultations")] == ["confirmed"]
    assert see(at(2, 6, 19), f"/cases/{cases[0]['id']}")["status"] == "confirmed"
    figures = see.board(at(2, 6, 19))  # 1 confirmed case, 3 centralized contacts, 1 open point
    assert (figures["cases_confirmed"], figures["orders_centralized_quarantine"]) == (1, 3)
    assert (figures["orders_hospital_isolation"], figures["points_open"]) == (1, 1)
    grid9 = see.board(at(2, 6, 19), "JZXC-HYL-09")  # all of it in 第9网格
    assert {k: v for k, v in grid9.items() if k != "persons"} == {k: v for k, v in figures.items() if k != "persons"}
    assert codes.drifted() == []  # the stored health-code facts followed every step (issue 15)

    assert advance().label == "disinfection"  # terminal disinfection; 2 households inside at home
    point = see(at(2, 10, 12), f"/epidemic-points/{incident['points'][0]['id']}")
    assert point["status"] == "closed"
    assert dt.datetime.fromisoformat(point["proposed_release_at"]) == at(2, 21, 0)  # 2月20日24时
    at_home = see(at(2, 10, 12), "/orders?status=active&kind=home_quarantine")["items"]
    assert len({o["person_id"] for o in at_home}) >= 2 and {o["reason"] for o in at_home} == {"epidemic_point"}
    assert see(at(2, 20, 23), f"/epidemic-points/{point['id']}")["status"] == "closed"

    assert advance().label == "release"  # 2月20日24时: released
    point = see(at(2, 21, 8), f"/epidemic-points/{point['id']}")
    assert point["status"] == "released" and dt.datetime.fromisoformat(point["released_at"]) == at(2, 21, 0)
    assert see(at(2, 21, 8), "/orders?status=active&kind=home_quarantine")["items"] == []
    figures = see.board(at(2, 21, 8))  # released: no open point, nobody at home under an order
    assert "points_open" not in figures and "orders_home_quarantine" not in figures
    assert codes.drifted() == []
    with pytest.raises(StopIteration):
        advance()
