# Device tokens: a label (the device's name), a refresh key with its own table (single use,
# rotated), and a fingerprint of the user's password hash so a password change ends them.
# Tokens issued before keep working: their fingerprint is computed from the current password.

import django.db.models.deletion
from django.db import migrations, models
from django.utils.crypto import salted_hmac

SALT = "epigrid.accounts.ApiToken.auth_hash"  # as accounts.services.auth_fingerprint


def fingerprint_existing(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.select_related("user").iterator():
        token.auth_hash = salted_hmac(SALT, token.user.password, algorithm="sha256").hexdigest()
        token.save(update_fields=["auth_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_remove_loginfailure_now_axes"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="label",
            field=models.CharField(blank=True, max_length=100, verbose_name="device"),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="refresh_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="auth_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fingerprint_existing, migrations.RunPython.noop),
        migrations.CreateModel(
            name="RefreshToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key_hash", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "token",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="refresh_keys",
                        to="accounts.apitoken",
                    ),
                ),
            ],
            options={"verbose_name": "refresh key"},
        ),
    ]
