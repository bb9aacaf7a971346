"""The owner's functions that create and drop monthly partitions (core/partitions.py), so that the
least-privilege application role can run beat's `partitions_ensure` and the purge's drop."""

from django.db import migrations

from epigrid.core import partitions


def create(apps, schema_editor):
    partitions.create_functions(schema_editor)


def drop(apps, schema_editor):
    partitions.drop_functions(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("core", "0009_job_result_file")]

    operations = [migrations.RunPython(create, drop)]
