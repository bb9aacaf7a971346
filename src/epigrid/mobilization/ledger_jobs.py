"""The mobilization ledgers' imports as background jobs (core.jobs), as the residents' ledger's
(people.ledgers): what refuses the file before any row is read (the right, its type, size and
header) is answered at the request (4xx); the rows are read and written by the job, whose page
follows it and shows the report (each row created, updated or unchanged), or every refused row
with nothing written. One kind of job for the chain ledger and the units, volunteers and hours
ledgers: its params carry the ledger's kind.

Their exports in the background are the residents' ledger's job (people.ledgers `ledger_export`),
to which these ledgers are contributed ("ledger_exports")."""

from django.utils.translation import gettext_lazy as _

from epigrid.accounts.permissions import job_start_for, job_user
from epigrid.core import jobs
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.people import ledgers as people_ledgers
from epigrid.people.ledgers import LedgerExport

from . import ledgers, team_ledgers

IMPORT_JOB = "mobilization_ledger_import"
CHAIN = "chain"
KINDS = (CHAIN, *team_ledgers.KINDS)


def ledger_import_check(*, kind: str, data: bytes, file_name: str, principal) -> None:
    if kind == CHAIN:
        ledgers.chain_import_check(data=data, file_name=file_name, principal=principal)
    elif kind in team_ledgers.SHEETS:
        team_ledgers.team_ledger_import_check(kind=kind, data=data, file_name=file_name, principal=principal)
    else:
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")


def ledger_import_start(*, kind: str, data: bytes, file_name: str, principal):
    """Queue the import of a mobilization ledger (`kind`: chain, units, volunteers or hours) as a
    background job; refused now (4xx) where the file is refused before any row is read."""
    ledger_import_check(kind=kind, data=data, file_name=file_name, principal=principal)
    return job_start_for(
        kind=IMPORT_JOB,
        principal=principal,
        capability=Capability.IMPORT_EXPORT,
        params={"kind": kind, "file_name": (file_name or "")[:200]},
        data=data,
        file_name=file_name,
    )


def _run_import_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    with job.upload.open("rb") as fh:
        data = fh.read()
    kind, file_name = job.params["kind"], job.params["file_name"]
    if kind == CHAIN:
        report = ledgers.chain_import_report(data=data, file_name=file_name, principal=principal, progress=progress)
    else:
        report = team_ledgers.team_ledger_import(
            kind=kind, data=data, file_name=file_name, principal=principal, progress=progress
        )
        report = {"row_count": len(report["rows"]), **report}
    return {"kind": kind, **report}


# Contributed to "job_kinds" (mobilization.apps).
IMPORT_JOB_KIND = jobs.JobKind(
    IMPORT_JOB, _("Mobilization ledger import"), _run_import_job, "mobilization/import_report.html"
)


# ---------------------------------------------------------------- exports as background jobs


def ledger_export_start(*, kind: str, node, principal):
    """The chain, units, volunteers or hours ledger of `node`'s subtree written by the export job:
    refused now (404/403) where the caller may not export; its page follows it."""
    if kind not in KINDS:
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    return people_ledgers.ledger_export_start(kind=kind, node=node, principal=principal)


def _write_chain(*, kind: str, node, principal, progress=None):
    return ledgers.chain_write(node=node, principal=principal, progress=progress)


# Contributed to "ledger_exports" (mobilization.apps).
LEDGER_EXPORTS = [
    LedgerExport(CHAIN, _("Party chain"), _write_chain),
    LedgerExport("units", _("Ledger of registered units (双报到)"), team_ledgers.team_ledger_write),
    LedgerExport("volunteers", _("Ledger of volunteers"), team_ledgers.team_ledger_write),
    LedgerExport("hours", _("Ledger of volunteer hours"), team_ledgers.team_ledger_write),
]
