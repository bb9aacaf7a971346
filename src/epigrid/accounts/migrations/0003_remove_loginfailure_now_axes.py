# Failed logins are counted by django-axes now (axes.AccessAttempt); the hand-written counter goes.
# Its rows were only a 15-minute counter: nothing to carry over.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="LoginFailure"),
    ]
