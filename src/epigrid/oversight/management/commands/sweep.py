import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from epigrid.oversight.sweeps import sweep_all


class Command(BaseCommand):
    help = "Run the periodic sweeps now: missed temperature slots, alert escalation, release proposals."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="pretend it is this ISO time (with zone), for replays")

    def handle(self, *args, at=None, **options):
        now = timezone.now()
        if at:
            try:
                now = dt.datetime.fromisoformat(at)
            except ValueError:
                raise CommandError("--at takes an ISO time like 2020-02-01T21:00+08:00") from None
            if timezone.is_naive(now):
                now = timezone.make_aware(now)
        for name, count in sweep_all(now=now).items():
            self.stdout.write(f"{name}: {count}")
