"""Backup and restore (`epigrid backup`, `epigrid restore`): the database, the uploaded files and a
manifest in one .tar, restored only onto a schema that knows it, and proven afterwards.

The database goes by the database's own tools, never by dumpdata/loaddata (JSON loses the
microseconds of every datetime, and the audit chain hashes them, so a loaded copy no longer
verifies): PostgreSQL by `pg_dump -Fc` inside an exported snapshot (the row counts of the
manifest are read in the same snapshot), SQLite by its online backup API (a consistent page copy
while the application keeps writing).

The archive holds `manifest.json` (last), the database (`database.pgdump` or `database.sqlite3`)
and the uploads under `files/private/` (PRIVATE_MEDIA_ROOT: evidence and service photos) and
`files/media/` (the default storage). The manifest says which epigrid made it, the migrations
applied per app, the audit chain's head, the rows of every table and the SHA-256 of every file.

`restore` refuses a backup with a migration this code does not know (a newer epigrid made it), a
non-empty target unless `force`, and any file whose checksum differs, before it touches anything;
then it loads the database and the files, walks the audit chain (`audit.verify`) and compares
every table's rows with the manifest. Both are audited: the backup in the database it copied, the
restore in the database it restored (the chain goes on from the restored head).
"""

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.storage import storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from . import audit
from .models import AuditChainHead
from .scoping import SystemPrincipal

FORMAT = 1
MANIFEST = "manifest.json"
DUMP_NAMES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
BACKUP = SystemPrincipal("system:backup", ())
RESTORE = SystemPrincipal("system:restore", ())
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


def version() -> str:
    try:
        return metadata.version("epigrid")
    except metadata.PackageNotFoundError:
        return "unknown"


def upload_roots() -> dict[str, Path]:
    """Where uploaded files live, by their folder in the archive."""
    return {
        "private": Path(settings.PRIVATE_MEDIA_ROOT),
        "media": Path(storages["default"].location),
    }


# ---------------------------------------------------------------- reading a database


_PG_TABLES = """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname"""


def _tables(connection, cursor=None) -> list[str]:
    """The database's tables (on PostgreSQL those of its schema: not a session's temporary ones)."""
    if cursor is not None and connection.vendor == "postgresql":
        cursor.execute(_PG_TABLES)
        return [name for (name,) in cursor.fetchall()]
    with connection.cursor() as own:
        if connection.vendor == "postgresql":
            return _tables(connection, own)
        return sorted(connection.introspection.table_names(own))


def _state(cursor, connection, tables: list[str]) -> dict:
    """Migrations applied, audit head and rows per table, read through `cursor` (one snapshot)."""
    quote = connection.ops.quote_name
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # names from introspection
        counts[table] = cursor.fetchone()[0]
    migrations: dict[str, list[str]] = {}
    if MigrationRecorder.Migration._meta.db_table in tables:
        cursor.execute(f"SELECT app, name FROM {quote(MigrationRecorder.Migration._meta.db_table)} ORDER BY app, name")
        for app, name in cursor.fetchall():
            migrations.setdefault(app, []).append(name)
    head = {"last_id": 0, "last_hash": audit.GENESIS, "unkeyed_through": 0}
    if AuditChainHead._meta.db_table in tables:
        cursor.execute(
            f"SELECT last_id, last_hash, unkeyed_through FROM {quote(AuditChainHead._meta.db_table)} WHERE id = 1"
        )
        row = cursor.fetchone()
        if row:
            head = {"last_id": row[0], "last_hash": row[1], "unkeyed_through": row[2]}
    return {"migrations": migrations, "audit_head": head, "counts": counts}


def _pg_env(settings_dict: dict) -> dict:
    """libpq's environment for the command-line tools: no password on a command line."""
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if settings_dict.get(key):
            env[var] = str(settings_dict[key])
    env["PGDATABASE"] = settings_dict["NAME"]
    for option, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("service", "PGSERVICE")):
        if settings_dict.get("OPTIONS", {}).get(option):
            env[var] = str(settings_dict["OPTIONS"][option])
    return env


def _tool_major(tool: str) -> int:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client-<server version>)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise BackupError(f"cannot read the version of {tool}: {out.strip()}")
    return int(match.group(1))


def _run(args: list[str], env: dict) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _dump_postgresql(connection, target: Path) -> dict:
    """pg_dump -Fc of the database, with the manifest's state read in the snapshot it dumps."""
    server_major = connection.pg_version // 10000
    tool_major = _tool_major("pg_dump")
    if tool_major < server_major:
        raise BackupError(
            f"pg_dump {tool_major} cannot dump a PostgreSQL {server_major} server: "
            f"install postgresql-client-{server_major}"
        )
    raw = connection.get_new_connection(connection.get_connection_params())
    try:
        raw.autocommit = True
        with raw.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            state = _state(cursor, connection, _tables(connection, cursor))
            # The exporting transaction stays open until pg_dump is done with the snapshot.
            _run(
                [shutil.which("pg_dump"), "-Fc", "--snapshot", snapshot, "-f", str(target)],
                _pg_env(connection.settings_dict),
            )
            cursor.execute("COMMIT")
    finally:
        raw.close()
    state["server"] = {"vendor": "postgresql", "version": connection.pg_version, "pg_dump": tool_major}
    return state


def _dump_sqlite(connection, target: Path) -> dict:
    """A page copy through SQLite's online backup API; the state is read from the copy."""
    connection.ensure_connection()
    if connection.in_atomic_block:
        raise BackupError("a SQLite backup cannot run inside a transaction (it would wait for itself)")
    copy = sqlite3.connect(target)
    try:
        connection.connection.backup(copy)
        tables = [
            name
            for (name,) in copy.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        cursor = copy.cursor()
        state = _state(cursor, connection, tables)
    finally:
        copy.close()
    state["server"] = {"vendor": "sqlite", "version": sqlite3.sqlite_version}
    return state


# ---------------------------------------------------------------- the archive


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it."""

    def __init__(self, fh):
        self.fh = fh
        self.sha256 = hashlib.sha256()

    def readable(self):
        return True

    def read(self, size=-1):
        data = self.fh.read(size)
        self.sha256.update(data)
        return data


def _add_file(archive: tarfile.TarFile, name: str, path: Path) -> dict:
    info = tarfile.TarInfo(name)
    stat = path.stat()
    info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
    with path.open("rb") as fh:
        reader = _Hashing(fh)
        archive.addfile(info, reader)
    return {"sha256": reader.sha256.hexdigest(), "size": stat.st_size}


def _default_name() -> str:
    return f"epigrid-backup-{timezone.now().astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.tar"


def archive_path(output: str | Path | None) -> Path:
    """-o: a directory (existing, or written with a trailing slash) gets a dated name inside it."""
    if output is None:
        return Path(settings.VAR_DIR) / "backups" / _default_name()
    path = Path(output)
    if path.is_dir() or str(output).endswith(os.sep):
        return path / _default_name()
    return path


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    sha256: str


def backup(output: str | Path | None = None, *, using: str = DEFAULT_DB_ALIAS) -> BackupResult:
    """Write one .tar with the database, the uploads and the manifest; audited as `backup.create`."""
    connection = connections[using]
    target = archive_path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    started = timezone.now()
    with tempfile.TemporaryDirectory(prefix="epigrid-backup-", dir=target.parent) as work:
        dump_name = DUMP_NAMES.get(connection.vendor)
        if dump_name is None:
            raise BackupError(f"no backup method for a {connection.vendor} database")
        dump = Path(work) / dump_name
        if connection.vendor == "postgresql":
            state = _dump_postgresql(connection, dump)
        else:
            state = _dump_sqlite(connection, dump)
        files = {}
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
            files[dump_name] = _add_file(archive, dump_name, dump)
            # Uploads written after the snapshot may be in the archive without their row; never the
            # reverse as long as rows are written after their file (as Django's FileField does).
            for folder, root in upload_roots().items():
                if not root.is_dir():
                    continue
                for path in sorted(p for p in root.rglob("*") if p.is_file()):
                    name = f"files/{folder}/{path.relative_to(root).as_posix()}"
                    files[name] = _add_file(archive, name, path)
            manifest = {
                "format": FORMAT,
                "epigrid_version": version(),
                "created_at": started.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                **state,
                "files": files,
            }
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(started.timestamp()), 0o600
            archive.addfile(info, io.BytesIO(data))
    os.chmod(partial, 0o600)  # personal data: the operator's eyes only
    os.replace(partial, target)
    sha256 = _sha256_of(target)
    audit.record(
        principal=BACKUP,
        action="backup.create",
        object_type="backup",
        object_id=target.name[:64],
        changes={
            "sha256": sha256,
            "bytes": target.stat().st_size,
            "audit_head": manifest["audit_head"]["last_id"],
            "rows": sum(manifest["counts"].values()),
            "files": len(files) - 1,
        },
        using=using,
    )
    return BackupResult(target, manifest, sha256)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: str | Path) -> dict:
    try:
        with tarfile.open(path, "r:") as archive:
            member = archive.getmember(MANIFEST)
            manifest = json.load(archive.extractfile(member))
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{path} is not an epigrid backup, or it is damaged ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r}, this epigrid reads format {FORMAT}")
    return manifest


# ---------------------------------------------------------------- restoring


def unknown_migrations(manifest: dict) -> list[str]:
    """Migrations the backup's database had that this code does not know: a newer schema."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return [
        f"{app}.{name}"
        for app, names in sorted(manifest["migrations"].items())
        for name in names
        if (app, name) not in known
    ]


def _missing_migrations(manifest: dict) -> list[str]:
    applied = {(app, name) for app, names in manifest["migrations"].items() for name in names}
    known = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    return sorted(f"{app}.{name}" for app, name in known if (app, name) not in applied)


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"the archive holds an unsafe path: {name!r}")
    return path


def _non_empty(connection) -> list[str]:
    """Why the target is not empty (its tables, files in the upload folders); [] when it is."""
    reasons = []
    if connection.vendor == "sqlite" and not Path(connection.settings_dict["NAME"]).exists():
        tables = []
    else:
        tables = _tables(connection)
    if tables:
        reasons.append(f"the database has {len(tables)} tables")
    for folder, root in upload_roots().items():
        if root.is_dir() and any(p.is_file() for p in root.rglob("*")):
            reasons.append(f"{root} ({folder} uploads) holds files")
    return reasons


def _extract_checked(archive_file: str | Path, manifest: dict, staging: Path) -> None:
    """Every member into `staging`, each checked against the manifest's SHA-256 and size; any
    difference, a missing file or one the manifest does not list stops the restore."""
    expected = dict(manifest["files"])
    with tarfile.open(archive_file, "r:") as archive:
        for member in archive:
            if member.name == MANIFEST:
                continue
            entry = expected.pop(member.name, None)
            if entry is None or not member.isfile():
                raise BackupError(f"the archive holds {member.name!r}, which its manifest does not list")
            destination = staging / _safe_name(member.name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with archive.extractfile(member) as source, destination.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != entry["sha256"] or member.size != entry["size"]:
                raise BackupError(
                    f"{member.name} is damaged: its SHA-256 differs from the manifest's; nothing was restored"
                )
    if expected:
        raise BackupError(f"the archive lacks {len(expected)} files its manifest lists, e.g. {min(expected)!r}")


def _drop_everything_postgresql(connection) -> None:
    """--force on PostgreSQL: the current schema's tables, sequences, views and functions go."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"""
        )
        rels = cursor.fetchall()
        cursor.execute(
            """SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = current_schema()"""
        )
        functions = [name for (name,) in cursor.fetchall()]
        quote = connection.ops.quote_name
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        # Sequences last: a table takes the sequences its columns own with it.
        for kind, name in sorted(rels, key=lambda rel: rel[0] == "S"):
            cursor.execute(f"DROP {kinds[kind]} IF EXISTS {quote(name)} CASCADE")
        for signature in functions:
            cursor.execute(f"DROP FUNCTION IF EXISTS {signature} CASCADE")


def _load_postgresql(connection, dump: Path, manifest: dict, *, force: bool) -> None:
    if manifest["server"]["vendor"] != "postgresql":
        raise BackupError("this is a SQLite backup: restore it into a SQLite database")
    tool_major = _tool_major("pg_restore")
    if tool_major < manifest["server"]["pg_dump"]:
        raise BackupError(
            f"the backup was written by pg_dump {manifest['server']['pg_dump']}; pg_restore {tool_major} cannot "
            f"read it: install postgresql-client-{manifest['server']['pg_dump']} or newer"
        )
    if force:
        _drop_everything_postgresql(connection)
    connection.close()
    # One transaction: a restore that fails half-way leaves nothing behind. Ownership goes to the
    # restoring role (migrations' owner); grants to other roles come back as they were.
    _run(
        [
            shutil.which("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            connection.settings_dict["NAME"],
            str(dump),
        ],
        _pg_env(connection.settings_dict),
    )


def _load_sqlite(connection, dump: Path, manifest: dict) -> None:
    if manifest["server"]["vendor"] != "sqlite":
        raise BackupError("this is a PostgreSQL backup: restore it into a PostgreSQL database")
    name = connection.settings_dict["NAME"]
    if connection.is_in_memory_db():
        raise BackupError("restore into a database file, not an in-memory database")
    connection.close()
    source = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    target = sqlite3.connect(name)
    try:
        source.backup(target)  # replaces every page of the target, under its lock
    finally:
        target.close()
        source.close()


def _restore_files(staging: Path, *, force: bool) -> int:
    restored = 0
    for folder, root in upload_roots().items():
        source = staging / "files" / folder
        if force and root.is_dir():
            for child in root.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        if not source.is_dir():
            continue
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            destination = root / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.move(path, destination)
            os.chmod(destination, 0o600)
            restored += 1
    return restored


def _anchors_after_restore(head_id: int) -> tuple[list[dict], int]:
    """The anchors the restored chain must match (those up to the backup's head). Anchors of rows
    written after the backup belong to a history that is gone: the anchor file is set aside (kept
    as evidence, renamed) and a new one holds the anchors that still apply, or `audit verify`
    would call the restored chain truncated. Returns the anchors kept and how many were set aside."""
    path = Path(settings.AUDIT_ANCHOR_FILE)
    anchors = audit.read_anchors(path)
    kept = [line for line in anchors if line["id"] <= head_id]
    later = len(anchors) - len(kept)
    if later:
        aside = path.with_name(f"{path.name}.before-restore-{timezone.now().astimezone(dt.UTC):%Y%m%dT%H%M%SZ}")
        os.replace(path, aside)
        with path.open("w") as fh:
            fh.writelines(json.dumps(line, sort_keys=True) + "\n" for line in kept)
    return kept, later


@dataclass
class RestoreReport:
    manifest: dict
    chain: audit.VerifyResult
    count_mismatches: dict = field(default_factory=dict)  # table: (in the manifest, restored)
    files: int = 0
    anchors_set_aside: int = 0
    missing_migrations: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.count_mismatches


def restore(archive_file: str | Path, *, using: str = DEFAULT_DB_ALIAS, force: bool = False) -> RestoreReport:
    """Restore a backup into the database `using` and the upload folders, then prove it: the audit
    chain verifies and every table has the manifest's rows. Audited as `backup.restore`."""
    manifest = read_manifest(archive_file)
    unknown = unknown_migrations(manifest)
    if unknown:
        raise BackupError(
            f"this backup comes from a newer epigrid ({manifest['epigrid_version']}): its database has "
            f"{len(unknown)} migrations this version ({version()}) does not know, e.g. {unknown[0]}. "
            "Install that version (or newer) and restore with it; nothing was restored."
        )
    connection = connections[using]
    occupied = _non_empty(connection)
    if occupied and not force:
        raise BackupError(
            f"the target is not empty: {'; '.join(occupied)}. Restore into an empty database "
            "(createdb / a new SQLite file), or give --force to replace what is there; nothing was restored."
        )
    dump_name = DUMP_NAMES[manifest["server"]["vendor"]]
    root = Path(settings.PRIVATE_MEDIA_ROOT).parent
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="epigrid-restore-", dir=root) as work:
        staging = Path(work)
        _extract_checked(archive_file, manifest, staging)
        if connection.vendor == "postgresql":
            _load_postgresql(connection, staging / dump_name, manifest, force=force)
        elif connection.vendor == "sqlite":
            _load_sqlite(connection, staging / dump_name, manifest)
        else:
            raise BackupError(f"no restore method for a {connection.vendor} database")
        files = _restore_files(staging, force=force)
    connection.close()
    head_id = manifest["audit_head"]["last_id"]
    anchors, set_aside = _anchors_after_restore(head_id)
    chain = audit.verify(anchors=anchors, using=using)
    if chain.ok and AuditChainHead.objects.using(using).get(pk=1).last_hash != manifest["audit_head"]["last_hash"]:
        chain = audit.VerifyResult(False, chain.checked, head_id, "the restored head differs from the manifest's")
    with connection.cursor() as cursor:
        restored = _state(cursor, connection, _tables(connection))["counts"]
    mismatches = {
        table: (manifest["counts"].get(table), restored.get(table))
        for table in sorted(set(manifest["counts"]) | set(restored))
        if manifest["counts"].get(table) != restored.get(table)
    }
    report = RestoreReport(manifest, chain, mismatches, files, set_aside, _missing_migrations(manifest))
    audit.record(
        principal=RESTORE,
        action="backup.restore",
        object_type="backup",
        object_id=Path(archive_file).name[:64],
        changes={
            "created_at": manifest["created_at"],
            "epigrid_version": manifest["epigrid_version"],
            "audit_head": head_id,
            "chain_ok": chain.ok,
            "count_mismatches": len(mismatches),
            "files": files,
            "anchors_set_aside": set_aside,
            "forced": force,
        },
        using=using,
    )
    return report
