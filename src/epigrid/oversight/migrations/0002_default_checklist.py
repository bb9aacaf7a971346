from django.db import migrations

# The article's supervision points (督查督导: 排查, 管控, 信息报送), as data: the shared template.
ITEMS = ["排查到位", "管控到位", "体温四报", "卡点值守", "消杀记录", "台账规范"]


def create(apps, schema_editor):
    Checklist = apps.get_model("oversight", "Checklist")
    if not Checklist.objects.filter(grid__isnull=True).exists():
        Checklist.objects.create(name="督查基本清单", items=ITEMS, grid=None)


class Migration(migrations.Migration):
    dependencies = [("oversight", "0001_inspections")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
