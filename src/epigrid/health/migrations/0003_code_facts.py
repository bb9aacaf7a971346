"""The stored facts of each person's health code (issue 15 "A thin gate"), filled from the
tables they are derived from: the same three reads as `health.codes.compute`."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    Case = apps.get_model("health", "Case")
    ControlOrder = apps.get_model("control", "ControlOrder")
    KeyPerson = apps.get_model("control", "KeyPerson")
    CodeFacts = apps.get_model("health", "CodeFacts")
    facts: dict[int, list[str]] = {}
    for pk, status in Case.objects.exclude(status="excluded").values_list("person_id", "status"):
        facts.setdefault(pk, []).append("case_confirmed" if status == "confirmed" else "case_suspected")
    orders = ControlOrder.objects.filter(status__in=["active", "release_proposed"]).order_by("pk")
    for pk, kind in orders.values_list("person_id", "kind"):
        if kind not in facts.setdefault(pk, []):
            facts[pk].append(kind)
    pending = KeyPerson.objects.filter(status__in=["reported", "assessed"]).values_list("person_id", flat=True)
    for pk in set(pending):
        facts.setdefault(pk, []).append("key_person_pending")
    CodeFacts.objects.bulk_create([CodeFacts(person_id=pk, facts=f) for pk, f in facts.items()], batch_size=5000)


class Migration(migrations.Migration):

    dependencies = [
        ('health', '0002_status_stamped'),
        ('people', '0006_person_erased_at'),
        ('control', '0003_self_registration'),
    ]

    operations = [
        migrations.CreateModel(
            name='CodeFacts',
            fields=[
                ('person', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='code_facts', serialize=False, to='people.person')),
                ('facts', models.JSONField(default=list)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'health code facts',
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
