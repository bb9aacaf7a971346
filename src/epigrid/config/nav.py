"""The navigation each user sees, from what their roles let them do (issue 11 "Everyone").

A link is shown when the user holds one of its capabilities somewhere (`core.scoping.grant_paths`,
so a login without its second factor does not see the import); the order puts each role's daily
work first, and the first tabs become the phone's bottom bar. A guard sees the gate; a grid
member 今日工作, people, alerts; the community office and the command center their desks."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from epigrid.core.capabilities import Capability as C
from epigrid.core.scoping import grant_paths

TABS = 5  # a phone's bottom bar: up to 4 links and "more", or 5 links


@dataclass(frozen=True)
class NavLink:
    url_name: str
    label: object
    icon: str
    capabilities: frozenset  # any one of them, held anywhere, shows the link


_GRID_WORK = {C.RECORD_HEALTH, C.HANDLE_ALERTS, C.DO_TASKS}
NAV = [
    NavLink("health:today", _("Today"), "today", frozenset(_GRID_WORK)),
    NavLink("gates:list", _("Gates"), "gate", frozenset({C.GUARD_GATE, C.MANAGE_CHECKPOINTS, C.ISSUE_PASSES})),
    NavLink(
        "people:persons",
        _("People"),
        "people",
        frozenset({C.EDIT_PEOPLE, C.RECORD_HEALTH, C.INTAKE, C.MANAGE_ORDERS, C.CONFIRM_CASES, C.VIEW_AUDIT}),
    ),
    NavLink("alerts:list", _("Alerts"), "alert", frozenset({C.HANDLE_ALERTS})),
    # The grid tree: where a grid member finds the households of their grid, building by building.
    NavLink(
        "oversight:tree",
        _("Grids"),
        "grid",
        frozenset({C.EDIT_PEOPLE, C.MANAGE_ASSIGNMENTS, C.MANAGE_GRIDS, C.VIEW_AUDIT}),
    ),
    # 指挥部看板: grid heads and members see their grid's figures.
    NavLink("dashboard:home", _("Dashboard"), "coverage", frozenset({C.VIEW_DASHBOARD})),
    # 日报: who signs them, and the inspectors who check who did not.
    NavLink("reports:list", _("Daily reports"), "order", frozenset({C.SIGN_REPORTS, C.INSPECT})),
    # 核查名单: lists pushed from above, imported by the community, verified by grid members.
    NavLink("verification:list", _("Verification lists"), "key", frozenset({C.IMPORT_EXPORT})),
    NavLink("control:key_persons", _("Key persons"), "key", frozenset({C.INTAKE, C.MANAGE_ORDERS})),
    NavLink("control:orders", _("Orders"), "order", frozenset({C.MANAGE_ORDERS, C.APPROVE_RELEASE})),
    NavLink("health:test_lists", _("Tests"), "test", frozenset({C.MANAGE_TESTS, C.RECORD_HEALTH})),
    NavLink("response:list", _("Response"), "response", frozenset({C.MANAGE_PLANS, C.CONFIRM_CASES, C.VIEW_AUDIT})),
    # 党建引领: the six-level chain and the temporary branches (written under manage_teams).
    NavLink("mobilization:chain", _("Party chain"), "grid", frozenset({C.MANAGE_TEAMS, C.MANAGE_GRIDS, C.VIEW_AUDIT})),
    # 泉心愿: the wishes a grid member hands to volunteers; the community office verifies volunteers there.
    NavLink("mobilization:wishes", _("Wishes"), "people", frozenset({C.DO_TASKS, C.MANAGE_TEAMS})),
    NavLink("oversight:coverage", _("Coverage"), "coverage", frozenset({C.MANAGE_GRIDS, C.VIEW_AUDIT})),
    # 督查: the inspection team's rounds; an owner of a rectification finds it under Alerts' link too.
    NavLink("inspections:list", _("Inspections"), "coverage", frozenset({C.INSPECT})),
    NavLink("health:rules", _("Rules"), "rules", frozenset({C.APPROVE_RELEASE, C.MANAGE_PLANS})),
    NavLink("people:import", _("Import"), "import", frozenset({C.IMPORT_EXPORT})),
]


def nav_links(user, path: str = "") -> list[dict]:
    """The links `user` may use, in order; each with its URL and whether it is the current page
    (the longest link the path starts with)."""
    held = {}
    links = []
    for link in NAV:
        for capability in link.capabilities:
            if capability not in held:
                held[capability] = grant_paths(user, capability) != []
        if any(held[c] for c in link.capabilities):
            links.append({"url": reverse(link.url_name), "label": link.label, "icon": link.icon, "on": False})
    current = max((x for x in links if path.startswith(x["url"])), key=lambda x: len(x["url"]), default=None)
    if current is not None:
        current["on"] = True
    return links


def _split(links: list[dict]) -> dict:
    """The phone's bar: every link when they fit, else the first ones and "more" with the rest."""
    if len(links) <= TABS:
        return {"links": links, "tabs": links, "more": []}
    return {"links": links, "tabs": links[: TABS - 1], "more": links[TABS - 1 :]}


def navigation(request) -> dict:
    """Context processor: `nav` (links, tabs, more), computed only when a page renders it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {"links": [], "tabs": [], "more": []}}
    return {"nav": SimpleLazyObject(lambda: _split(nav_links(user, request.path)))}
