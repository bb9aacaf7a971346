import shutil
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from epigrid.accounts.permissions import principal_from_option
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, RowErrors
from epigrid.core.models import ImportKind
from epigrid.core.tabular import check_size
from epigrid.grids.selectors import grid_node_get
from epigrid.people import ledgers


class Command(BaseCommand):
    help = (
        "Import or export a ledger (台账): `epigrid ledger import FILE --kind residents`, "
        "`epigrid ledger export --kind places --grid JZXC -o places.xlsx`."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["import", "export"])
        parser.add_argument("file", nargs="?", help="the .xlsx/.csv file to import")
        parser.add_argument("--kind", choices=ImportKind.values, required=True)
        parser.add_argument("--grid", help="export: the subtree to export")
        parser.add_argument("-o", "--output", help="export: where to write the .xlsx")
        parser.add_argument("--user", help="act as this user (their scope and rights); default: system")

    def handle(self, *args, **o):
        principal = principal_from_option(o["user"])
        if principal.pk is None and o["action"] == "import":
            raise CommandError("imports are recorded against a person: give --user")
        try:
            if o["action"] == "import":
                if not o["file"]:
                    raise CommandError("give the file to import")
                path = Path(o["file"])
                check_size(path.stat().st_size)
                batch = ledgers.ledger_import(
                    data=path.read_bytes(), file_name=path.name, kind=o["kind"], principal=principal
                )
                counts = ", ".join(f"{key} {batch.report[key]}" for key in ledgers.OUTCOMES)
                self.stdout.write(self.style.SUCCESS(f"imported {batch.row_count} rows (batch {batch.pk}): {counts}"))
            else:
                node = grid_node_get(user=principal, code=o["grid"] or "", capability=Capability.IMPORT_EXPORT)
                out, name = ledgers.ledger_export(kind=o["kind"], node=node, principal=principal)
                target = Path(o["output"] or name)
                with target.open("wb") as fh:
                    shutil.copyfileobj(out, fh)
                self.stdout.write(self.style.SUCCESS(f"wrote {target}"))
        except RowErrors as exc:
            for row in exc.rows:
                self.stderr.write(f"row {row['row']} {row['column']}: {row['message']}")
            self.stderr.write(f"{exc.render()} (refused rows: {exc.refused})")
            sys.exit(1)
        except DomainError as exc:
            raise CommandError(exc.render()) from None
