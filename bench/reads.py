"""Scoped reads against hand-written SQL: the first page of the person list, and subtree counts.

Both sides do the whole job of one request on the same connection: resolve the user's scope
(one query on their assignments), then fetch. The raw side sends the SQL through the bare
psycopg cursor and keeps the rows as tuples; ours reads the page as the API's list does
(`people.selectors.person_page`: the columns a list shows, its SQL compiled by the ORM once per
shape, core.compiled).
"""

from django.db import connection

from epigrid.accounts.models import GridAssignment, User
from epigrid.core.scoping import minimal_paths
from epigrid.grids.models import GridNode, Place
from epigrid.oversight.selectors import subtree_counts
from epigrid.people.selectors import person_page

from .city import ROOT_CODE, community_code, grid_code
from .report import line, ms, note, paired, verdict

PAGE = 50
LIST_RATIO, LIST_P50 = 1.5, 0.020  # issue 15 §3: within 1.5× of raw SQL, p50 under 20 ms
COUNT_RATIO = 2.0

SCOPE_SQL = """
SELECT n.path FROM accounts_gridassignment a JOIN grids_gridnode n ON n.id = a.node_id
WHERE a.user_id = %s AND a.ended_at IS NULL
"""


# The columns a person list shows (people.selectors.person_rows), read the same way by both sides.
LIST_SQL = f"""
SELECT p.id, p.name, p.sex, p.birth_year, p.id_number_masked, p.phone_masked, p.relationship, p.note,
       p.archived_at, p.household_id, g.code, g.name, h.address
FROM people_person p
JOIN grids_gridnode g ON g.id = p.grid_id
LEFT JOIN people_household h ON h.id = p.household_id
WHERE p.archived_at IS NULL AND ({{ranges}})
ORDER BY {{order}}
LIMIT {PAGE}
"""

COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM people_person x JOIN grids_gridnode g ON g.id = x.grid_id
    WHERE x.archived_at IS NULL AND g.path >= %(p)s AND g.path < %(p)s || chr(65535)),
  (SELECT count(*) FROM people_household x JOIN grids_gridnode g ON g.id = x.grid_id
    WHERE x.archived_at IS NULL AND g.path >= %(p)s AND g.path < %(p)s || chr(65535)),
  (SELECT count(*) FROM grids_place x JOIN grids_gridnode g ON g.id = x.grid_id
    WHERE x.archived_at IS NULL AND g.path >= %(p)s AND g.path < %(p)s || chr(65535)),
  (SELECT count(DISTINCT x.user_id) FROM accounts_gridassignment x JOIN grids_gridnode g ON g.id = x.node_id
    WHERE x.ended_at IS NULL AND g.path >= %(p)s AND g.path < %(p)s || chr(65535))
"""


def _raw_cursor():
    connection.ensure_connection()
    return connection.connection.cursor()


def _fresh_scope(user: User) -> None:
    # Each request loads its user anew: the scope lookup is part of the work on both sides.
    user._epigrid_role_paths = None


def bench_list(label: str, user: User, runs: int) -> None:
    cursor = _raw_cursor()
    order = "g.path, p.id"  # person_list's order: the subtree's grids in path order, then id

    def ours():
        _fresh_scope(user)
        return person_page(user=user, start=0, stop=PAGE)

    def raw():
        cursor.execute(SCOPE_SQL, [user.pk])
        paths = minimal_paths(row[0] for row in cursor.fetchall())
        if not paths:
            return []
        ranges = " OR ".join("(g.path >= %s AND g.path < %s || chr(65535))" for _ in paths)
        cursor.execute(LIST_SQL.format(ranges=ranges, order=order), [p for path in paths for p in (path, path)])
        return cursor.fetchall()

    same = [p.pk for p in ours()] == [r[0] for r in raw()]
    a, b = paired(ours, raw, runs=runs, warmup=max(10, runs // 10))
    ratio = a.p50 / b.p50
    ok = same and ratio <= LIST_RATIO and a.p50 < LIST_P50
    line(
        f"person_list.{label} rows={PAGE} runs={runs} ours_p50={ms(a.p50)} ours_p99={ms(a.p99)} "
        f"raw_p50={ms(b.p50)} raw_p99={ms(b.p99)} ratio={ratio:.2f}x "
        f"target<={LIST_RATIO:g}x,p50<{LIST_P50 * 1000:g}ms{'' if same else ' MISMATCH'} {verdict(ok)}"
    )


def bench_counts(label: str, node: GridNode, runs: int) -> None:
    cursor = _raw_cursor()

    def ours():
        counts = subtree_counts(nodes=[node])[node.pk]
        return counts.persons, counts.households, counts.places, counts.staff

    def raw():
        cursor.execute(COUNTS_SQL, {"p": node.path})
        return cursor.fetchone()

    got, want = ours(), tuple(raw())
    a, b = paired(ours, raw, runs=runs, warmup=max(3, runs // 10))
    ratio = a.p50 / b.p50
    ok = got == want and ratio <= COUNT_RATIO
    line(
        f"subtree_counts.{label} persons={got[0]} households={got[1]} places={got[2]} staff={got[3]} runs={runs} "
        f"ours_p50={ms(a.p50)} ours_p99={ms(a.p99)} raw_p50={ms(b.p50)} raw_p99={ms(b.p99)} ratio={ratio:.2f}x "
        f"target<={COUNT_RATIO:g}x{'' if got == want else f' MISMATCH raw={want}'} {verdict(ok)}"
    )


def run(scale, raw_conn) -> None:
    """raw_conn: an autocommit psycopg connection."""
    # The last community's rows carry the highest ids: the worst case for a plan that walks
    # persons in id order and filters by grid.
    last = scale.communities
    users = [
        ("grid_member", User.objects.get(username=f"gm-{grid_code(last, scale.grids_per_community)}")),
        ("community_staff", User.objects.get(username=f"cs-{community_code(last)}")),
        ("commander", User.objects.get(username=f"cmd-{ROOT_CODE}")),
    ]
    assert all(GridAssignment.objects.filter(user=user).exists() for _, user in users)
    community = GridNode.objects.get(code=community_code(last))
    root = GridNode.objects.get(code=ROOT_CODE)
    assert Place.objects.exists()

    for label, user in users:
        note(f"person_list: {label} ({user.username})")
        bench_list(label, user, scale.list_runs)
    note("subtree_counts: one community")
    bench_counts("community", community, scale.count_runs)
    note("subtree_counts: the whole subdistrict")
    bench_counts("subdistrict", root, scale.count_runs_root)
