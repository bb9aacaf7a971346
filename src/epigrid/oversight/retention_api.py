"""POST /api/v1/purge: the retention purge (or its dry run) as a background job, for the operator."""

from ninja import Router

from epigrid.core.api import ERRORS, In
from epigrid.core.job_api import JobOut, job_accepted

from . import retention

router = Router(tags=["retention"])


class PurgeIn(In):
    dry_run: bool = False  # count what would go, erase nothing


@router.post(
    "/purge",
    response={202: JobOut, **ERRORS},
    summary="Purge the personal data whose retention has ended, in a background job",
    description=(
        "Who may call: the operator alone — a user who may edit people everywhere (a superuser), with a verified "
        "second factor; anyone else 403 `purge_forbidden`. 202 with the job (`/api/v1/jobs/{id}`: follow it, "
        "cancel it); it ends `done` with `result` {dry_run, retention_days, counts: persons, households, notes, "
        "keys, links, temperature_reports, gate_passages}. With `dry_run` it only counts what would go; without, "
        "it anonymises the persons whose retention has ended, deletes their keys and the old temperature reports "
        "and gate passages, all or nothing (a cancel rolls it back) — irreversible: an API call is its own "
        "confirmation. Audited once (`retention.purge`, counts only), and the job's moves. No cascade."
    ),
)
def purge_start(request, payload: PurgeIn):
    job = retention.purge_start(principal=request.user, dry_run=payload.dry_run)
    return job_accepted(job)
