"""Reads of the health app: the health code, timelines, what is due."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from epigrid.control.choices import OrderKind
from epigrid.core.errors import DomainError, NotFound
from epigrid.core.scoping import VIEW, subtree_q
from epigrid.people.models import Person

from .choices import CodeColour, SampleResult
from .codes import stored
from .models import Case, Sample, StaffContact, TemperatureReport, TestList


def negative_test_condition(orders):
    """Release condition: orders that need a negative test have one sampled after they started."""
    negative = Sample.objects.filter(
        person=OuterRef("person"), result=SampleResult.NEGATIVE, sampled_at__gte=OuterRef("starts_at")
    )
    return orders.filter(Q(requires_negative_test=False) | Exists(negative))


def temperature_timeline(person):
    return [
        {
            "at": r.measured_at,
            "kind": "temperature",
            "actor": r.get_source_display(),
            "changes": {"value": [None, f"{r.value} °C" + (" ⚠" if r.is_fever else "")]},
            "source": "health",
            "text": (
                gettext("Fever %(value)s °C · %(source)s")
                if r.is_fever
                else gettext("Temperature %(value)s °C · %(source)s")
            )
            % {"value": r.value, "source": r.get_source_display()},
        }
        for r in TemperatureReport.objects.filter(person=person).order_by("-measured_at")[:200]
    ]


def temperature_chart(person, *, since: dt.datetime, until: dt.datetime, threshold) -> dict:
    """A server-side SVG sparkline of the readings in [since, until] (light on cheap phones):
    each reading a dot (red from the fever threshold), the threshold as a dashed line."""
    readings = list(
        TemperatureReport.objects.filter(person=person, measured_at__gte=since, measured_at__lte=until).order_by(
            "measured_at"
        )[:400]
    )
    width, height, pad = 320, 120, 14
    low, high = 35.5, 40.0
    for r in readings:
        low, high = min(low, float(r.value) - 0.3), max(high, float(r.value) + 0.3)
    span = max((until - since).total_seconds(), 1)

    def x(at):
        return round(pad + (width - 2 * pad) * (at - since).total_seconds() / span, 1)

    def y(value):
        return round(height - pad - (height - 2 * pad) * (float(value) - low) / (high - low), 1)

    points = [
        {"x": x(r.measured_at), "y": y(r.value), "value": r.value, "at": r.measured_at, "fever": r.is_fever}
        for r in readings
    ]
    return {
        "width": width,
        "height": height,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "threshold": threshold,
        "threshold_y": y(threshold),
        "since": since,
        "until": until,
    }


# The facts a colour is derived from, and the colour each gives (docs/method.md "Also in the article's
# page"); settings.HEALTH_CODE_RULES overrides it. The strongest colour wins.
DEFAULT_RULES = {
    "case_confirmed": CodeColour.RED,
    "case_suspected": CodeColour.RED,
    OrderKind.HOME_QUARANTINE: CodeColour.RED,
    OrderKind.CENTRALIZED_QUARANTINE: CodeColour.RED,
    OrderKind.HOSPITAL_ISOLATION: CodeColour.RED,
    OrderKind.HEALTH_MONITORING: CodeColour.YELLOW,
    "key_person_pending": CodeColour.YELLOW,
}
FACT_LABELS = {
    "case_confirmed": _("confirmed case"),
    "case_suspected": _("suspected case (positive test)"),
    OrderKind.HOME_QUARANTINE: _("under home quarantine"),
    OrderKind.CENTRALIZED_QUARANTINE: _("under centralized quarantine"),
    OrderKind.HOSPITAL_ISOLATION: _("in hospital isolation"),
    OrderKind.HEALTH_MONITORING: _("under health monitoring"),
    "key_person_pending": _("reported key person awaiting a control decision"),
}
RANK = {CodeColour.GREEN: 0, CodeColour.YELLOW: 1, CodeColour.RED: 2}


@dataclass
class HealthCode:
    colour: str
    reasons: list[str]

    @property
    def label(self):
        return CodeColour(self.colour).label


def health_code(person) -> HealthCode:
    """The person's code colour and why: every derivation names the facts it used."""
    return health_codes([person])[person.pk]


def health_code_with(person, fact: str) -> HealthCode:
    """The code the person would have with one more fact ("case_confirmed"): for a confirm step."""
    current = health_codes([person])[person.pk]
    rules = {**DEFAULT_RULES, **getattr(settings, "HEALTH_CODE_RULES", {})}
    colour = rules.get(fact, CodeColour.GREEN)
    return current if RANK[current.colour] >= RANK[colour] else HealthCode(colour=colour, reasons=[])


def health_codes(persons) -> dict[int, HealthCode]:
    """Codes for several people in one query, from the stored facts (`health.codes`)."""
    return {pk: derive(facts) for pk, facts in stored(p.pk for p in persons).items()}


def derive(facts: list[str]) -> HealthCode:
    """The colour the strongest fact gives under the current rules, and every fact as a reason."""
    rules = {**DEFAULT_RULES, **getattr(settings, "HEALTH_CODE_RULES", {})}
    colour, reasons = CodeColour.GREEN, []
    for fact in facts:
        fact_colour = rules.get(fact, CodeColour.GREEN)
        if fact_colour != CodeColour.GREEN:
            reasons.append(str(FACT_LABELS.get(fact, fact)))
        if RANK[fact_colour] > RANK[colour]:
            colour = fact_colour
    if not reasons:
        reasons.append(str(_("no open control measure, case or pending report")))
    return HealthCode(colour=colour, reasons=reasons)


def days_left(order, *, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    remaining = order.ends_at - now
    return max(0, remaining.days + (1 if remaining.seconds else 0))


def selection(*, grid, selection: str, person_ids=()):
    """Who goes on a test list: a grid's people, those under control there, or chosen persons."""
    persons = Person.objects.current().filter(subtree_q("grid__path", grid.path))
    if selection == "grid":
        return persons
    if selection == "under_control":
        return persons.filter(control_orders__status__in=["active", "release_proposed"]).distinct()
    if selection == "persons":
        return persons.filter(pk__in=list(person_ids))
    raise DomainError("selection_invalid", _("Choose a grid, those under control, or persons."), field="selection")


def test_list_get(*, user, pk, capability: str = VIEW) -> TestList:
    """The test list, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return TestList.objects.select_related("grid").get_for(
        user, capability, pk=pk, missing=NotFound("test_list_not_found", _("No such test list."))
    )


def sample_get(*, user, pk, capability: str = VIEW) -> Sample:
    """The sample, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Sample.objects.get_for(user, capability, pk=pk, missing=NotFound("sample_not_found", _("No such sample.")))


def case_get(*, user, pk, capability: str = VIEW) -> Case:
    """The case, if `user` may `capability` it: else 404 (outside their area) or 403."""
    return Case.objects.select_related("grid", "person").get_for(
        user, capability, pk=pk, missing=NotFound("case_not_found", _("No such case."))
    )


def case_list(*, user, person_id: int | None = None, status: str = "", grid_path: str = ""):
    """Cases in the user's sight, latest suspicion first (ties by id, for stable paging)."""
    cases = Case.objects.restrict(user).select_related("grid")
    if person_id:
        cases = cases.filter(person_id=person_id)
    if status:
        cases = cases.filter(status=status)
    if grid_path:
        cases = cases.in_subtree(grid_path)
    return cases.order_by("-suspected_at", "-id")


def health_code_rules() -> list[dict]:
    """The facts a health code is derived from, the colour each gives and the reason shown (the
    defaults with settings.HEALTH_CODE_RULES over them), strongest colour first."""
    rules = {**DEFAULT_RULES, **getattr(settings, "HEALTH_CODE_RULES", {})}
    rows = [
        {"fact": str(fact), "colour": str(colour), "reason": str(FACT_LABELS.get(fact, fact))}
        for fact, colour in rules.items()
    ]
    rows.sort(key=lambda r: (-RANK[r["colour"]], r["fact"]))
    rows.append(
        {
            "fact": "none",
            "colour": str(CodeColour.GREEN),
            "reason": str(_("no open control measure, case or pending report")),
        }
    )
    return rows


def staff_contact_list(*, user, person=None, day: dt.date | None = None):
    """Staff contacts (走访) in the user's sight, latest first; the person's when given."""
    rows = StaffContact.objects.restrict(user).select_related("staff")
    if person is not None:
        rows = rows.filter(person=person)
    if day is not None:
        rows = rows.filter(local_date=day)
    return rows.order_by("-at", "-id")
