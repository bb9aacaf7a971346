import sys

from django.core.management.base import BaseCommand, CommandError

from epigrid.core.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore an `epigrid backup` archive into the configured (empty) database and upload folders, then "
        "verify the audit chain and every table's row count against the manifest; exit 1 on any mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the .tar written by `epigrid backup`")
        parser.add_argument(
            "--force", action="store_true", help="replace a database and upload folders that are not empty"
        )

    def handle(self, *args, archive, force=False, **options):
        try:
            report = restore(archive, force=force)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = report.manifest
        self.stdout.write(
            f"restored the backup of {manifest['created_at']} (epigrid {manifest['epigrid_version']}): "
            f"{sum(manifest['counts'].values())} rows in {len(manifest['counts'])} tables, {report.files} files"
        )
        if report.anchors_set_aside:
            self.stdout.write(
                f"{report.anchors_set_aside} audit anchors were of rows written after this backup (lost with it): "
                "the anchor file was set aside beside itself (.before-restore-…) and a new one started"
            )
        if report.missing_migrations:
            self.stdout.write(f"{len(report.missing_migrations)} newer migrations to apply: run `epigrid migrate`")
        failed = False
        chain = report.chain
        if chain.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain OK: {chain.checked} rows, {chain.reason}"))
        else:
            where = f"at row {chain.bad_id}" if chain.bad_id is not None else "(anchor file)"
            self.stderr.write(f"audit chain BROKEN {where}: {chain.reason} ({chain.checked} rows verified before it)")
            failed = True
        for table, (expected, found) in report.count_mismatches.items():
            self.stderr.write(f"row count differs in {table}: the backup had {expected}, the restore has {found}")
            failed = True
        if failed:
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"row counts match the manifest in {len(manifest['counts'])} tables"))
