"""Cascades end to end (ARCHITECTURE "Principals", "Cascades"): for each thing that sets off a
cascade — a confirmation, a close contact, a home-quarantine order, an epidemic point's release —
every role whose capabilities allow it (read from ROLE_CAPABILITIES, not guessed) gets the WHOLE
cascade, run as the named system principal on its behalf; every other role, and every user of
another compound, gets 403 (it sees the object) or 404 (it does not), and nothing at all is
written. A cascade step that fails leaves nothing behind and the caller gets the error."""

import datetime as dt
import importlib
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.utils import timezone

from epigrid.accounts import services as account_services
from epigrid.accounts.choices import ROLE_CAPABILITIES, ROLE_LEVELS, Role
from epigrid.accounts.models import GridAssignment, User
from epigrid.alerts.models import Alert
from epigrid.care.models import ServiceKind, ServiceSchedule, ServiceTask
from epigrid.control import services as control
from epigrid.control.choices import KeyPersonStatus, OrderKind, OrderReason, OrderStatus
from epigrid.control.models import ControlOrder, KeyPerson
from epigrid.core import extensions
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, Forbidden, NotFound
from epigrid.core.models import AuditEvent, OutboxMessage
from epigrid.gates import services as gates
from epigrid.gates.choices import Direction, RefusalReason, Verdict
from epigrid.gates.models import HouseholdPass, Passage
from epigrid.grids.choices import GridLevel
from epigrid.health import services as health
from epigrid.health.choices import CaseStatus
from epigrid.health.models import Case, ExpertConsultation
from epigrid.people import services as people_services
from epigrid.response import services as response
from epigrid.response.choices import ActivationStatus, ExposureDegree, PointStatus
from epigrid.response.models import Activation, EpidemicPoint, Exposure, PointOrder, Task
from tests.factories import fresh, make_id_number, make_user

# ---------------------------------------------------------------- who may, from the role table


def roles_with(capability: str) -> list[str]:
    return sorted(role for role, caps in ROLE_CAPABILITIES.items() if capability in caps)


def roles_without(capability: str) -> list[str]:
    return sorted(role for role, caps in ROLE_CAPABILITIES.items() if capability not in caps)


# Where a role is placed for a test: the lowest level it may be held at that still lies over
# 第1网格 (the compound where everything happens), else wherever it may be held at all.
PLACEMENT = [GridLevel.GRID, GridLevel.COMMUNITY, GridLevel.SUBDISTRICT, GridLevel.BUILDING, GridLevel.THEMATIC]
HOME_NODE = {
    GridLevel.GRID: "S-C-G1",
    GridLevel.COMMUNITY: "S-C",
    GridLevel.SUBDISTRICT: "S",
    GridLevel.BUILDING: "S-C-G1-B1",
    GridLevel.THEMATIC: "S-MED",
}
# The same roles held in the other compound (第2网格): they see nothing of 第1网格.
OTHER_NODE = {GridLevel.GRID: "S-C-G2", GridLevel.BUILDING: "S-C-G2-B1"}
OTHER_COMPOUND_ROLES = sorted(role for role, levels in ROLE_LEVELS.items() if levels & set(OTHER_NODE))

CONFIRMERS = roles_with(Capability.CONFIRM_CASES)
CONTACT_RECORDERS = roles_with(Capability.RECORD_EXPOSURES)
ORDER_STARTERS = roles_with(Capability.MANAGE_ORDERS)
RELEASERS = roles_with(Capability.MANAGE_PLANS)


def test_the_role_table_gives_each_cascade_its_starters():
    """What the parametrised tests below run over (a change to the role table shows here)."""
    assert Role.COMMANDER in CONFIRMERS and Role.MEDICAL_LIAISON in CONFIRMERS
    assert Role.GRID_MEMBER not in CONFIRMERS and Role.INSPECTOR not in CONFIRMERS
    assert Role.MEDICAL_LIAISON in CONTACT_RECORDERS and Role.MEDICAL_LIAISON not in ORDER_STARTERS
    assert Role.COMMUNITY_STAFF in ORDER_STARTERS and Role.GRID_HEAD in ORDER_STARTERS
    assert Role.COMMANDER in RELEASERS and Role.GRID_MEMBER not in RELEASERS
    for group in (CONFIRMERS, CONTACT_RECORDERS, ORDER_STARTERS, RELEASERS):
        assert group and set(group) < set(Role.values)


# ---------------------------------------------------------------- the scene


@dataclass
class Scene:
    """The base world plus: a medical liaison on 第1网格 (so every plan step has an owner), two
    more households in 第1网格 (赵六's, 钱七's), and a checkpoint with passes on both compounds."""

    world: object
    liaison: User
    households: dict = field(default_factory=dict)
    persons: dict = field(default_factory=dict)
    checkpoints: dict = field(default_factory=dict)
    _serial: int = 0

    @property
    def admin(self):
        return self.world.admin

    @property
    def nodes(self):
        return self.world.nodes

    @property
    def users(self):
        return self.world.users

    def user_for(self, role: str, *, other_compound: bool = False) -> User:
        """A fresh user holding `role` once, placed over 第1网格 (or in 第2网格)."""
        levels = ROLE_LEVELS[role]
        table = OTHER_NODE if other_compound else HOME_NODE
        level = next(lv for lv in PLACEMENT if lv in levels and lv in table)
        self._serial += 1
        user = make_user(f"{role}-{'g2' if other_compound else 'g1'}-{self._serial}")
        account_services.grid_assignment_create(
            node=self.nodes[table[level]], user=user, role=role, duties=(), principal=self.admin
        )
        return fresh(user)  # no cached role paths

    def expected_refusal(self, user: User, target_path: str) -> type[DomainError]:
        """403 when the user's role is held over the target (it sees it), else 404."""
        held = GridAssignment.objects.active().filter(user=user).values_list("node__path", flat=True)
        return Forbidden if any(target_path.startswith(path) for path in held) else NotFound

    def suspected(self, person, *, at: dt.datetime | None = None) -> Case:
        at = at or timezone.now()
        self._serial += 1
        specimen = f"SP-{self._serial}"
        health.sample_record(
            person=person, specimen_number=specimen, sampled_at=at - dt.timedelta(days=2), principal=self.admin
        )
        health.results_record(
            results=[health.ResultIn(specimen, "positive", at - dt.timedelta(hours=1))], principal=self.admin
        )
        return Case.objects.get(person=person)

    def confirmed(self, person, *, at: dt.datetime | None = None) -> Case:
        at = at or timezone.now()
        case = self.suspected(person, at=at)
        health.consultation_record(
            case=case, held_at=at, experts="市级专家组", conclusion="confirmed", principal=self.admin
        )
        case.refresh_from_db()
        return case

    def scan(self, household, direction: str, *, compound: str = "S-C-G1", now=None):
        household_pass = HouseholdPass.objects.get(household=household, revoked_at__isnull=True)
        guard = self.users["guard1"] if compound == "S-C-G1" else self.admin
        return gates.gate_scan(
            checkpoint=self.checkpoints[compound],
            direction=direction,
            temperature="36.5",
            number=household_pass.number,
            principal=guard,
            now=now,
        ).passage


def build_scene(world) -> Scene:
    admin = world.admin
    liaison = make_user("liaison1")
    account_services.grid_assignment_create(
        node=world.nodes["S-C-G1"], user=liaison, role=Role.MEDICAL_LIAISON, duties=(), principal=admin
    )
    scene = Scene(world=world, liaison=fresh(liaison))
    scene.households.update(world.households)
    scene.persons.update(world.persons)
    for key, number, name in (("h1c", "2-201", "赵六"), ("h1d", "3-301", "钱七")):
        scene.households[key] = people_services.household_create(
            grid=world.nodes["S-C-G1-B1"], number=number, address=f"S-C-G1-B1 {number}", principal=admin
        )
        scene.persons[key.replace("h", "p")] = people_services.person_create(
            name=name, id_number=make_id_number(), household=scene.households[key], principal=admin
        )
    # 赵六 lives with his wife: a household order is for every member.
    scene.persons["p1c2"] = people_services.person_create(
        name="赵六妻", id_number=make_id_number(), household=scene.households["h1c"], principal=admin
    )
    for code, name in (("S-C-G1", "北门"), ("S-C-G2", "南门")):
        scene.checkpoints[code] = gates.checkpoint_open(grid=world.nodes[code], name=name, principal=admin)
        gates.passes_issue(grid=world.nodes[code], principal=admin)
    return scene


@pytest.fixture
def scene(world):
    return build_scene(world)


def snapshot() -> dict:
    """Everything a cascade (or a refused attempt) could write."""
    return {
        "cases": sorted(Case.objects.values_list("pk", "status", "confirmed_at")),
        "consultations": ExpertConsultation.objects.count(),
        "activations": sorted(Activation.objects.values_list("pk", "status", "closed_at")),
        "activation_cases": sorted(Activation.cases.through.objects.values_list("activation_id", "case_id")),
        "tasks": sorted(Task.objects.values_list("pk", "status", "owner_id")),
        "points": sorted(EpidemicPoint.objects.values_list("pk", "status", "released_at", "proposed_release_at")),
        "point_orders": PointOrder.objects.count(),
        "exposures": Exposure.objects.count(),
        "orders": sorted(ControlOrder.objects.values_list("pk", "kind", "status", "ends_at", "last_exposure_at")),
        "key_persons": sorted(KeyPerson.objects.values_list("pk", "status")),
        "schedules": sorted(ServiceSchedule.objects.values_list("pk", "kind", "ended_at")),
        "service_tasks": ServiceTask.objects.count(),
        "outbox": sorted(OutboxMessage.objects.values_list("pk", "done_at")),
        "passages": Passage.objects.count(),
        "alerts": Alert.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def api_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {account_services.api_token_issue(user=user)}"
    return client


def open_order(person) -> ControlOrder | None:
    return ControlOrder.objects.open().filter(person=person).first()


def audited(action: str, *, label: str, user) -> bool:
    return AuditEvent.objects.filter(action=action, actor_label=label, actor=user).exists()


@pytest.fixture
def broken(monkeypatch):
    """Make one cascade handler raise (extension contributions are cached: clear around it)."""

    def _break(path: str, error: Exception):
        module, name = path.rsplit(".", 1)

        def boom(*args, **kwargs):
            raise error

        monkeypatch.setattr(importlib.import_module(module), name, boom)
        extensions.get.cache_clear()

    yield _break
    monkeypatch.undo()
    extensions.get.cache_clear()


# ---------------------------------------------------------------- 1. confirmation


def _before_confirmation(scene, *, recorder=None) -> Case:
    """张三's household came back from 襄阳 and is under home quarantine; his wife and 赵六 were
    recorded as his close contacts, and 钱七 as 赵六's, while his case was only suspected (no
    order follows yet)."""
    recorder = recorder or scene.admin
    p1, p1b, p3, p4 = scene.persons["p1"], scene.persons["p1b"], scene.persons["p1c"], scene.persons["p1d"]
    control.control_orders_start_household(
        household=scene.households["h1"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        starts_at=timezone.now() - dt.timedelta(days=3),
        principal=scene.admin,
    )
    case = scene.suspected(p1)
    last = timezone.now() - dt.timedelta(days=2)
    for contact, setting in ((p1b, "household"), (p3, "meal")):
        response.exposure_record(source=p1, contact=contact, last_exposure_at=last, setting=setting, principal=recorder)
    # 赵六 then met 钱七: 钱七 becomes a secondary contact once 赵六 is a case's close contact.
    response.exposure_record(source=p3, contact=p4, last_exposure_at=last + dt.timedelta(hours=5), principal=recorder)
    assert open_order(p3) is None and open_order(p4) is None  # a suspected case's contacts wait
    assert open_order(p1b).kind == OrderKind.HOME_QUARANTINE
    return case


def assert_whole_confirmation(scene, case: Case, user) -> Activation:
    case.refresh_from_db()
    assert case.status == CaseStatus.CONFIRMED and case.consultations.count() == 1
    compound = scene.nodes["S-C-G1"]
    # The plan is activated for the case's compound, by the system for the confirming user.
    activation = Activation.objects.get(cases=case)
    assert activation.grid == compound and activation.status == ActivationStatus.ACTIVE
    assert activation.activated_by == user
    assert audited("plan.activate", label="system:activation", user=user)
    # Nine tasks, each with an owner who holds the step's role over the compound.
    tasks = list(activation.tasks.select_related("step", "owner"))
    assert len(tasks) == 9 == activation.plan.steps.count()
    for task in tasks:
        assert task.owner is not None, task.title
        assert (
            GridAssignment.objects.active()
            .filter(user=task.owner, role=task.step.responsible_role, node__path__in=compound.lineage_paths)
            .exists()
        ), task.title
        assert task.due_at == activation.activated_at + dt.timedelta(hours=task.step.deadline_hours)
    # The epidemic point: the compound under closed management.
    point = EpidemicPoint.objects.get(activation=activation)
    assert point.grid == compound and point.status == PointStatus.CLOSED
    # The contacts recorded before: the wife's home quarantine upgraded, 赵六 sent to the site.
    wife, zhao = scene.persons["p1b"], scene.persons["p1c"]
    upgraded = open_order(wife)
    assert upgraded.kind == OrderKind.CENTRALIZED_QUARANTINE and upgraded.reason == OrderReason.CLOSE_CONTACT
    assert upgraded.previous is not None and upgraded.previous.status == OrderStatus.TRANSFERRED
    assert upgraded.previous.kind == OrderKind.HOME_QUARANTINE
    started = open_order(zhao)
    assert started.kind == OrderKind.CENTRALIZED_QUARANTINE and started.reason == OrderReason.CLOSE_CONTACT
    last = Exposure.objects.filter(contact=zhao).latest("last_exposure_at").last_exposure_at
    assert started.ends_at == last + dt.timedelta(days=14)
    assert started.created_by == user and upgraded.created_by == user
    assert (
        AuditEvent.objects.filter(
            action="control_order.start", object_type="control.controlorder", object_id=str(started.pk)
        )
        .get()
        .actor_label
        == "system:activation"
    )
    secondary = open_order(scene.persons["p1d"])
    assert (secondary.kind, secondary.reason) == (OrderKind.HEALTH_MONITORING, OrderReason.SECONDARY_CONTACT)
    # The case himself stays under his order (his transfer to hospital is a task, not automatic).
    assert open_order(case.person).kind == OrderKind.HOME_QUARANTINE
    # Care: the compound gets disinfection twice a day and garbage collection, owned by its head.
    compound_schedules = ServiceSchedule.objects.filter(grid=compound, household__isnull=True, ended_at__isnull=True)
    assert {s.kind for s in compound_schedules} == {ServiceKind.DISINFECTION, ServiceKind.GARBAGE}
    assert {s.owner for s in compound_schedules} == {scene.users["head1"]}
    assert audited("service.schedule", label="system:household-support", user=user)
    assert OutboxMessage.objects.filter(topic="care.materialize", grid_path=compound.path).exists()
    # The gate: nobody of the compound goes out (钱七's household has no order of its own), in is fine.
    out = scene.scan(scene.households["h1d"], Direction.OUT)
    assert (out.verdict, out.reason) == (Verdict.REFUSED, RefusalReason.EPIDEMIC_POINT)
    assert scene.scan(scene.households["h1d"], Direction.IN).verdict == Verdict.ALLOWED
    assert scene.scan(scene.households["h1"], Direction.OUT).verdict == Verdict.REFUSED
    # The other compound is not closed.
    assert scene.scan(scene.households["h2"], Direction.OUT, compound="S-C-G2").verdict == Verdict.ALLOWED
    return activation


@pytest.mark.parametrize("role", CONFIRMERS)
def test_confirmation_by_an_allowed_role_runs_the_whole_cascade(scene, role):
    user = scene.user_for(role)
    case = _before_confirmation(scene)
    before = snapshot()
    health.consultation_record(
        case=case, held_at=timezone.now(), experts="市级专家组", conclusion="confirmed", principal=user
    )
    # (the snapshot the refusal tests compare sees every part of the cascade)
    after = snapshot()
    changed = {key for key in before if after[key] != before[key]}
    assert changed >= {
        "cases",
        "consultations",
        "activations",
        "activation_cases",
        "tasks",
        "points",
        "orders",
        "schedules",
        "outbox",
        "audit",
    }
    assert_whole_confirmation(scene, case, user)


@pytest.mark.parametrize("role", CONFIRMERS)
def test_confirmation_through_the_api_runs_the_whole_cascade(scene, role, django_capture_on_commit_callbacks):
    user = scene.user_for(role)
    case = _before_confirmation(scene)
    client = api_client(user)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            f"/api/v1/cases/{case.pk}/consultations",
            {"held_at": timezone.now().isoformat(), "experts": "市级专家组", "conclusion": "confirmed"},
            content_type="application/json",
        )
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "confirmed"
    assert_whole_confirmation(scene, case, user)
    # After commit, the worker (inline here) wrote the compound's service occurrences.
    assert ServiceTask.objects.filter(grid=scene.nodes["S-C-G1"], household__isnull=True).exists()
    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()


REFUSED_CONFIRMERS = [(role, False) for role in roles_without(Capability.CONFIRM_CASES)] + [
    (role, True) for role in OTHER_COMPOUND_ROLES
]


def _ids(param):
    return f"{param[0]}{'-other-compound' if param[1] else ''}"


@pytest.mark.parametrize("who", REFUSED_CONFIRMERS, ids=_ids)
def test_confirmation_by_a_role_that_may_not_changes_nothing(scene, who):
    role, other = who
    user = scene.user_for(role, other_compound=other)
    case = _before_confirmation(scene)
    expected = NotFound if other else scene.expected_refusal(user, case.grid.path)
    before = snapshot()
    with pytest.raises(expected):
        health.consultation_record(
            case=case, held_at=timezone.now(), experts="市级专家组", conclusion="confirmed", principal=user
        )
    assert snapshot() == before
    case.refresh_from_db()
    assert case.status == CaseStatus.SUSPECTED and not Activation.objects.exists()


@pytest.mark.parametrize("who", REFUSED_CONFIRMERS, ids=_ids)
def test_confirmation_through_the_api_by_a_role_that_may_not_answers_403_or_404(scene, who):
    role, other = who
    user = scene.user_for(role, other_compound=other)
    case = _before_confirmation(scene)
    expected = NotFound if other else scene.expected_refusal(user, case.grid.path)
    client = api_client(user)
    before = snapshot()
    answer = client.post(
        f"/api/v1/cases/{case.pk}/consultations",
        {"held_at": timezone.now().isoformat(), "experts": "市级专家组", "conclusion": "confirmed"},
        content_type="application/json",
    )
    assert answer.status_code == expected.status, answer.content
    assert snapshot() == before


def test_world_users_grid_member_inspector_and_other_compound_are_refused(scene):
    """The named users of the base world (not only fresh ones): 403 for those who see the case,
    404 for 第2网格's staff; nothing happens."""
    case = _before_confirmation(scene)
    before = snapshot()
    for username, status in (("member1", 403), ("inspector", 403), ("staff", 403), ("member2", 404), ("head2", 404)):
        answer = api_client(scene.users[username]).post(
            f"/api/v1/cases/{case.pk}/consultations",
            {"held_at": timezone.now().isoformat(), "experts": "专家组", "conclusion": "confirmed"},
            content_type="application/json",
        )
        assert answer.status_code == status, (username, answer.content)
    # Token issuing is audited; nothing else happened.
    after = snapshot()
    assert after.pop("audit") == before.pop("audit") + 5
    assert after == before


# ---------------------------------------------------------------- the issue's story


def test_the_medical_liaison_confirms_and_the_whole_plan_starts(scene, django_capture_on_commit_callbacks):
    """A medical liaison records the consultation that confirms a case whose household contacts
    were recorded before: the whole plan starts and the contacts' orders are upgraded — although
    the liaison may not start orders or plans by hand."""
    liaison = scene.liaison
    assert Capability.MANAGE_ORDERS not in ROLE_CAPABILITIES[Role.MEDICAL_LIAISON]
    assert Capability.MANAGE_PLANS not in ROLE_CAPABILITIES[Role.MEDICAL_LIAISON]
    case = _before_confirmation(scene, recorder=liaison)
    with django_capture_on_commit_callbacks(execute=True):
        health.consultation_record(
            case=case, held_at=timezone.now(), experts="市级专家组", conclusion="confirmed", principal=liaison
        )
    activation = assert_whole_confirmation(scene, case, liaison)
    assert activation.tasks.get(title="医疗网格心理疏导与健康防护").owner == liaison
    # The liaison cannot do any of it by hand.
    with pytest.raises(Forbidden):
        control.control_order_start(
            person=scene.persons["p1c2"], kind=OrderKind.HOME_QUARANTINE, reason=OrderReason.OTHER, principal=liaison
        )


def test_the_medical_liaison_records_contacts_of_a_confirmed_case(scene):
    liaison = scene.liaison
    case = scene.confirmed(scene.persons["p1"])
    assert case.activations.exists()
    wife, zhao, zhao_wife = scene.persons["p1b"], scene.persons["p1c"], scene.persons["p1c2"]
    last = timezone.now() - dt.timedelta(hours=20)
    response.exposure_record(source=case.person, contact=wife, last_exposure_at=last, principal=liaison)
    answer = api_client(liaison).post(
        "/api/v1/exposures",
        {"source_id": case.person_id, "contact_id": zhao.pk, "last_exposure_at": last.isoformat(), "setting": "meal"},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    response.exposure_record(
        source=zhao, contact=zhao_wife, last_exposure_at=last, degree=ExposureDegree.SECONDARY, principal=liaison
    )
    for contact in (wife, zhao):
        order = open_order(contact)
        assert (order.kind, order.reason) == (OrderKind.CENTRALIZED_QUARANTINE, OrderReason.CLOSE_CONTACT)
        assert order.ends_at == last + dt.timedelta(days=14) and order.created_by == liaison
    assert open_order(zhao_wife).kind == OrderKind.HEALTH_MONITORING
    assert audited("control_order.start", label="system:contact-tracing", user=liaison)
    assert set(Exposure.objects.values_list("recorded_by", flat=True)) == {liaison.pk}


# ---------------------------------------------------------------- 2. a close contact


def _before_contact(scene):
    """张三 is confirmed; 赵六's household is under home quarantine already; 赵六 had dinner with
    钱七 (recorded while 赵六 was nobody's contact yet: no order follows)."""
    case = scene.confirmed(scene.persons["p1"])
    control.control_orders_start_household(
        household=scene.households["h1c"],
        kind=OrderKind.HOME_QUARANTINE,
        reason=OrderReason.RISK_AREA_ARRIVAL,
        principal=scene.admin,
    )
    assert ServiceSchedule.objects.filter(household=scene.households["h1c"], ended_at__isnull=True).count() == 3
    response.exposure_record(
        source=scene.persons["p1c"],
        contact=scene.persons["p1d"],
        last_exposure_at=timezone.now() - dt.timedelta(hours=10),
        principal=scene.admin,
    )
    assert open_order(scene.persons["p1d"]) is None
    return case


def _record_contact(scene, user, *, via_api=False):
    last = timezone.now() - dt.timedelta(days=1)
    source, contact = scene.persons["p1"], scene.persons["p1c"]
    if via_api:
        return api_client(user).post(
            "/api/v1/exposures",
            {"source_id": source.pk, "contact_id": contact.pk, "last_exposure_at": last.isoformat()},
            content_type="application/json",
        ), last
    response.exposure_record(source=source, contact=contact, last_exposure_at=last, principal=user)
    return None, last


def assert_whole_contact(scene, user, last):
    zhao, wife, qian = scene.persons["p1c"], scene.persons["p1c2"], scene.persons["p1d"]
    exposure = Exposure.objects.get(source=scene.persons["p1"], contact=zhao)
    assert exposure.recorded_by == user and exposure.last_exposure_at == last
    # 赵六's home quarantine upgraded to centralized quarantine from the last exposure.
    order = open_order(zhao)
    assert (order.kind, order.reason) == (OrderKind.CENTRALIZED_QUARANTINE, OrderReason.CLOSE_CONTACT)
    assert order.previous.status == OrderStatus.TRANSFERRED and order.previous.kind == OrderKind.HOME_QUARANTINE
    assert order.ends_at == last + dt.timedelta(days=14) and order.created_by == user
    assert audited("control_order.transferred", label="system:contact-tracing", user=user)
    # His wife stays at home; so the household's services go on.
    assert open_order(wife).kind == OrderKind.HOME_QUARANTINE
    assert ServiceSchedule.objects.filter(household=scene.households["h1c"], ended_at__isnull=True).count() == 3
    # 钱七, whom 赵六 met, is now a secondary contact under health monitoring.
    monitoring = open_order(qian)
    assert (monitoring.kind, monitoring.reason) == (OrderKind.HEALTH_MONITORING, OrderReason.SECONDARY_CONTACT)


@pytest.mark.parametrize("role", CONTACT_RECORDERS)
def test_a_close_contact_recorded_by_an_allowed_role_gets_the_whole_cascade(scene, role):
    user = scene.user_for(role)
    _before_contact(scene)
    _none, last = _record_contact(scene, user)
    assert_whole_contact(scene, user, last)


@pytest.mark.parametrize("role", CONTACT_RECORDERS)
def test_a_close_contact_recorded_through_the_api_gets_the_whole_cascade(scene, role):
    user = scene.user_for(role)
    _before_contact(scene)
    answer, last = _record_contact(scene, user, via_api=True)
    assert answer.status_code == 200, answer.content
    assert_whole_contact(scene, user, last)


REFUSED_RECORDERS = [(role, False) for role in roles_without(Capability.RECORD_EXPOSURES)] + [
    (role, True) for role in OTHER_COMPOUND_ROLES
]


@pytest.mark.parametrize("who", REFUSED_RECORDERS, ids=_ids)
@pytest.mark.parametrize("via_api", [False, True], ids=["service", "api"])
def test_a_close_contact_by_a_role_that_may_not_changes_nothing(scene, who, via_api):
    role, other = who
    user = scene.user_for(role, other_compound=other)
    _before_contact(scene)
    expected = NotFound if other else scene.expected_refusal(user, scene.persons["p1c"].grid.path)
    client = api_client(user) if via_api else None
    before = snapshot()
    if via_api:
        answer = client.post(
            "/api/v1/exposures",
            {
                "source_id": scene.persons["p1"].pk,
                "contact_id": scene.persons["p1c"].pk,
                "last_exposure_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
            },
            content_type="application/json",
        )
        assert answer.status_code == expected.status, answer.content
    else:
        with pytest.raises(expected):
            _record_contact(scene, user)
    assert snapshot() == before


def test_a_contact_whose_source_is_out_of_scope_answers_404_and_changes_nothing(scene):
    """第2网格's grid head may record contacts in 第2网格, but not name 第1网格's case as source."""
    _before_contact(scene)
    before = snapshot()
    with pytest.raises(NotFound):
        response.exposure_record(
            source=scene.persons["p1"],
            contact=scene.persons["p2"],
            last_exposure_at=timezone.now() - dt.timedelta(hours=3),
            principal=scene.users["head2"],
        )
    assert snapshot() == before


# ---------------------------------------------------------------- 3. a home-quarantine order


def _before_order(scene):
    """赵六 and his wife were reported by a tip (key persons)."""
    control.tip_record(
        persons=[scene.persons["p1c"], scene.persons["p1c2"]],
        reported_at=timezone.now() - dt.timedelta(hours=5),
        reporter="网格员",
        origin_code="420600",
        travel_mode="self_drive",
        principal=scene.users["member1"],
    )


def assert_whole_order(scene, user, orders):
    household = scene.households["h1c"]
    members = {scene.persons["p1c"].pk, scene.persons["p1c2"].pk}
    assert {o.person_id for o in orders} == members
    for order in orders:
        order.refresh_from_db()
        assert (order.kind, order.status) == (OrderKind.HOME_QUARANTINE, OrderStatus.ACTIVE)
        assert order.created_by == user and order.key_person.status == KeyPersonStatus.CONTROLLED
    # The household's default services, as the system for whoever started the order.
    schedules = ServiceSchedule.objects.filter(household=household, ended_at__isnull=True)
    assert {s.kind for s in schedules} == {ServiceKind.SHOPPING, ServiceKind.CHECKIN, ServiceKind.SUPPLIES}
    assert all(s.owner is not None and s.created_by is None for s in schedules)
    assert audited("service.schedule", label="system:household-support", user=user)
    message = OutboxMessage.objects.get(topic="care.materialize", grid_path=household.grid.path)
    assert set(message.payload["schedules"]) == {s.pk for s in schedules} and message.caused_by == user
    # The gate: the household's pass no longer lets it out; the neighbours' still does.
    out = scene.scan(household, Direction.OUT)
    assert (out.verdict, out.reason) == (Verdict.REFUSED, RefusalReason.QUARANTINE)
    assert scene.scan(household, Direction.IN).verdict == Verdict.ALLOWED
    assert scene.scan(scene.households["h1d"], Direction.OUT).verdict == Verdict.ALLOWED


@pytest.mark.parametrize("role", ORDER_STARTERS)
def test_home_quarantine_by_an_allowed_role_gets_the_whole_cascade(scene, role, django_capture_on_commit_callbacks):
    user = scene.user_for(role)
    _before_order(scene)
    with django_capture_on_commit_callbacks(execute=True):
        orders = control.control_orders_start_household(
            household=scene.households["h1c"],
            kind=OrderKind.HOME_QUARANTINE,
            reason=OrderReason.RISK_AREA_ARRIVAL,
            principal=user,
        )
    assert_whole_order(scene, user, orders)
    # After commit the worker wrote the occurrences (inline drain in tests).
    assert ServiceTask.objects.filter(household=scene.households["h1c"]).exists()
    assert OutboxMessage.objects.get(topic="care.materialize").done_at is not None


@pytest.mark.parametrize("role", ORDER_STARTERS)
def test_home_quarantine_through_the_api_gets_the_whole_cascade(scene, role):
    user = scene.user_for(role)
    _before_order(scene)
    answer = api_client(user).post(
        "/api/v1/orders",
        {"household_id": scene.households["h1c"].pk, "kind": "home_quarantine", "reason": "risk_area_arrival"},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    orders = list(ControlOrder.objects.filter(pk__in=[o["id"] for o in answer.json()]))
    assert_whole_order(scene, user, orders)


REFUSED_STARTERS = [(role, False) for role in roles_without(Capability.MANAGE_ORDERS)] + [
    (role, True) for role in OTHER_COMPOUND_ROLES
]


@pytest.mark.parametrize("who", REFUSED_STARTERS, ids=_ids)
@pytest.mark.parametrize("via_api", [False, True], ids=["service", "api"])
def test_home_quarantine_by_a_role_that_may_not_changes_nothing(scene, who, via_api):
    role, other = who
    user = scene.user_for(role, other_compound=other)
    _before_order(scene)
    household = scene.households["h1c"]
    expected = NotFound if other else scene.expected_refusal(user, household.grid.path)
    client = api_client(user) if via_api else None
    before = snapshot()
    if via_api:
        answer = client.post(
            "/api/v1/orders",
            {"household_id": household.pk, "kind": "home_quarantine", "reason": "risk_area_arrival"},
            content_type="application/json",
        )
        assert answer.status_code == expected.status, answer.content
    else:
        with pytest.raises(expected):
            control.control_orders_start_household(
                household=household,
                kind=OrderKind.HOME_QUARANTINE,
                reason=OrderReason.RISK_AREA_ARRIVAL,
                principal=user,
            )
    assert snapshot() == before
    assert scene.scan(household, Direction.OUT).verdict == Verdict.ALLOWED


# ---------------------------------------------------------------- 4. an epidemic point's release


def _before_release(scene) -> EpidemicPoint:
    """张三 was confirmed 20 days ago; 钱七's household was put under home quarantine because of
    the point; 赵六 is 张三's close contact (his own order, not the point's); the case left and
    the compound was disinfected 19 days ago, and the sweep proposed the release."""
    now = timezone.now()
    case = scene.confirmed(scene.persons["p1"], at=now - dt.timedelta(days=20))
    response.exposure_record(
        source=case.person,
        contact=scene.persons["p1c"],
        last_exposure_at=now - dt.timedelta(days=2),
        principal=scene.admin,
    )
    point = EpidemicPoint.objects.get()
    response.point_quarantine_households(point=point, households=[scene.households["h1d"]], principal=scene.admin)
    response.point_update(
        point=point,
        last_case_left_at=now - dt.timedelta(days=19),
        disinfected_at=now - dt.timedelta(days=19),
        principal=scene.users["head1"],
    )
    assert response.points_propose_release(now=now) == 1
    point.refresh_from_db()
    assert point.status == PointStatus.RELEASE_PROPOSED
    # (ten minutes ago: a second scan within a minute would be the same passage)
    earlier = now - dt.timedelta(minutes=10)
    assert scene.scan(scene.households["h1d"], Direction.OUT, now=earlier).verdict == Verdict.REFUSED
    return point


def assert_whole_release(scene, point, user):
    point.refresh_from_db()
    assert (point.status, point.released_by) == (PointStatus.RELEASED, user) and point.released_at
    # The orders tied to the point end, as system:point-release for the releasing user.
    tied = ControlOrder.objects.filter(pk__in=PointOrder.objects.filter(point=point).values("order_id"))
    assert tied.count() == 1 and {o.status for o in tied} == {OrderStatus.RELEASED}
    assert {o.released_by for o in tied} == {user}
    assert audited("control_order.released", label="system:point-release", user=user)
    # 赵六's own close-contact order is not the point's: it runs its period.
    assert open_order(scene.persons["p1c"]).kind == OrderKind.CENTRALIZED_QUARANTINE
    # The activation closes with its last point.
    activation = point.activation
    activation.refresh_from_db()
    assert activation.status == ActivationStatus.CLOSED and activation.closed_at is not None
    assert audited("activation.closed", label="system:point-release", user=user)
    # The household's default services end with its last home-quarantine order.
    assert not ServiceSchedule.objects.filter(household=scene.households["h1d"], ended_at__isnull=True).exists()
    # And the gate lets the compound out again.
    assert response.household_closed_by_point(scene.households["h1d"]) is None
    assert scene.scan(scene.households["h1d"], Direction.OUT).verdict == Verdict.ALLOWED


@pytest.mark.parametrize("role", RELEASERS)
def test_release_by_an_allowed_role_runs_the_whole_cascade(scene, role):
    user = scene.user_for(role)
    point = _before_release(scene)
    response.point_release(point=point, principal=user)
    assert_whole_release(scene, point, user)


@pytest.mark.parametrize("role", RELEASERS)
def test_release_through_the_api_runs_the_whole_cascade(scene, role):
    user = scene.user_for(role)
    point = _before_release(scene)
    answer = api_client(user).post(f"/api/v1/epidemic-points/{point.pk}/release", {}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "released"
    assert_whole_release(scene, point, user)


REFUSED_RELEASERS = [(role, False) for role in roles_without(Capability.MANAGE_PLANS)] + [
    (role, True) for role in OTHER_COMPOUND_ROLES
]


@pytest.mark.parametrize("who", REFUSED_RELEASERS, ids=_ids)
@pytest.mark.parametrize("via_api", [False, True], ids=["service", "api"])
def test_release_by_a_role_that_may_not_changes_nothing(scene, who, via_api):
    role, other = who
    user = scene.user_for(role, other_compound=other)
    point = _before_release(scene)
    expected = NotFound if other else scene.expected_refusal(user, point.grid.path)
    client = api_client(user) if via_api else None
    before = snapshot()
    if via_api:
        answer = client.post(f"/api/v1/epidemic-points/{point.pk}/release", {}, content_type="application/json")
        assert answer.status_code == expected.status, answer.content
    else:
        with pytest.raises(expected):
            response.point_release(point=point, principal=user)
    assert snapshot() == before
    point.refresh_from_db()
    assert point.status == PointStatus.RELEASE_PROPOSED
    assert response.household_closed_by_point(scene.households["h1d"]) == RefusalReason.EPIDEMIC_POINT


# ---------------------------------------------------------------- all or nothing


@pytest.mark.parametrize(
    "handler",
    [
        "epigrid.care.services.support_on_case_confirmed",  # runs after the activation was made
        "epigrid.response.services._apply_contact_orders",  # midway through the activation
        "epigrid.response.services.activation_on_case_confirmed",
    ],
)
def test_a_failing_confirmation_step_leaves_nothing(scene, broken, handler):
    case = _before_confirmation(scene)
    before = snapshot()
    broken(handler, RuntimeError("cascade step failed"))
    with pytest.raises(RuntimeError, match="cascade step failed"):
        health.consultation_record(
            case=case, held_at=timezone.now(), experts="市级专家组", conclusion="confirmed", principal=scene.liaison
        )
    assert snapshot() == before
    case.refresh_from_db()
    assert case.status == CaseStatus.SUSPECTED and not Activation.objects.exists()
    assert not EpidemicPoint.objects.exists() and not Task.objects.exists()
    assert open_order(scene.persons["p1c"]) is None


def test_a_failing_confirmation_step_answers_with_its_error_through_the_api(scene, broken):
    case = _before_confirmation(scene)
    client = api_client(scene.liaison)
    before = snapshot()
    broken(
        "epigrid.care.services.support_on_case_confirmed",
        DomainError("cascade_failed", "The compound's services could not be set up."),
    )
    answer = client.post(
        f"/api/v1/cases/{case.pk}/consultations",
        {"held_at": timezone.now().isoformat(), "experts": "市级专家组", "conclusion": "confirmed"},
        content_type="application/json",
    )
    assert answer.status_code == 400 and answer.json()["code"] == "cascade_failed"
    assert snapshot() == before
    broken("epigrid.care.services.support_on_case_confirmed", RuntimeError("worker down"))
    answer = client.post(
        f"/api/v1/cases/{case.pk}/consultations",
        {"held_at": timezone.now().isoformat(), "experts": "市级专家组", "conclusion": "confirmed"},
        content_type="application/json",
    )
    assert answer.status_code == 500  # the caller is told it failed; nothing says "confirmed"
    assert snapshot() == before


def test_a_failing_contact_step_leaves_nothing(scene, broken):
    _before_contact(scene)
    before = snapshot()
    broken("epigrid.care.services.support_on_order_ended", RuntimeError("cascade step failed"))
    with pytest.raises(RuntimeError):
        _record_contact(scene, scene.liaison)
    assert snapshot() == before
    assert not Exposure.objects.filter(source=scene.persons["p1"], contact=scene.persons["p1c"]).exists()


def test_a_failing_order_step_leaves_no_order_for_anyone(scene, broken):
    _before_order(scene)
    before = snapshot()
    broken("epigrid.care.services.support_on_order_started", RuntimeError("cascade step failed"))
    with pytest.raises(RuntimeError):
        control.control_orders_start_household(
            household=scene.households["h1c"],
            kind=OrderKind.HOME_QUARANTINE,
            reason=OrderReason.RISK_AREA_ARRIVAL,
            principal=scene.users["staff"],
        )
    assert snapshot() == before
    assert not ControlOrder.objects.exists()
    assert set(KeyPerson.objects.values_list("status", flat=True)) == {KeyPersonStatus.REPORTED}


def test_a_failing_release_step_leaves_the_point_closed(scene, broken):
    point = _before_release(scene)
    before = snapshot()
    broken("epigrid.care.services.support_on_order_ended", RuntimeError("cascade step failed"))
    with pytest.raises(RuntimeError):
        response.point_release(point=point, principal=scene.users["commander"])
    assert snapshot() == before
    point.refresh_from_db()
    assert point.status == PointStatus.RELEASE_PROPOSED and point.activation.status == ActivationStatus.ACTIVE
    assert response.household_closed_by_point(scene.households["h1d"]) == RefusalReason.EPIDEMIC_POINT


# ---------------------------------------------------------------- found by the state machine


def test_a_released_point_takes_no_more_households(scene):
    point = _before_release(scene)
    response.point_release(point=point, principal=scene.users["commander"])
    client = api_client(scene.users["commander"])
    before = snapshot()
    answer = client.post(
        f"/api/v1/epidemic-points/{point.pk}/households",
        {"household_ids": [scene.households["h1"].pk]},  # inside the compound, nobody under an order
        content_type="application/json",
    )
    assert answer.status_code == 400, answer.content
    assert snapshot() == before
    assert not response.points_released_unfinished().exists()
