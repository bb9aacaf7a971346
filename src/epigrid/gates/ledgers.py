"""Downloads of the gate's data: the passage ledger (进出登记台账) and the print sheet of pass
cards. Each is a change of custody of personal data (addresses, visitors' names, the cards'
tokens) and is recorded in the audit log with what and how many, never the values."""

import datetime as dt
import tempfile

from django.core.paginator import Page, Paginator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.permissions import job_start_for, job_user
from epigrid.core import audit, jobs
from epigrid.core.capabilities import Capability
from epigrid.core.crypto import unseal
from epigrid.core.errors import DomainError
from epigrid.core.replica import from_replica
from epigrid.core.scoping import VIEW, authorize, grant_paths
from epigrid.core.xlsx import write_ledger
from epigrid.grids.models import STEP, GridNode

from .models import Checkpoint, HouseholdPass, Passage
from .sheet_pdf import SheetWriter

LEDGER_SHEET = "进出登记台账"
LEDGER_HEADERS = ["时间", "检查点", "方向", "出入证", "住户/来访", "体温", "结果", "原因", "值守人员"]
CARDS_PER_PAGE = 48


def _scope_path(principal) -> str:
    """The deepest node above everything the principal sees ("" for everywhere or several
    subdistricts): where a ledger of "all I see" is recorded."""
    paths = grant_paths(principal, VIEW)
    if not paths:
        return ""
    common = min(paths)
    for path in paths:
        while not path.startswith(common):
            common = common[:-STEP]
    return common


@from_replica  # the rows are read on the replica when one is configured and fresh (core/replica.py)
def passage_ledger_export(
    *, principal, checkpoint_id: int | None = None, day: dt.date | None = None, household_id: int | None = None
):
    """进出登记台账 of the passages the principal sees, filtered by checkpoint, day, household.
    Returns (file, filename)."""
    rows = Passage.objects.restrict(principal).select_related(
        "checkpoint", "grid", "household_pass__household", "household_pass__grid", "visitor", "guard"
    )
    grid_path = _scope_path(principal)
    if checkpoint_id is not None:
        rows = rows.filter(checkpoint_id=checkpoint_id)
        checkpoint = Checkpoint.objects.restrict(principal).select_related("grid").filter(pk=checkpoint_id).first()
        grid_path = checkpoint.grid.path if checkpoint else grid_path
    if day is not None:
        start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
        rows = rows.filter(at__gte=start, at__lt=start + dt.timedelta(days=1))
    if household_id is not None:
        rows = rows.filter(household_pass__household_id=household_id)
    data = (
        [
            timezone.localtime(p.at).strftime("%Y-%m-%d %H:%M"),
            str(p.checkpoint),
            p.get_direction_display(),
            *_ledger_who(p),
            str(p.temperature or ""),
            p.get_verdict_display(),
            p.get_reason_display() if p.reason else "",
            str(p.guard),
        ]
        for p in rows.order_by("at").iterator(chunk_size=2000)
    )
    out, count = write_ledger(sheet_name=LEDGER_SHEET, headers=LEDGER_HEADERS, rows=data, wide={1, 4})
    audit.record(
        principal=principal,
        action="ledger.export",
        object_type="gates.checkpoint" if checkpoint_id is not None else "grids.gridnode",
        object_id=str(checkpoint_id) if checkpoint_id is not None else "",
        grid_path=grid_path,
        changes={
            "kind": [None, "passages"],
            "rows": [None, count],
            "date": [None, day.isoformat() if day else None],
            "household": [None, household_id],
        },
    )
    return out, f"{LEDGER_SHEET}-{timezone.localdate():%Y%m%d}.xlsx"


def _ledger_who(p: Passage) -> tuple[str, str]:
    """The pass number and address, or the visitor. A passage recorded before passes of other
    compounds were refused as "not found" may name such a pass: its household is not shown here."""
    if p.visitor_id:
        return "", f"{p.visitor.name} ({p.visitor.reason})"
    household_pass = p.served_pass
    if household_pass is None:
        return "", ""
    return household_pass.number, household_pass.household.address


def _sheet_passes(grid, principal):
    return (
        HouseholdPass.objects.restrict(principal, Capability.ISSUE_PASSES)
        .in_subtree(grid.path)
        .filter(revoked_at__isnull=True)
        .select_related("household")
        .order_by("number")
    )


def pass_sheet(*, grid, page_number, principal) -> Page:
    """One page of the print sheet of a grid's pass cards (each card carries its pass's token);
    for those who issue passes there. The printing is audited: how many cards, which page."""
    authorize(principal, Capability.ISSUE_PASSES, grid.path)
    rows = _sheet_passes(grid, principal)
    page = Paginator(rows, CARDS_PER_PAGE).get_page(page_number)
    audit.record(
        principal=principal,
        action="passes.print",
        obj=grid,
        grid_path=grid.path,
        changes={"cards": [None, len(page.object_list)], "page": [None, page.number]},
    )
    return page


# ---------------------------------------------------------------- the whole sheet as a background job

PASS_SHEET_JOB = "pass_sheet"  # noqa: S105 - a job kind, not a password
QR_STEP = 100  # cards between two progress reports (a QR code takes ~8 ms: a city's sheet is minutes)


def pass_sheet_start(*, grid, principal):
    """Queue the print sheet of all of a grid's pass cards as a background job: refused now
    (404/403) where the caller may not issue passes; the job draws every card's QR code and keeps
    one PDF (A4 pages of eight cards, gates.sheet_pdf) that its starter downloads."""
    authorize(principal, Capability.ISSUE_PASSES, grid.path)
    return job_start_for(
        kind=PASS_SHEET_JOB,
        principal=principal,
        capability=Capability.ISSUE_PASSES,
        params={"grid": grid.code, "grid_id": grid.pk},
        data=None,
        file_name="",
        grid_path=grid.path,
    )


def _run_pass_sheet_job(job, progress) -> dict:
    principal = job_user(job.created_by, verified=job.params.get("second_factor", False))
    grid = GridNode.objects.filter(pk=job.params["grid_id"]).first()
    if grid is None:
        raise DomainError("grid_not_found", _("Unknown grid code (or outside your area)."))
    authorize(principal, Capability.ISSUE_PASSES, grid.path)  # the starter's right as it is now
    rows = _sheet_passes(grid, principal)
    progress.total(rows.count())
    # Drawn straight into a temporary file, a card at a time: no list of a city's cards in memory.
    with tempfile.TemporaryFile() as out:
        sheet = SheetWriter(out, title=f"临时出入证 {grid.name}")
        for done, p in enumerate(rows.iterator(chunk_size=500), 1):
            sheet.add(token=unseal(p.token_sealed), number=p.number, address=p.household.address, grid_name=grid.name)
            if done % QR_STEP == 0:
                progress.step(checked=done, written=done)
        sheet.close()
        progress.step(checked=sheet.cards, written=sheet.cards)
        audit.record(
            principal=principal,
            action="passes.print",
            obj=grid,
            grid_path=grid.path,
            changes={"cards": [None, sheet.cards], "page": [None, "all"]},
        )
        name = f"出入证-{grid.code}-{timezone.localtime():%Y%m%d-%H%M}.pdf"
        jobs.result_keep(job, out, name)
    return {"grid": grid.code, "cards": sheet.cards, "pages": sheet.pages, "file_name": name}


# Contributed to "job_kinds" (gates.apps).
PASS_SHEET_JOB_KIND = jobs.JobKind(PASS_SHEET_JOB, _("Pass card sheet"), _run_pass_sheet_job, makes_file=True)
