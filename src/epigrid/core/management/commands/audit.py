import sys

from django.core.management.base import BaseCommand

from epigrid.core import audit


class Command(BaseCommand):
    help = "Audit log tools. `epigrid audit verify` checks the hash chain and names the first bad row."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, action, **options):
        result = audit.verify()
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain OK: {result.checked} rows"))
            return
        self.stderr.write(
            f"audit chain BROKEN at row {result.bad_id}: {result.reason} ({result.checked} rows verified before it)"
        )
        sys.exit(1)
