from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from epigrid.accounts.models import User
from epigrid.demo import scenario


class Command(BaseCommand):
    help = "Load the reference scenario's data (建筑新村街道 → 花园路社区 → 第9网格 利农庄路23号院)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing when data is already loaded")

    def handle(self, *args, if_empty=False, **options):
        call_command("migrate", verbosity=0)
        if User.objects.exists():
            if if_empty:
                self.stdout.write("Demo data already loaded.")
                return
            raise CommandError("The database is not empty; the demo loads into an empty database.")
        result = scenario.load()
        self.stdout.write(self.style.SUCCESS(f"Loaded {result['nodes']} grid nodes and {result['persons']} persons."))
        self.stdout.write(f"Demo logins (password: {scenario.DEMO_PASSWORD}):")
        for username, _name, _role, _grid, label in result["logins"]:
            self.stdout.write(f"  {username:<10} {label}")
