"""The one way a higher app adds to a lower one (docs/architecture.md "Layers").

A lower app names an extension point and calls `extensions.get(point)` (or `run(point, ...)`);
a higher app contributes by declaring, on its AppConfig, a dict of dotted paths:

    class ResponseConfig(AppConfig):
        extensions = {
            "today_panels": ["epigrid.response.views.today_tasks_panel"],
            "case_confirmed": ["epigrid.response.services.activation_on_case_confirmed"],
        }

Contributions come in INSTALLED_APPS order, are imported lazily on first use (so a lower app
never imports a higher one, not even at start-up) and never change while the process runs.
Every point is listed in POINTS with what its contributions are, so a typo fails loudly.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.utils.module_loading import import_string

POINTS = {
    # Pages: callables (request) -> rendered HTML or "" ; shown on the grid member's day and the files.
    "today_panels": "callable(request) -> str: a panel on 今日工作",
    "person_panels": "callable(request, person) -> str: a panel on the person file",
    "person_summaries": "callable(request, person) -> (template, context) | None: the top of the person file",
    "household_panels": "callable(request, household) -> str: a panel on the household file",
    "checkpoint_panels": "callable(request, checkpoint) -> (template, context) | None: a panel on the gate page",
    "household_search": "callable(q) -> queryset of household ids the text finds (a pass number…), "
    "OR-ed into the person and household lists' search; the lists keep their own restriction",
    "timeline_providers": "callable(person) -> list[TimelineEntry]: entries on the person file",
    "resident_panels": "callable(request, person, token) -> (template, context) | None: a panel on the "
    "resident's personal-link page (no account: show only what concerns this person and household)",
    "incident_panels": "callable(request, activation) -> (template, context) | None: a panel on the incident page",
    "task_panels": "callable(request, task) -> (template, context) | None: a panel under an emergency task "
    "on the incident page",
    "rules_panels": "callable(request) -> (template, context) | None: a panel on the Rules page (规则设置), "
    "for a higher app's rules (the dashboard's thresholds); the panel's form posts to its own app's view",
    "home_pages": "callable(user) -> str | None: the page a user lands on after login (the first given wins)",
    # Rules
    "gap_checks": "GapCheck: a kind of coverage gap (零疏漏)",
    "exit_suspensions": "callable(prefix) -> (reason, boolean expression): why a household may not go out, "
    "as an expression on the household at OuterRef(prefix + 'pk' / prefix + 'grid__path'), so a gate asks "
    "every reason in the query that finds the pass",
    "roster_cover": "callable(*, checkpoint_ids, start, end) -> iterable of (checkpoint_id, starts_at, ends_at, "
    "label): further spans when someone is on duty at these checkpoints, counted in their 24-hour roster and "
    "listed on it under `label` (who: 志愿者 name（team）)",
    "release_conditions": "callable(orders) -> orders: the due orders that also meet this condition",
    "sweeps": "(name, callable(now=None) -> int): periodic work run by the sweep",
    "action_labels": "dict {audit action: label}: readable names of audit actions",
    "timeline_values": "dict {audited field: {code: label}}: readable values of audited fields on timelines",
    "consequences": "callable(action, obj) -> list[str]: what this app's cascade will do after an "
    'irreversible action ("case_confirm", "order_release"), shown on its confirm step; reads only',
    # Cascades: run inside the caller's transaction; `cause` is the principal whose action set
    # them off, and each contribution acts as its own named SystemPrincipal (system(name, caps, cause=cause)).
    "case_confirmed": "callable(*, case, cause): after a case is confirmed",
    "order_started": "callable(*, order, cause): after a control order starts or changes measure",
    "order_ended": "callable(*, order, cause): after a control order is released or transferred",
    "person_facts_changed": "callable(*, person_ids): after a case, control order or key person report of "
    "these persons was created or changed status (the stored health-code facts follow)",
    "closed_compounds": "callable() -> GridNode queryset: compounds under closed management (epidemic points)",
    "compound_reopened": "callable(*, grid, cause): after a compound's closed management ended",
    "disinfection_done": "callable(*, grid, household, starts_at, ends_at, note, cause) -> int: a disinfection "
    "round was done at this compound (household None) or household between these times (a volunteer's 消杀 "
    "shift); the open disinfection tasks it answers are completed, their number returned",
    "outbox_handlers": "(topic, callable(payload, principal)): consumers of the transactional outbox",
    "reconcile_checks": "HandoffCheck: a hand-off `epigrid reconcile` can find unfinished and complete",
    "job_kinds": "JobKind: a kind of background job (core.jobs): its name, label, runner and report template",
    "ledger_exports": "list of people.ledgers.LedgerExport: .xlsx ledgers of a subtree (台账) that the one export job "
    "(people.ledgers `ledger_export`) writes: each one's name (the job's `kind` param), label and writer",
}


@cache
def get(point: str) -> tuple:
    """The contributions to `point`, in INSTALLED_APPS order."""
    if point not in POINTS:
        raise KeyError(f"unknown extension point {point!r}")
    found = []
    for config in apps.get_app_configs():
        for path in getattr(config, "extensions", {}).get(point, ()):
            found.append(import_string(path))
    return tuple(found)


def run(point: str, **kwargs) -> None:
    """Call every contribution to a cascade point with the same keyword arguments."""
    for handler in get(point):
        handler(**kwargs)


@dataclass(frozen=True)
class GapCheck:
    """A kind of coverage gap another app knows of: `queryset()` gives the grid-scoped rows at
    fault; the coverage audit restricts them to the reader and links each to `link(row)`, the
    page where it is fixed."""

    kind: str
    label: object
    queryset: Callable
    link: Callable


@dataclass(frozen=True)
class HandoffCheck:
    """A hand-off between apps that must follow a change: `find()` gives the grid-scoped rows
    whose follow-up is missing, `complete(obj, principal)` does it. `epigrid reconcile` runs
    these; the coverage audit shows what they find as gaps, linked to `link(row)`."""

    name: str
    label: object
    find: Callable
    complete: Callable
    link: Callable
