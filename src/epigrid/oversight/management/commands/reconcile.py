from django.core.management.base import BaseCommand

from epigrid.accounts.permissions import principal_from_option
from epigrid.core.scoping import SystemPrincipal, user_of
from epigrid.oversight.reconcile import find_unfinished, reconcile


class Command(BaseCommand):
    help = (
        "List hand-offs between apps that did not finish (a confirmed case without its activation, "
        "a queued hand-off not carried out…) and complete them. Exit 1 when something is left."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list what is unfinished")
        parser.add_argument("--user", help="the operator to record as having asked for it")

    def handle(self, *args, dry_run=False, user=None, **options):
        operator = principal_from_option(user)
        cause = None if isinstance(operator, SystemPrincipal) else user_of(operator)
        found = find_unfinished() if dry_run else reconcile(cause=cause)
        left = 0
        for unfinished in found:
            ids = ", ".join(str(o.pk) for o in unfinished.objects[:20])
            if dry_run:
                self.stdout.write(
                    f"{unfinished.name}: {len(unfinished.objects)} unfinished ({unfinished.label}): {ids}"
                )
                left += len(unfinished.objects)
                continue
            self.stdout.write(
                f"{unfinished.name}: {unfinished.completed} of {len(unfinished.objects)} completed ({unfinished.label})"
            )
            for error in unfinished.errors:
                self.stderr.write(f"  {error}")
            left += len(unfinished.errors)
        if not found:
            self.stdout.write("nothing unfinished")
        if left:
            raise SystemExit(1)
