from django.core.management.base import BaseCommand, CommandError

from epigrid.core.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump -Fc on PostgreSQL, the online backup API on SQLite), the uploaded "
        "files and a manifest (version, migrations, audit head, row counts, checksums) into one .tar; "
        "`epigrid restore` puts it back. Never dumpdata: it loses microseconds and breaks the audit chain."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", help="a .tar file, or a directory for a dated name (default: var/backups/)"
        )

    def handle(self, *args, output=None, **options):
        try:
            result = backup(output)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = result.manifest
        self.stdout.write(
            self.style.SUCCESS(
                f"backup written to {result.path} ({result.path.stat().st_size} bytes, sha256 {result.sha256}): "
                f"{sum(manifest['counts'].values())} rows in {len(manifest['counts'])} tables, "
                f"{len(manifest['files']) - 1} uploaded files, audit head {manifest['audit_head']['last_id']}"
            )
        )
