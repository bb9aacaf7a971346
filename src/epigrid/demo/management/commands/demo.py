from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from epigrid.accounts.models import User
from epigrid.demo import scenario


class Command(BaseCommand):
    help = "Load the reference scenario's data (建筑新村街道 → 花园路社区 → 第9网格 利农庄路23号院)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing when data is already loaded")
        parser.add_argument(
            "--as-of",
            help="replay the article's timeline up to this date (e.g. 2020-02-10) instead of loading today's live data",
        )

    def handle(self, *args, if_empty=False, **options):
        call_command("migrate", verbosity=0)
        if User.objects.exists():
            if if_empty:
                self.stdout.write("Demo data already loaded.")
                return
            raise CommandError("The database is not empty; the demo loads into an empty database.")
        as_of = options.get("as_of")
        result = scenario.load(live=not as_of)
        if as_of:
            import datetime as dt

            from epigrid.demo import timeline

            try:
                day = dt.date.fromisoformat(as_of)
            except ValueError:
                raise CommandError("--as-of takes a date like 2020-02-10") from None
            until = dt.datetime.combine(day, dt.time(23, 59), tzinfo=timeline.SHANGHAI)
            for step in timeline.replay(until=until):
                self.stdout.write(f"  {step.moment:%Y-%m-%d %H:%M} {step.label}")
        self.stdout.write(self.style.SUCCESS(f"Loaded {result['nodes']} grid nodes and {result['persons']} persons."))
        self.stdout.write(f"Demo logins (password: {scenario.DEMO_PASSWORD}):")
        for username, _name, _role, _grid, label in result["logins"]:
            self.stdout.write(f"  {username:<10} {label}")
        self.stdout.write(
            "Second factor of admin, commander, community, gridhead9, member9 and doctor: the TOTP secret "
            f"{scenario.DEMO_TOTP_SECRET} (add it to an authenticator app, or `oathtool --totp -b SECRET`)."
        )
