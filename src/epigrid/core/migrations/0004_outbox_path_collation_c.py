"""On PostgreSQL the hand-off's grid path compares bytewise (COLLATE "C") like the tree's, so the
coverage audit's subtree filter on it is an index range (see grids 0002)."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE core_outboxmessage ALTER COLUMN grid_path TYPE varchar(255) COLLATE "C"')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE core_outboxmessage ALTER COLUMN grid_path TYPE varchar(255) COLLATE "default"'
        )


class Migration(migrations.Migration):
    dependencies = [("core", "0003_outbox")]
    operations = [migrations.RunPython(forwards, backwards)]
