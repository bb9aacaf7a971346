"""Verification lists (issue 13 §5): a list of 10,000 rows pushed to the subdistrict, 2,000 of them
residents of the city, imported with `oversight.verification.list_import` (read and check every
row, hash, match, bulk-insert the rows as tasks), against the raw database doing the matching
and the insert (`SELECT … WHERE id_number_hash = ANY(…)` and `COPY` of the rows). Target: under
5 s at 1 M persons, 2,000 tasks created.

The synthetic city's hashes are stand-ins: the 2,000 chosen residents get real keyed hashes of
valid ID numbers first (not timed).
"""

import io
import time

import xlsxwriter
from django.db import connection

from epigrid.accounts.models import User
from epigrid.accounts.permissions import console_verified
from epigrid.core.crypto import lookup_hash
from epigrid.grids.models import GridNode
from epigrid.oversight import verification
from epigrid.oversight.models import VerificationEntry

from .city import ROOT_CODE
from .ledger import id_number
from .report import line, note, verdict

ROWS, MATCHES = 10_000, 2_000
TARGET_SECONDS = 5.0


def _workbook(numbers: list[str]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet()
    for col, header in enumerate(("姓名", "身份证号", "备注")):
        sheet.write_string(0, col, header)
    for row, number in enumerate(numbers, start=1):
        sheet.write_string(row, 0, f"核查{row}")
        sheet.write_string(row, 1, number)
        sheet.write_string(row, 2, "大数据推送")
    book.close()
    return out.getvalue()


def run(scale, raw_conn) -> None:
    persons = raw_conn.execute("SELECT count(*) FROM people_person WHERE archived_at IS NULL").fetchone()[0]
    matches = min(MATCHES, persons // 5)
    rows = matches * ROWS // MATCHES
    step = max(1, persons // matches)
    chosen = [
        pk
        for (pk,) in raw_conn.execute(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM people_person "
            "WHERE archived_at IS NULL) s WHERE mod(n, %s) = 0 LIMIT %s",
            [step, matches],
        )
    ]
    note(f"verification: giving {len(chosen)} residents real keyed hashes (not timed)")
    with raw_conn.transaction(), raw_conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_hash (id bigint, h text) ON COMMIT DROP")
        with cur.copy("COPY bench_hash (id, h) FROM STDIN") as copy:
            for pk in chosen:
                copy.write_row((pk, lookup_hash("id", id_number(pk))))
        cur.execute("UPDATE people_person p SET id_number_hash = b.h FROM bench_hash b WHERE p.id = b.id")
    numbers = [id_number(pk) for pk in chosen] + [id_number(150_000_000 + k) for k in range(rows - len(chosen))]
    data = _workbook(numbers)
    root = GridNode.objects.get(code=ROOT_CODE)
    principal = console_verified(User.objects.get(username=f"cmd-{ROOT_CODE}"))

    start = time.perf_counter()
    checked = verification.list_import(
        node=root,
        name="基准核查名单",
        source="bench",
        data=data,
        file_name="list.xlsx",
        due_hours=24,
        principal=principal,
    )
    ours = time.perf_counter() - start
    tasks = VerificationEntry.objects.filter(verification_list=checked, owner__isnull=False).count()

    hashes = [lookup_hash("id", n) for n in numbers]
    connection.ensure_connection()
    start = time.perf_counter()
    with connection.connection.transaction(), connection.connection.cursor() as cur:
        cur.execute(
            "SELECT id_number_hash, id, grid_id FROM people_person WHERE archived_at IS NULL "
            "AND id_number_hash = ANY(%s)",
            [hashes],
        )
        found = len(cur.fetchall())
        cur.execute("CREATE TEMP TABLE bench_entries (row int, h text, name text) ON COMMIT DROP")
        with cur.copy("COPY bench_entries (row, h, name) FROM STDIN") as copy:
            for i, h in enumerate(hashes, start=2):
                copy.write_row((i, h, f"核查{i}"))
    raw = time.perf_counter() - start
    ok = ours < TARGET_SECONDS and checked.matched == len(chosen) == found
    line(
        f"verification.import rows={checked.rows} matched={checked.matched} tasks={tasks} persons={persons} "
        f"ours={ours:.2f}s raw={raw:.2f}s ratio={ours / raw:.1f}x target<{TARGET_SECONDS:g}s {verdict(ok)}"
    )
