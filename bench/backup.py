"""Backup and restore time (issue 14, item 1): `epigrid backup` of the bench database (pg_dump -Fc in
an exported snapshot, row counts, tar, SHA-256) against a bare `pg_dump -Fc` of it, and `epigrid
restore` into a new database (checksums, pg_restore in one transaction, the audit chain walked, the
rows of every table counted) against a bare `pg_restore --single-transaction` into another. Both
restore databases are created here and dropped at the end.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from django.db import connections
from django.test import override_settings

from epigrid.core import backup

from .db import BenchDatabase
from .report import line, note, verdict

TARGET_BACKUP = 1.5  # ours within 1.5x of pg_dump: the tar copy, checksums and counts on top
TARGET_RESTORE = 2.0  # ours within 2x of pg_restore: the checksums, chain walk and counts on top


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _chain(result) -> str:
    return "OK" if result.ok else f"BROKEN(row {result.bad_id}: {result.reason})".replace(" ", "_")


def run(scale, raw: psycopg.Connection) -> None:
    started = time.perf_counter()
    default = connections["default"]
    env = backup._pg_env(default.settings_dict)
    server = os.environ["DATABASE_URL"]
    name = default.settings_dict["NAME"]
    targets = {side: BenchDatabase(server, f"{name}_restore_{side}") for side in ("raw", "ours")}
    work = Path(tempfile.mkdtemp(prefix="epigrid-bench-backup-"))
    alias = "bench_restore"
    opened = False
    try:
        uploads = {
            "PRIVATE_MEDIA_ROOT": work / "private",
            "STORAGES": {
                "default": {
                    "BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": work / "media"},
                },
                "private": {"BACKEND": "epigrid.core.uploads.PrivateStorage"},
            },
        }
        with override_settings(**uploads):
            persons = raw.execute("SELECT count(*) FROM people_person").fetchone()[0]
            events = raw.execute("SELECT count(*) FROM core_auditevent").fetchone()[0]
            note(f"backup: {persons} persons, {events} audit rows")
            raw_dump = work / "raw.pgdump"
            raw_backup, _ = _timed(
                lambda: subprocess.run(  # noqa: S603 - pg_dump, fixed arguments
                    [shutil.which("pg_dump"), "-Fc", "-f", str(raw_dump)], env=env, check=True
                )
            )
            ours_backup, result = _timed(lambda: backup.backup(work / "ours.tar"))
            ratio = ours_backup / raw_backup
            line(
                f"backup persons={persons} audit_rows={events} archive={result.path.stat().st_size / 2**20:.0f}MB "
                f"dump={raw_dump.stat().st_size / 2**20:.0f}MB ours={ours_backup:.2f}s raw={raw_backup:.2f}s "
                f"ratio={ratio:.2f}x {verdict(ratio <= TARGET_BACKUP)}"
            )

            for target in targets.values():
                target.create()
            raw_restore, _ = _timed(
                lambda: subprocess.run(  # noqa: S603 - pg_restore, fixed arguments
                    [
                        shutil.which("pg_restore"),
                        "--no-owner",
                        "--exit-on-error",
                        "--single-transaction",
                        "-d",
                        targets["raw"].name,
                        str(raw_dump),
                    ],
                    env=env,
                    check=True,
                )
            )
            connections[alias] = default.__class__({**default.settings_dict, "NAME": targets["ours"].name}, alias)
            opened = True
            uploads["PRIVATE_MEDIA_ROOT"] = work / "restored-private"
            uploads["STORAGES"]["default"]["OPTIONS"]["location"] = work / "restored-media"
            with override_settings(**uploads, AUDIT_ANCHOR_FILE=work / "anchors.jsonl"):
                ours_restore, report = _timed(lambda: backup.restore(result.path, using=alias))
            connections[alias].close()
            ratio = ours_restore / raw_restore
            proven = report.ok and report.chain.checked == result.manifest["audit_head"]["last_id"]
            line(
                f"restore persons={persons} audit_rows={report.chain.checked} ours={ours_restore:.2f}s "
                f"raw={raw_restore:.2f}s ratio={ratio:.2f}x chain={_chain(report.chain)} "
                f"counts={'OK' if not report.count_mismatches else 'MISMATCH'} "
                f"{verdict(proven and ratio <= TARGET_RESTORE)}"
            )
    finally:
        if opened:
            connections[alias].close()
            del connections[alias]
        for target in targets.values():
            target.drop()
        shutil.rmtree(work, ignore_errors=True)
    note(f"backup: module done in {time.perf_counter() - started:.1f}s")
