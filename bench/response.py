"""An incident at scale (issue: emergency plan, close contacts, epidemic points): 5,000 cases and
20,000 close contacts in one activation (small mode: 200 and 800). Prints p50/p99 of the
transmission-chain page and of the incident page's data, each against hand-written SQL fetching
the same rows."""

import psycopg
from django.utils import timezone

from epigrid.accounts.models import User
from epigrid.response import selectors, services
from epigrid.response.models import Activation

from .report import line, ms, note, paired, verdict

SIZES = {"small": (200, 800), "full": (5_000, 20_000)}
RUNS = {"small": 20, "full": 50}
TARGET = 2.0  # ours within 2x of the hand-written SQL
CHAIN_TARGET = 1.5  # issue 15 §3: the chain page within 1.5x

CHAIN_SQL = """
WITH cases AS (SELECT hc.person_id FROM health_case hc
                 JOIN response_activation_cases ac ON ac.case_id = hc.id WHERE ac.activation_id = %(a)s)
SELECT e.id, e.source_id, e.contact_id, e.degree, e.last_exposure_at, s.name, c.name
  FROM response_exposure e JOIN people_person s ON s.id = e.source_id JOIN people_person c ON c.id = e.contact_id
 WHERE e.source_id IN (SELECT person_id FROM cases)
    OR e.source_id IN (SELECT contact_id FROM response_exposure WHERE source_id IN (SELECT person_id FROM cases))
 ORDER BY e.id LIMIT 2001
"""
# The rows the incident page lists, fetched as the page does (tasks with their step, grid and
# people; the first 200 cases with their persons; the points with their grids), then the counts.
INCIDENT_ROWS_SQL = [
    """SELECT t.*, s.*, g.*, o.*, d.* FROM response_task t JOIN response_planstep s ON s.id = t.step_id
         JOIN grids_gridnode g ON g.id = t.grid_id LEFT JOIN accounts_user o ON o.id = t.owner_id
         LEFT JOIN accounts_user d ON d.id = t.done_by_id WHERE t.activation_id = %(a)s ORDER BY s.position""",
    """SELECT c.*, p.* FROM health_case c JOIN response_activation_cases ac ON ac.case_id = c.id
         JOIN people_person p ON p.id = c.person_id WHERE ac.activation_id = %(a)s
         ORDER BY c.confirmed_at, c.id LIMIT 200""",
    "SELECT count(*) FROM response_activation_cases WHERE activation_id = %(a)s",
    """SELECT e.*, g.* FROM response_epidemicpoint e JOIN grids_gridnode g ON g.id = e.grid_id
         WHERE e.activation_id = %(a)s""",
]
INCIDENT_SQL = """
WITH cases AS (SELECT hc.person_id FROM health_case hc
                 JOIN response_activation_cases ac ON ac.case_id = hc.id WHERE ac.activation_id = %(a)s)
SELECT (SELECT count(*) FROM response_task WHERE activation_id = %(a)s),
       (SELECT count(DISTINCT contact_id) FROM response_exposure
         WHERE degree = 'close' AND source_id IN (SELECT person_id FROM cases)),
       (SELECT count(DISTINCT contact_id) FROM response_exposure WHERE source_id IN
          (SELECT contact_id FROM response_exposure WHERE source_id IN (SELECT person_id FROM cases))),
       (SELECT count(*) FROM control_controlorder WHERE status IN ('active', 'release_proposed')
           AND person_id IN (SELECT contact_id FROM response_exposure WHERE source_id IN (SELECT person_id FROM cases)))
"""


def _build(raw: psycopg.Connection, cases: int, contacts: int) -> int:
    creator = User.objects.order_by("id").values_list("id", flat=True).first()
    plan = services.plan_current()
    first = raw.execute("SELECT min(id) FROM people_person WHERE archived_at IS NULL").fetchone()[0]
    last_case = first + cases - 1
    params = {
        "first": first,
        "last_case": last_case,
        "last": first + cases + contacts - 1,
        "cases": cases,
        "creator": creator,
        "now": timezone.now(),
        "plan": plan.pk,
    }
    raw.execute(
        """INSERT INTO health_sample (specimen_number, person_id, grid_id, sampled_at, sampled_by_id, result,
                                              result_at, lab)
                   SELECT 'BENCH-' || id, id, grid_id, %(now)s, %(creator)s, 'positive', %(now)s, ''
                     FROM people_person WHERE id BETWEEN %(first)s AND %(last_case)s""",
        params,
    )
    raw.execute(
        """INSERT INTO health_case (person_id, grid_id, status, positive_sample_id, suspected_at, confirmed_at)
                   SELECT s.person_id, s.grid_id, 'confirmed', s.id, %(now)s, %(now)s FROM health_sample s
                    WHERE s.specimen_number LIKE 'BENCH-%%'""",
        params,
    )
    grid = raw.execute("SELECT id FROM grids_gridnode WHERE depth = 3 ORDER BY path LIMIT 1").fetchone()[0]
    activation = raw.execute(
        """INSERT INTO response_activation (grid_id, plan_id, activated_at, status)
                                VALUES (%s, %s, %s, 'active') RETURNING id""",
        [grid, plan.pk, params["now"]],
    ).fetchone()[0]
    params["a"] = activation
    raw.execute(
        """INSERT INTO response_activation_cases (activation_id, case_id)
                   SELECT %(a)s, id FROM health_case""",
        params,
    )
    raw.execute(
        """INSERT INTO response_task (activation_id, step_id, grid_id, title, due_at, status, evidence_note,
                                              evidence_photo)
                   SELECT %(a)s, id, (SELECT grid_id FROM response_activation WHERE id = %(a)s), title, %(now)s,
                          'open', '', '' FROM response_planstep WHERE plan_id = %(plan)s""",
        params,
    )
    # Each contact exposed to one case (contact k → case k mod cases), in the contact's grid.
    raw.execute(
        """INSERT INTO response_exposure (source_id, contact_id, grid_id, degree, last_exposure_at, place,
                                                  setting, recorded_by_id, recorded_at)
                   SELECT %(first)s + ((p.id - %(first)s - %(cases)s) %% %(cases)s), p.id, p.grid_id, 'close',
                          %(now)s, '', 'household', %(creator)s, %(now)s
                     FROM people_person p WHERE p.id BETWEEN %(last_case)s + 1 AND %(last)s""",
        params,
    )
    raw.execute("ANALYZE response_exposure")
    raw.execute("ANALYZE health_case")
    return activation


def run(scale, raw: psycopg.Connection) -> None:
    cases, contacts = SIZES[scale.name]
    note(f"response: an incident with {cases} cases and {contacts} close contacts")
    activation = Activation.objects.get(pk=_build(raw, cases, contacts))
    cursor = raw.cursor()
    runs = RUNS[scale.name]

    def ours_chain():
        return len(selectors.chain(activation=activation)["edges"])

    def raw_chain():
        cursor.execute(CHAIN_SQL, {"a": activation.pk})
        return min(len(cursor.fetchall()), 2000)

    got, want = ours_chain(), raw_chain()
    a, b = paired(ours_chain, raw_chain, runs=runs, warmup=3)
    ratio = a.p50 / b.p50
    line(
        f"response.chain cases={cases} contacts={contacts} page_edges={got} runs={runs} ours_p50={ms(a.p50)} "
        f"ours_p99={ms(a.p99)} raw_p50={ms(b.p50)} raw_p99={ms(b.p99)} ratio={ratio:.2f}x target<={CHAIN_TARGET:g}x"
        f"{'' if got == want else f' MISMATCH raw={want}'} {verdict(ratio <= CHAIN_TARGET and got == want)}"
    )

    def ours_incident():
        data = selectors.incident(activation=activation)
        return (
            len(data["tasks"]),
            data["close_contacts"],
            data["secondary_contacts"],
            sum(data["contact_orders"].values()),
        )

    def raw_incident():
        tasks = 0
        for i, sql in enumerate(INCIDENT_ROWS_SQL):
            cursor.execute(sql, {"a": activation.pk})
            rows = cursor.fetchall()
            tasks = len(rows) if i == 0 else tasks
        cursor.execute(INCIDENT_SQL, {"a": activation.pk})
        return (tasks, *cursor.fetchone()[1:])

    got, want = ours_incident(), raw_incident()
    a, b = paired(ours_incident, raw_incident, runs=runs, warmup=3)
    ratio = a.p50 / b.p50
    ok = ratio <= TARGET and got == want
    line(
        f"response.incident cases={cases} contacts={contacts} tasks={got[0]} close={got[1]} runs={runs} "
        f"ours_p50={ms(a.p50)} ours_p99={ms(a.p99)} raw_p50={ms(b.p50)} raw_p99={ms(b.p99)} ratio={ratio:.2f}x "
        f"target<={TARGET:g}x{'' if got == want else f' MISMATCH raw={want}'} {verdict(ok)}"
    )
