"""The command dashboard (issue 13 §1): the subdistrict's and a community's page as the commander
gets it (`dashboard.views.node_page`: tiles, children table, chart series, open points), against
reading the same rollup rows by hand (`SELECT … FROM oversight_nodefigure / oversight_nodeday`).
Target: the subdistrict under 50 ms p50.

Also the rollup's refresh (what the sweep runs every two minutes), once, with what the dashboard
would cost without it: one GROUP BY of the persons under the subdistrict (one figure of ~25).
"""

import time

from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from django.test import RequestFactory

from epigrid.accounts.models import User
from epigrid.accounts.permissions import console_verified
from epigrid.dashboard import views
from epigrid.grids.models import GridNode
from epigrid.oversight import rollup

from .city import ROOT_CODE, community_code
from .report import line, ms, note, paired, verdict

P50_TARGET = 0.050  # the subdistrict's page
# Counts from the rollup (issue 15 §3): a node's figures and its children's, read by hand.
COUNT_TARGETS = {"community": 0.005, "subdistrict": 0.050}
REFRESH_TARGET = 60.0  # well inside the sweep's two minutes

RAW_FIGURES = """
SELECT f.node_id, f.figure, f.value FROM oversight_nodefigure f
 WHERE f.node_id IN (SELECT id FROM grids_gridnode WHERE path = %(p)s
                     OR (path LIKE %(p)s || '%%' AND depth = %(d)s + 1))
"""
RAW_DAYS = """
SELECT figure, day, value FROM oversight_nodeday
 WHERE node_id = %(n)s AND day >= current_date - 89 ORDER BY day
"""
GROUP_BY = """
SELECT g.path, count(*) FROM people_person p JOIN grids_gridnode g ON g.id = p.grid_id
 WHERE p.archived_at IS NULL AND g.path LIKE %(p)s || '%%' GROUP BY g.path
"""


def _page(user, node):
    factory = RequestFactory()

    def ours():
        request = factory.get(f"/dashboard/{node.code}/")
        request.user = user
        request.session = SessionStore()
        request._messages = FallbackStorage(request)
        response = views.node_page(request, node.code)
        assert response.status_code == 200, response.status_code
        return len(response.content)

    return ours


def _raw(node):
    cursor = connection.cursor()

    def raw():
        cursor.execute(RAW_FIGURES, {"p": node.path, "d": node.depth})
        figures = cursor.fetchall()
        cursor.execute(RAW_DAYS, {"n": node.pk})
        return len(figures) + len(cursor.fetchall())

    return raw


def run(scale, raw_conn) -> None:
    start = time.perf_counter()
    with transaction.atomic():
        written = rollup.refresh(days=None)
    refresh_s = time.perf_counter() - start
    root = GridNode.objects.get(code=ROOT_CODE)
    cursor = connection.cursor()
    start = time.perf_counter()
    cursor.execute(GROUP_BY, {"p": root.path})
    cursor.fetchall()
    group_s = time.perf_counter() - start
    line(
        f"dashboard.refresh rows={written} seconds={refresh_s:.2f}s one_groupby_of_persons={group_s * 1000:.0f}ms "
        f"target<{REFRESH_TARGET:g}s {verdict(refresh_s < REFRESH_TARGET)}"
    )
    user = console_verified(User.objects.get(username=f"cmd-{ROOT_CODE}"))
    runs = max(10, scale.count_runs)
    for label, node in (("subdistrict", root), ("community", GridNode.objects.get(code=community_code(1)))):
        note(f"dashboard: {label} page, ours and raw in turns ({runs} runs)")
        a, b = paired(_page(user, node), _raw(node), runs=runs, warmup=3)
        ok = a.p50 < P50_TARGET if label == "subdistrict" else True
        children = list(
            GridNode.objects.filter(path__startswith=node.path, depth=node.depth + 1).values_list("pk", flat=True)
        )
        counts, _raw_counts = paired(
            lambda node=node, children=children: rollup.figures_for([node.pk, *children]),
            lambda node=node: _raw(node)(),
            runs=runs,
            warmup=3,
        )
        target = COUNT_TARGETS[label]
        line(
            f"rollup_counts.{label} nodes={1 + len(children)} runs={runs} ours_p50={ms(counts.p50)} "
            f"ours_p99={ms(counts.p99)} raw_p50={ms(_raw_counts.p50)} ratio={counts.p50 / _raw_counts.p50:.2f}x "
            f"target<{target * 1000:g}ms {verdict(counts.p50 < target)}"
        )
        line(
            f"dashboard.{label} runs={runs} ours_p50={ms(a.p50)} ours_p99={ms(a.p99)} raw_p50={ms(b.p50)} "
            f"ratio={a.p50 / b.p50:.1f}x target_p50<{P50_TARGET * 1000:g}ms {verdict(ok)}"
        )
