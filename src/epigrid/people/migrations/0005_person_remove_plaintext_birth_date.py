from django.db import migrations, models


class Migration(migrations.Migration):
    """Drop the plaintext birth date column; every row now has its sealed date and year.

    Dropping a column does not overwrite the bytes already on disk: run `VACUUM FULL
    people_person` (PostgreSQL) or `VACUUM` (SQLite) afterwards, and rotate old backups.
    """

    dependencies = [
        ('people', '0004_person_seal_birth_dates'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='person',
            name='birth_date',
        ),
        migrations.AlterField(
            model_name='person',
            name='birth_year',
            field=models.PositiveSmallIntegerField(verbose_name='birth year'),
        ),
        migrations.AlterField(
            model_name='person',
            name='birth_date_sealed',
            field=models.BinaryField(editable=False),
        ),
    ]
