from django.core.management.base import BaseCommand

from epigrid.core import partitions


class Command(BaseCommand):
    help = (
        "Monthly partitions (PostgreSQL): `epigrid partitions ensure` creates the coming months' "
        "partitions of readings and passages (beat does it daily; run it as the tables' owner "
        "when the application role may not create tables); `epigrid partitions list` shows them."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["ensure", "list"])
        parser.add_argument("--months-ahead", type=int, default=3)

    def handle(self, *args, action, months_ahead, **options):
        if not partitions.enabled():
            self.stdout.write("no partitions on this database (PostgreSQL only)")
            return
        if action == "ensure":
            created = partitions.partitions_ensure(months_ahead=months_ahead)
            self.stdout.write(self.style.SUCCESS(f"{len(created)} partitions created: {', '.join(created) or '-'}"))
            return
        for table in partitions.partitioned_tables():
            months = sorted(partitions.partitions(table))
            span = f"{months[0]:%Y-%m} .. {months[-1]:%Y-%m}" if months else "-"
            self.stdout.write(f"{table}: {len(months)} monthly partitions ({span}) and a default")
