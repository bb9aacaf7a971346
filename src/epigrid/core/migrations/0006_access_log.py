"""The access log of reads (core.models.AccessEvent), append-only at the database level.

On SQLite and PostgreSQL alike an UPDATE is refused, and so is a DELETE of a row younger than
RETENTION_FLOOR_DAYS; PostgreSQL also refuses TRUNCATE. The floor is six months (settings refuse
an EPIGRID_ACCESS_LOG_DAYS below 183) less a day, so the purge (core.access.access_log_purge,
which deletes rows older than settings.ACCESS_LOG_DAYS by the application's clock) never meets it
when the database's clock or transaction start differs a little. The path compares bytewise on
PostgreSQL (COLLATE "C"), like the tree's, so a scope is an index range (see grids 0002).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

RETENTION_FLOOR_DAYS = 182
UPDATE_MESSAGE = "access log is append-only"
DELETE_MESSAGE = "access log rows younger than six months are kept"
SQLITE = [
    f"""CREATE TRIGGER core_accessevent_no_update BEFORE UPDATE ON core_accessevent
       BEGIN SELECT RAISE(ABORT, '{UPDATE_MESSAGE}'); END""",
    # Django keeps SQLite datetimes as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]', like datetime().
    f"""CREATE TRIGGER core_accessevent_retention BEFORE DELETE ON core_accessevent
       WHEN OLD.at >= datetime('now', '-{RETENTION_FLOOR_DAYS} days')
       BEGIN SELECT RAISE(ABORT, '{DELETE_MESSAGE}'); END""",
]
SQLITE_REVERSE = ["DROP TRIGGER core_accessevent_no_update", "DROP TRIGGER core_accessevent_retention"]
POSTGRES = [
    'ALTER TABLE core_accessevent ALTER COLUMN grid_path TYPE varchar(255) COLLATE "C"',
    f"""CREATE FUNCTION core_access_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP <> 'DELETE' THEN RAISE EXCEPTION '{UPDATE_MESSAGE}'; END IF;
         IF OLD.at >= now() - interval '{RETENTION_FLOOR_DAYS} days' THEN RAISE EXCEPTION '{DELETE_MESSAGE}'; END IF;
         RETURN OLD;
       END $$""",
    """CREATE TRIGGER core_accessevent_guard BEFORE UPDATE OR DELETE ON core_accessevent
       FOR EACH ROW EXECUTE FUNCTION core_access_log_guard()""",
    """CREATE TRIGGER core_accessevent_no_truncate BEFORE TRUNCATE ON core_accessevent
       FOR EACH STATEMENT EXECUTE FUNCTION core_access_log_guard()""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER core_accessevent_no_truncate ON core_accessevent",
    "DROP TRIGGER core_accessevent_guard ON core_accessevent",
    "DROP FUNCTION core_access_log_guard()",
]


def forwards(apps, schema_editor):
    statements = POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    statements = POSTGRES_REVERSE if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_audit_keyed_chain"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(db_index=True, verbose_name="time")),
                ("actor_label", models.CharField(blank=True, max_length=150)),
                ("action", models.CharField(max_length=64, verbose_name="action")),
                ("object_type", models.CharField(max_length=64)),
                ("object_id", models.CharField(max_length=64)),
                ("grid_path", models.CharField(blank=True, max_length=255)),
                ("remote_addr", models.GenericIPAddressField(blank=True, null=True)),
                ("request_id", models.CharField(blank=True, max_length=36)),
                ("channel", models.CharField(blank=True, max_length=16)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "file access",
                "indexes": [
                    models.Index(fields=["object_type", "object_id", "at"], name="access_object_idx"),
                    models.Index(fields=["grid_path", "at"], name="access_grid_idx"),
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
