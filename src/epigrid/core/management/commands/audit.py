import sys

from django.core.management.base import BaseCommand

from epigrid.core import audit


class Command(BaseCommand):
    help = (
        "Audit log tools. `epigrid audit verify` checks the keyed hash chain against the anchor file and "
        "names the first bad row; `epigrid audit anchor` appends a signed checkpoint of the head to it."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify", "anchor"])

    def handle(self, *args, action, **options):
        if action == "anchor":
            line = audit.anchor()
            self.stdout.write(self.style.SUCCESS(f"audit chain anchored at row {line['id']} ({line['at']})"))
            return
        result = audit.verify()
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain OK: {result.checked} rows, {result.reason}"))
            return
        where = f"at row {result.bad_id}" if result.bad_id is not None else "(anchor file)"
        self.stderr.write(f"audit chain BROKEN {where}: {result.reason} ({result.checked} rows verified before it)")
        sys.exit(1)
