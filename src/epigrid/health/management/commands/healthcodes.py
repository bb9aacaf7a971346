"""epigrid healthcodes [--rebuild]: check (or mend) the stored facts behind the health codes."""

from django.core.management.base import BaseCommand, CommandError

from epigrid.health import codes


class Command(BaseCommand):
    help = "Check that each person's stored health-code facts match the cases, orders and reports; --rebuild mends."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="store the facts anew where they drifted")

    def handle(self, *args, rebuild=False, **options):
        if rebuild:
            self.stdout.write(f"health codes: {codes.rebuild()} person(s) mended")
            return
        drifted = codes.drifted()
        if drifted:
            raise CommandError(f"{len(drifted)} person(s) with drifted health-code facts: run with --rebuild")
        self.stdout.write("health codes: stored facts match")
