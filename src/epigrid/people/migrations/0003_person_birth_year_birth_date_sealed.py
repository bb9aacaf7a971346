from django.db import migrations, models


class Migration(migrations.Migration):
    """Room for the sealed birth date and the clear birth year; the plaintext birth date becomes
    nullable so that 0005 can drop it and a rollback can bring it back on a table with rows."""

    dependencies = [
        ('people', '0002_person_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='person',
            name='birth_year',
            field=models.PositiveSmallIntegerField(null=True, verbose_name='birth year'),
        ),
        migrations.AddField(
            model_name='person',
            name='birth_date_sealed',
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='person',
            name='birth_date',
            field=models.DateField(null=True, verbose_name='birth date'),
        ),
    ]
