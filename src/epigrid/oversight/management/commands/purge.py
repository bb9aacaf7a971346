from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from epigrid.accounts.permissions import principal_from_option
from epigrid.core.errors import DomainError
from epigrid.oversight.retention import purge, purge_start

# What each count is, for the operator (never who: the command prints counts only).
KINDS = {
    "persons": "persons erased (anonymised in place)",
    "households": "households left without anyone (address erased)",
    "notes": "their free text and identifying fields in other records (requests, wishes, volunteers…)",
    "keys": "person keys deleted (their audit values unreadable)",
    "links": "personal links revoked",
    "temperature_reports": "temperature reports older than the retention",
    "gate_passages": "gate passages older than the retention",
}


class Command(BaseCommand):
    help = (
        "Erase personal data whose retention ended (settings.RETENTION_DAYS): persons anonymised in "
        "place, their audit values made unreadable, old temperature reports and gate passages deleted. "
        "Irreversible; audited once (counts, never who). --dry-run only counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would go; write nothing")
        parser.add_argument("--user", help="the operator to record as having asked for it")
        parser.add_argument(
            "--background",
            action="store_true",
            help="run it as a background job of --user (its page shows the progress and the report); print its id",
        )

    def handle(self, *args, dry_run=False, user=None, background=False, **options):
        if background and not user:
            raise CommandError("--background needs --user: the job is that user's, followed on their job page")
        try:
            if background:
                job = purge_start(principal=principal_from_option(user), dry_run=dry_run)
                self.stdout.write(f"job {job.pk} {job.status}: {job.get_absolute_url()}")
                return
            counts = purge(principal=principal_from_option(user), dry_run=dry_run)
        except DomainError as exc:
            raise CommandError(exc.render("en")) from None
        verb = "would go" if dry_run else "erased"
        self.stdout.write(f"{'dry run: ' if dry_run else ''}retention {settings.RETENTION_DAYS} days")
        for kind, count in counts.items():
            self.stdout.write(f"{kind}: {count} {verb} — {KINDS.get(kind, kind)}")
