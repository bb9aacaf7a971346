"""Backup and restore, drilled (issue 14, item 1).

An operator runs `epigrid backup`, loses the server, and restores the archive into an empty
database: everything comes back — the rows of every table, the audit chain (which still verifies:
dumpdata/loaddata would have lost the microseconds it hashes), the uploaded photos byte for byte.
A backup from a newer epigrid, or a damaged archive, is refused before anything is touched.
"""

import datetime as dt
import io
import json
import tarfile
import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone
from psycopg import sql

from epigrid.core import audit, backup
from epigrid.core.models import AuditChainHead, AuditEvent
from epigrid.people.models import Person
from epigrid.response import services as response
from epigrid.response.models import Task
from tests.core.test_uploads import image_bytes, upload
from tests.factories import build_world
from tests.response.test_response import confirm

# serialized_rollback: the flush after each test then leaves the content types to the next
# transactional test instead of recreating them (a plain flush runs post_migrate, and a later
# serialized_rollback test would find them twice).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def uploads(settings, tmp_path):
    """The upload folders of the deployment being backed up (never a developer's var/)."""
    move_uploads(settings, tmp_path)
    return tmp_path


def move_uploads(settings, root):
    """Point the upload folders (private photos, default storage) under `root`."""
    settings.PRIVATE_MEDIA_ROOT = root / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root / "media"}},
    }


def _extra_database(name: str) -> str:
    """A second connection alias to `name` on the same server, like the new server's database."""
    alias = f"restore_{uuid.uuid4().hex[:8]}"
    # Made by hand, not declared in settings: the test's database guard lets such connections be.
    default = connections["default"]
    connections[alias] = default.__class__({**default.settings_dict, "NAME": name}, alias)
    return alias


def _forget(alias: str) -> None:
    connections[alias].close()
    del connections[alias]


@pytest.fixture
def populated(concurrent_db, uploads):
    """A committed world with a confirmed case and a completed task's evidence photo."""
    # An earlier transactional test's flush took the chain head's row (made by a migration) too.
    AuditChainHead.objects.get_or_create(pk=1)
    world = build_world()
    case = confirm(world, world.persons["p1"], specimen="U-1", at=timezone.now() - dt.timedelta(hours=2))
    task = case.activations.get().tasks.get(title="张贴告知书")
    task = response.task_complete(
        task=task, photo=upload("p.jpg", image_bytes("JPEG")), principal=world.users["member1"]
    )
    return task


@pytest.fixture
def sqlite_target(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite drill; the PostgreSQL one is below")
    alias = _extra_database(str(tmp_path / "new-server" / "epigrid.sqlite3"))
    (tmp_path / "new-server").mkdir()
    yield alias
    _forget(alias)


def test_a_backup_restored_into_a_new_database_verifies_and_brings_the_photo_back(
    populated, sqlite_target, tmp_path, settings, capsys
):
    photo = populated.evidence_photo
    original = photo.read()
    audit.anchor()  # a checkpoint the restored chain must still match
    call_command("backup", "-o", str(tmp_path / "backups") + "/")
    out = capsys.readouterr().out
    archive = next((tmp_path / "backups").glob("epigrid-backup-*.tar"))
    assert f"backup written to {archive}" in out
    created = AuditEvent.objects.filter(action="backup.create").get()
    assert created.actor_label == "system:backup" and created.object_id == archive.name
    audit.anchor()  # anchors the backup.create row, which the backup does not hold
    manifest = backup.read_manifest(archive)
    assert manifest["counts"]["people_person"] == Person.objects.count() == 3
    assert "0006_access_log" in manifest["migrations"]["core"]
    assert manifest["audit_head"]["last_id"] == created.id - 1

    move_uploads(settings, tmp_path / "new-server")
    report = backup.restore(archive, using=sqlite_target)

    assert report.ok, (report.chain, report.count_mismatches)
    assert report.chain.checked == manifest["audit_head"]["last_id"]
    assert report.anchors_set_aside == 1  # the anchor of the backup.create row: a history now gone
    restored_task = Task.objects.using(sqlite_target).get(pk=populated.pk)
    assert restored_task.evidence_photo.name == photo.name
    assert (tmp_path / "new-server" / "private" / photo.name).read_bytes() == original
    assert Person.objects.using(sqlite_target).count() == 3
    # Every datetime kept its microseconds (the chain hashes them; dumpdata would have lost them).
    backed_up = AuditEvent.objects.filter(id__lte=manifest["audit_head"]["last_id"]).order_by("id")
    times = backed_up.values_list("occurred_at", flat=True)
    assert list(times.using(sqlite_target)) == list(times)
    assert any(t.microsecond for t in times)
    restored = AuditEvent.objects.using(sqlite_target).filter(action="backup.restore").get()
    assert restored.actor_label == "system:restore" and restored.changes["chain_ok"] is True
    # The restored deployment goes on: its chain, with the restore row, verifies against the anchors left.
    assert audit.verify(using=sqlite_target).ok


def _rewrite(archive, out, *, manifest=None):
    """Copy an archive, with another manifest."""
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for member in source:
            if member.name == backup.MANIFEST and manifest is not None:
                data = json.dumps(manifest).encode()
                member.size = len(data)
                target.addfile(member, io.BytesIO(data))
            else:
                target.addfile(member, source.extractfile(member))
    return out


@pytest.fixture
def archive(populated, tmp_path):
    return backup.backup(tmp_path / "b.tar").path


def test_a_backup_from_a_newer_schema_is_refused(archive, sqlite_target, tmp_path):
    manifest = backup.read_manifest(archive)
    manifest["migrations"]["core"].append("0099_from_a_later_release")
    newer = _rewrite(archive, tmp_path / "newer.tar", manifest=manifest)
    with pytest.raises(backup.BackupError, match=r"newer epigrid.*core\.0099_from_a_later_release"):
        backup.restore(newer, using=sqlite_target)
    assert connections[sqlite_target].introspection.table_names() == []  # nothing restored


def test_the_command_refuses_a_newer_schema_with_a_clear_message(archive, tmp_path):
    manifest = backup.read_manifest(archive)
    manifest["migrations"]["people"].append("0099_from_a_later_release")
    newer = _rewrite(archive, tmp_path / "newer.tar", manifest=manifest)
    with pytest.raises(CommandError, match="newer epigrid"):
        call_command("restore", str(newer), "--force")


def test_a_damaged_archive_is_refused_before_anything_is_restored(archive, sqlite_target, tmp_path, settings):
    with tarfile.open(archive) as tar:
        member = tar.getmember("database.sqlite3")
    with archive.open("r+b") as fh:  # one flipped byte in the middle of the database file
        fh.seek(member.offset_data + member.size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    move_uploads(settings, tmp_path / "new-server")
    with pytest.raises(backup.BackupError, match=r"database\.sqlite3 is damaged"):
        backup.restore(archive, using=sqlite_target)
    assert connections[sqlite_target].introspection.table_names() == []
    assert not (tmp_path / "new-server" / "private").exists()


def test_a_non_empty_database_is_not_overwritten_without_force(archive):
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(archive))
    assert AuditEvent.objects.filter(action="backup.restore").count() == 0


def test_a_restore_that_does_not_match_its_manifest_exits_non_zero(archive, tmp_path, capsys):
    if connection.vendor == "postgresql":
        # Restoring over the test database itself drops and recreates its tables under the test
        # runner's feet (later transactional tests then find stale rows); on PostgreSQL restores go
        # into a new database (test_postgresql_backup_restores_into_a_new_database_and_verifies).
        pytest.skip("restores over the database under test: SQLite only")
    manifest = backup.read_manifest(archive)
    manifest["counts"]["people_person"] += 1  # as if a row had not come back
    lying = _rewrite(archive, tmp_path / "lying.tar", manifest=manifest)
    with pytest.raises(SystemExit) as exit_:
        call_command("restore", str(lying), "--force")  # over the database it came from
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert "row count differs in people_person: the backup had 4, the restore has 3" in captured.err
    assert "audit chain OK" in captured.out
    assert AuditEvent.objects.get(action="backup.restore").changes["count_mismatches"] == 1


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgresql_target():
    """A new, uniquely named database on the test server, dropped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL")
    name = f"epigrid_restore_{uuid.uuid4().hex[:12]}"
    params = {**connection.get_connection_params(), "dbname": "postgres"}
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    alias = _extra_database(name)
    try:
        yield alias
    finally:
        _forget(alias)
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_postgresql_backup_restores_into_a_new_database_and_verifies(populated, postgresql_target, tmp_path, settings):
    result = backup.backup(tmp_path / "pg.tar")
    assert result.manifest["server"]["vendor"] == "postgresql"
    assert result.manifest["counts"]["people_person"] == 3
    move_uploads(settings, tmp_path / "new-server")

    report = backup.restore(result.path, using=postgresql_target)

    assert report.ok, (report.chain, report.count_mismatches)
    assert report.chain.checked == result.manifest["audit_head"]["last_id"] > 0
    head = AuditChainHead.objects.using(postgresql_target).get(pk=1)
    assert head.last_id == result.manifest["audit_head"]["last_id"] + 1  # + the restore's own row
    photo = populated.evidence_photo
    assert (tmp_path / "new-server" / "private" / photo.name).read_bytes() == photo.read()
    # Appending to the restored chain is guarded as before (the triggers came back with the schema).
    with pytest.raises(Exception, match="append-only"), connections[postgresql_target].cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent")
