import json
import sys

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from epigrid.accounts.permissions import principal_from_option
from epigrid.grids.selectors import grid_node_get
from epigrid.oversight import selectors


class Command(BaseCommand):
    help = "Coverage audit (零疏漏): list every gap (error) and overlap (information). Exit 1 when gaps exist."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--grid", help="only this grid code's subtree")
        parser.add_argument("--user", help="act as this user (their scope)")

    def handle(self, *args, **options):
        principal = principal_from_option(options["user"])
        root = grid_node_get(user=principal, code=options["grid"]) if options["grid"] else None
        report = selectors.coverage_audit(user=principal, root=root)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": report.ok,
                        "gap_counts": report.gap_counts,
                        "overlap_counts": report.overlap_counts,
                        "gaps": [f.__dict__ for f in report.gaps],
                        "overlaps": [f.__dict__ for f in report.overlaps],
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            for finding in report.gaps + report.overlaps:
                kind = selectors.gap_kinds().get(finding.kind) or selectors.OVERLAP_KINDS.get(finding.kind)
                self.stdout.write(f"{finding.severity.upper():5} {kind}: {finding.label} [{finding.grid_code}]")
            total = sum(report.gap_counts.values())
            self.stdout.write(
                _("%(gaps)s gap(s), %(overlaps)s overlap(s)")
                % {"gaps": total, "overlaps": sum(report.overlap_counts.values())}
            )
        if not report.ok:
            sys.exit(1)
