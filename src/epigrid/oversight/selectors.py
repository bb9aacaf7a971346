"""Reads across the grid tree, people and staff: subtree counts and the coverage audit (零疏漏)."""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, Min, OuterRef, Q, Value
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import RESPONSIBLE_ROLE, Role
from epigrid.accounts.models import GridAssignment
from epigrid.core import extensions, outbox
from epigrid.core.compiled import CompiledRead
from epigrid.core.scoping import minimal_paths, subtree_q
from epigrid.grids.choices import LEAF_LEVELS, GridLevel
from epigrid.grids.models import GridNode, Place, lineage_paths
from epigrid.people.models import Household, Person


@dataclass
class SubtreeCounts:
    places: int = 0
    households: int = 0
    persons: int = 0
    staff: int = 0


def subtree_counts(*, nodes) -> dict[int, SubtreeCounts]:
    """Counts of everything under each node: one statement of grouped counts per kind over the
    union of the subtrees (compiled once per number of subtrees), rolled up to ancestors in
    Python (O(grid nodes × depth), not per person)."""
    nodes = list(nodes)
    result = {node.pk: SubtreeCounts() for node in nodes}
    if not nodes:
        return result
    wanted = {node.path: node.pk for node in nodes}
    staff: dict[int, set[int]] = {pk: set() for pk in result}
    for kind, path, n in _SUBTREE_COUNTS(roots=minimal_paths(wanted)):
        attr = _KINDS[kind]
        for ancestor in lineage_paths(path):
            pk = wanted.get(ancestor)
            if pk is None:
                continue
            if kind == _STAFF:
                staff[pk].add(n)  # a user id: one who holds roles at two grids is one person
            else:
                counts = result[pk]
                setattr(counts, attr, getattr(counts, attr) + n)
    for pk, users in staff.items():
        result[pk].staff = len(users)
    # A thematic grid counts the places filed under it (they also count in their geographic grid).
    thematic = {node.path: node.pk for node in nodes if node.level == GridLevel.THEMATIC}
    if thematic:
        rows = (
            Place.objects.filter(archived_at__isnull=True, thematic_grid__path__in=list(thematic))
            .values("thematic_grid__path")
            .annotate(n=Count("*"))
            .values_list("thematic_grid__path", "n")
        )
        for path, n in rows:
            result[thematic[path]].places += n
    return result


_KINDS = ("places", "households", "persons", "staff")
_STAFF = _KINDS.index("staff")


def _subtree_counts(*, roots: list[str]):
    """(kind, grid path, count) for each kind of _KINDS, as one UNION ALL; for staff (kind, node
    path, user id), one row a user and node (distinct users do not add up over a subtree: they
    are counted per asked node by the caller; a city has thousands of staff, not millions)."""

    def grouped(queryset, kind: int, path: str, count, also: str | None = None):
        within = Q()
        for root in roots:
            within |= subtree_q(path, root)
        return (
            queryset.filter(within)
            .order_by()
            .values(path, *([also] if also else []))
            .annotate(kind=Value(kind), n=count)
            .values_list("kind", path, "n")
        )

    places, households, persons, staff = (
        grouped(Place.objects.filter(archived_at__isnull=True), 0, "grid__path", Count("*")),
        grouped(Household.objects.filter(archived_at__isnull=True), 1, "grid__path", Count("*")),
        grouped(Person.objects.filter(archived_at__isnull=True), 2, "grid__path", Count("*")),
        grouped(GridAssignment.objects.active(), _STAFF, "node__path", Min("user_id"), also="user_id"),
    )
    return places.union(households, persons, staff, all=True)


_SUBTREE_COUNTS = CompiledRead(Place, _subtree_counts)


@dataclass
class Finding:
    severity: str  # "error" (a gap, 空挡) or "info" (an overlap, 交叉)
    kind: str
    label: str
    grid_code: str
    object_type: str
    object_id: int
    fix_url: str


@dataclass
class CoverageReport:
    gaps: list[Finding] = field(default_factory=list)
    overlaps: list[Finding] = field(default_factory=list)
    gap_counts: dict[str, int] = field(default_factory=dict)
    overlap_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.gap_counts


GAP_KINDS = {
    "place_not_in_leaf_grid": _("Place in no compound or building grid"),
    "household_not_in_leaf_grid": _("Household in no compound or building grid"),
    "person_not_in_leaf_grid": _("Person in no compound or building grid"),
    "grid_without_member": _("Compound grid with no grid member"),
    "building_without_head": _("Building with no building head"),
    "node_without_responsible": _("Grid node with no responsible person"),
    "handoff_outbox": _("Hand-off queued but not carried out"),
}
OVERLAP_KINDS = {
    "place_in_thematic_grid": _("Place also in a thematic grid"),
    "staff_in_several_grids": _("Staff member serving several grids"),
}


def gap_kinds() -> dict:
    """Every kind of gap, with those other apps contribute ("gap_checks", "reconcile_checks")."""
    return (
        GAP_KINDS
        | {check.kind: check.label for check in extensions.get("gap_checks")}
        | {f"handoff_{check.name}": check.label for check in extensions.get("reconcile_checks")}
    )


def coverage_audit(
    *, user, root: GridNode | None = None, limit: int = 200, gaps_by_path: dict[str, int] | None = None
) -> CoverageReport:
    """Every gap is an error, every overlap is information ("宁可交叉,不留空挡"). With
    `gaps_by_path`, the gaps are also counted by the grid path where each lies (one grouped query
    per kind: the dashboard's rollup counts them so, without building a finding per gap)."""
    report = CoverageReport()
    nodes = GridNode.objects.restrict(user)
    places = Place.objects.restrict(user).filter(archived_at__isnull=True)
    households = Household.objects.restrict(user).filter(archived_at__isnull=True)
    persons = Person.objects.restrict(user).filter(archived_at__isnull=True)
    assignments = GridAssignment.objects.restrict(user).active()
    if root is not None:
        nodes, places = nodes.in_subtree(root.path), places.filter(subtree_q("grid__path", root.path))
        households, persons = households.in_subtree(root.path), persons.in_subtree(root.path)
        assignments = assignments.in_subtree(root.path)

    def add(target: list, counts: dict, severity: str, kind: str, queryset, make) -> None:
        total = queryset.count()
        if not total:
            return
        counts[kind] = total
        if gaps_by_path is not None and severity == "error":
            fields = {f.name for f in queryset.model._meta.get_fields()}
            path = "path" if queryset.model is GridNode else "grid__path" if "grid" in fields else "grid_path"
            for where, n in queryset.order_by().values(path).annotate(n=Count("*")).values_list(path, "n"):
                gaps_by_path[where or ""] = gaps_by_path.get(where or "", 0) + n
        for obj in queryset[:limit]:
            target.append(Finding(severity, kind, *make(obj)))

    def node_finding(node):
        return str(node), node.code, "grid", node.pk, reverse("oversight:node", args=[node.code])

    def member_finding(obj, object_type, url_name):
        return str(obj), obj.grid.code, object_type, obj.pk, reverse(url_name, args=[obj.pk])

    def holds(role):
        return Exists(GridAssignment.objects.active().filter(node=OuterRef("pk"), role=role))

    leaf = list(LEAF_LEVELS)
    add(
        report.gaps,
        report.gap_counts,
        "error",
        "place_not_in_leaf_grid",
        places.exclude(grid__level__in=leaf).select_related("grid").order_by("pk"),
        lambda o: member_finding(o, "place", "grids:place"),
    )
    add(
        report.gaps,
        report.gap_counts,
        "error",
        "household_not_in_leaf_grid",
        households.exclude(grid__level__in=leaf).select_related("grid").order_by("pk"),
        lambda o: member_finding(o, "household", "people:household"),
    )
    add(
        report.gaps,
        report.gap_counts,
        "error",
        "person_not_in_leaf_grid",
        persons.exclude(grid__level__in=leaf).select_related("grid").order_by("pk"),
        lambda o: member_finding(o, "person", "people:person"),
    )
    add(
        report.gaps,
        report.gap_counts,
        "error",
        "grid_without_member",
        nodes.filter(level=GridLevel.GRID).filter(~holds(Role.GRID_MEMBER)),
        node_finding,
    )
    add(
        report.gaps,
        report.gap_counts,
        "error",
        "building_without_head",
        nodes.filter(level=GridLevel.BUILDING).filter(~holds(Role.BUILDING_HEAD)),
        node_finding,
    )
    no_responsible = Q()
    for level, role in RESPONSIBLE_ROLE.items():
        if level != GridLevel.BUILDING:  # reported above as building_without_head
            no_responsible |= Q(level=level) & ~holds(role)
    add(report.gaps, report.gap_counts, "error", "node_without_responsible", nodes.filter(no_responsible), node_finding)
    # Gaps other apps know of ("gap_checks": a controlled household without its team, an uncovered
    # duty hour) and hand-offs that did not finish ("reconcile_checks", see oversight.reconcile:
    # each is a gap until `epigrid reconcile` completes it).
    contributed = [(c.kind, c.queryset, c.link) for c in extensions.get("gap_checks")] + [
        (f"handoff_{c.name}", c.find, c.link) for c in extensions.get("reconcile_checks")
    ]
    for kind, rows, link in contributed:
        found = rows().restrict(user)
        if root is not None:
            found = found.in_subtree(root.path)
        add(
            report.gaps,
            report.gap_counts,
            "error",
            kind,
            (found if found.model is GridNode else found.select_related("grid")).order_by("pk"),
            lambda o, link=link: (str(o), getattr(o, "grid", o).code, o._meta.model_name, o.pk, link(o)),
        )
    late = outbox.pending(late_only=True).restrict(user)
    if root is not None:
        late = late.in_subtree(root.path)
    add(
        report.gaps,
        report.gap_counts,
        "error",
        "handoff_outbox",
        late,
        lambda m: (
            f"{m.topic} · {m.last_error[:80] or m.created_at.isoformat(timespec='minutes')}",
            "",
            "handoff",
            m.pk,
            "",
        ),
    )

    add(
        report.overlaps,
        report.overlap_counts,
        "info",
        "place_in_thematic_grid",
        places.filter(thematic_grid__isnull=False).select_related("grid").order_by("pk"),
        lambda o: member_finding(o, "place", "grids:place"),
    )
    several = assignments.values("user").annotate(n=Count("node", distinct=True)).filter(n__gt=1).values("user")
    add(
        report.overlaps,
        report.overlap_counts,
        "info",
        "staff_in_several_grids",
        assignments.filter(user__in=several).select_related("user", "node").order_by("user_id", "node__path"),
        lambda a: (
            f"{a.user} · {a.get_role_display()}",
            a.node.code,
            "assignment",
            a.pk,
            reverse("oversight:node", args=[a.node.code]),
        ),
    )
    return report
