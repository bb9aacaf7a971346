"""Seal every plaintext birth date (AES-GCM, like the ID number) and keep its year in clear.

Plain Python over the ORM, in chunks: works the same on SQLite and PostgreSQL. The audit log
needs no rewrite: person changes were always logged without the birth date (`_person_state`
never held it, imports log only the batch and row).
"""

from django.db import migrations

CHUNK = 2000


def seal_birth_dates(apps, schema_editor):
    from epigrid.core.crypto import seal

    Person = apps.get_model("people", "Person")
    pending = Person.objects.filter(birth_date_sealed__isnull=True).order_by("pk")
    last = 0
    while True:
        batch = list(pending.filter(pk__gt=last).only("pk", "birth_date")[:CHUNK])
        if not batch:
            break
        for person in batch:
            person.birth_year = person.birth_date.year
            person.birth_date_sealed = seal(person.birth_date.isoformat())
            person.birth_date = None
        Person.objects.bulk_update(batch, ["birth_year", "birth_date_sealed", "birth_date"])
        last = batch[-1].pk


def unseal_birth_dates(apps, schema_editor):
    import datetime as dt

    from epigrid.core.crypto import unseal

    Person = apps.get_model("people", "Person")
    pending = Person.objects.filter(birth_date__isnull=True).order_by("pk")
    last = 0
    while True:
        batch = list(pending.filter(pk__gt=last).only("pk", "birth_date_sealed")[:CHUNK])
        if not batch:
            break
        for person in batch:
            person.birth_date = dt.date.fromisoformat(unseal(person.birth_date_sealed))
        Person.objects.bulk_update(batch, ["birth_date"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ('people', '0003_person_birth_year_birth_date_sealed'),
    ]

    operations = [
        migrations.RunPython(seal_birth_dates, unseal_birth_dates, elidable=False),
    ]
