"""The audit chain is keyed (HMAC-SHA256, settings.AUDIT_KEYS) from here on, and the database
guards more of it.

The rows already written keep their unkeyed sha256: they get key version 0, and the head records
the last of them (unkeyed_through), so `epigrid audit verify` still checks them and refuses any
unkeyed row after them. They are not re-chained: the table is append-only, and rewriting the
evidence to upgrade it would need exactly the bypass the triggers exist to refuse.

Triggers added: TRUNCATE of the log (PostgreSQL; SQLite has none), and any change to the head but
the chain's own advance: an UPDATE that changes anything (a no-op one, as loading a
fixture does, passes) must raise last_id to a row that exists, with that row's hash,
and leave id and unkeyed_through alone; the head is deleted (or truncated) only while the log is
empty (SQLite's flush deletes it then). On SQLite, adding key_version rebuilds core_auditevent,
which drops its append-only triggers, so they are created again.
"""

from django.db import migrations, models

# As in 0002, for the rebuilt table on SQLite.
SQLITE_APPEND_ONLY = [
    "DROP TRIGGER IF EXISTS core_auditevent_no_update",
    "DROP TRIGGER IF EXISTS core_auditevent_no_delete",
    """CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE ON core_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    """CREATE TRIGGER core_auditevent_no_delete BEFORE DELETE ON core_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
]
HEAD_MESSAGE = "audit chain head only advances to the chain's last row"
SQLITE = [
    f"""CREATE TRIGGER core_auditchainhead_advance_only BEFORE UPDATE ON core_auditchainhead
       WHEN (NEW.id IS NOT OLD.id OR NEW.last_id IS NOT OLD.last_id OR NEW.last_hash IS NOT OLD.last_hash
             OR NEW.unkeyed_through IS NOT OLD.unkeyed_through)
        AND (NEW.id IS NOT OLD.id OR NEW.last_id <= OLD.last_id OR NEW.unkeyed_through IS NOT OLD.unkeyed_through
             OR NEW.last_hash IS NOT (SELECT hash FROM core_auditevent WHERE id = NEW.last_id))
       BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE.replace("'", "''")}'); END""",
    f"""CREATE TRIGGER core_auditchainhead_no_delete BEFORE DELETE ON core_auditchainhead
       WHEN EXISTS (SELECT 1 FROM core_auditevent)
       BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE.replace("'", "''")}'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER core_auditchainhead_advance_only",
    "DROP TRIGGER core_auditchainhead_no_delete",
]
POSTGRES = [
    """CREATE TRIGGER core_auditevent_no_truncate BEFORE TRUNCATE ON core_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION core_audit_append_only()""",
    """CREATE TRIGGER core_auditchainhead_no_truncate BEFORE TRUNCATE ON core_auditchainhead
       FOR EACH STATEMENT EXECUTE FUNCTION core_audit_append_only()""",
    f"""CREATE FUNCTION core_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           IF EXISTS (SELECT 1 FROM core_auditevent) THEN RAISE EXCEPTION '{HEAD_MESSAGE.replace("'", "''")}'; END IF;
           RETURN OLD;
         END IF;
         IF NEW IS NOT DISTINCT FROM OLD THEN RETURN NEW; END IF;
         IF NEW.id <> OLD.id OR NEW.last_id <= OLD.last_id OR NEW.unkeyed_through <> OLD.unkeyed_through
            OR NEW.last_hash IS DISTINCT FROM (SELECT hash FROM core_auditevent WHERE id = NEW.last_id) THEN
           RAISE EXCEPTION '{HEAD_MESSAGE.replace("'", "''")}';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER core_auditchainhead_guard BEFORE UPDATE OR DELETE ON core_auditchainhead
       FOR EACH ROW EXECUTE FUNCTION core_audit_head_guard()""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER core_auditchainhead_guard ON core_auditchainhead",
    "DROP FUNCTION core_audit_head_guard()",
    "DROP TRIGGER core_auditchainhead_no_truncate ON core_auditchainhead",
    "DROP TRIGGER core_auditevent_no_truncate ON core_auditevent",
]


def _sqlite_append_only(schema_editor):
    for sql in SQLITE_APPEND_ONLY:
        schema_editor.execute(sql)


def restore_sqlite_append_only(apps, schema_editor):
    """Backwards only: removing key_version rebuilds the table on SQLite, dropping its triggers."""
    if schema_editor.connection.vendor == "sqlite":
        _sqlite_append_only(schema_editor)


def forwards(apps, schema_editor):
    head, _ = apps.get_model("core", "AuditChainHead").objects.get_or_create(pk=1)
    head.unkeyed_through = head.last_id
    head.save(update_fields=["unkeyed_through"])
    if schema_editor.connection.vendor == "postgresql":
        statements = POSTGRES
    else:
        _sqlite_append_only(schema_editor)
        statements = SQLITE
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    statements = POSTGRES_REVERSE if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("core", "0004_outbox_path_collation_c")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_append_only),
        migrations.AddField(
            model_name="auditchainhead",
            name="unkeyed_through",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_version",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(forwards, backwards),
    ]
