"""On PostgreSQL the tree path compares bytewise (COLLATE "C"), so a subtree is an index range
whatever the database's locale (docs/architecture.md "Subtree queries, measured")."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE grids_gridnode ALTER COLUMN path TYPE varchar(255) COLLATE "C"')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE grids_gridnode ALTER COLUMN path TYPE varchar(255) COLLATE "default"')


class Migration(migrations.Migration):
    dependencies = [("grids", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
