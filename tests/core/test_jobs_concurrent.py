"""A running import seen from another connection, as its page sees it: the progress of each chunk
while the import's transaction is still open, and a cancel pressed meanwhile stopping it with
nothing written. PostgreSQL shows the progress on the job's row itself (written apart, in its own
transaction); SQLite, whose one writer holds the file until the import ends, through the cache."""

import threading

import pytest
from django.db import connection, connections

from epigrid.core import jobs
from epigrid.core.models import AuditChainHead, Job, JobStatus
from epigrid.people import ledgers
from epigrid.people.models import Person
from tests.factories import build_world
from tests.people.test_ledgers import HEADER, resident_rows, xlsx


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_shows_while_the_import_runs_and_a_cancel_stops_it(concurrent_db, settings, monkeypatch):
    from epigrid.grids import services as grid_services
    from epigrid.grids.choices import GridLevel

    settings.JOBS_RUNNER = "thread"
    monkeypatch.setattr(ledgers, "CHUNK", 10)
    # An earlier transactional test's flush took the chain head's row (made by a migration) too.
    AuditChainHead.objects.get_or_create(pk=1)
    world = build_world()
    grid = grid_services.grid_node_create(
        parent=world.nodes["S-C"], code="S-C-G3", name="第3网格", level=GridLevel.GRID, principal=world.admin
    )
    grid_services.grid_node_create(
        parent=grid, code="S-C-G3-B1", name="3号楼", level=GridLevel.BUILDING, principal=world.admin
    )
    persons = Person.objects.count()
    reached, go, finished = threading.Event(), threading.Event(), threading.Event()
    step = jobs.Progress.step

    def pause_after_the_second_chunk(self, *, checked, written):
        step(self, checked=checked, written=written)
        if checked == 20:
            reached.set()
            assert go.wait(30)

    monkeypatch.setattr(jobs.Progress, "step", pause_after_the_second_chunk)
    monkeypatch.setattr(jobs, "_run_in_thread", _signalling(jobs._run_in_thread, finished))
    job = ledgers.ledger_import_start(
        data=xlsx([HEADER, *resident_rows(45)]), file_name="a.xlsx", kind="residents", principal=world.users["staff"]
    )  # not in a transaction: queued and handed to its thread at once
    assert reached.wait(60), "the import did not reach its second chunk"
    try:
        row = Job.objects.get(pk=job.pk)
        assert row.status == JobStatus.RUNNING and row.rows_total == 45
        if connection.vendor == "postgresql":
            # Written apart, committed: any web process reads it from the row.
            assert (row.rows_checked, row.rows_written) == (20, 20)
        else:
            assert (row.rows_checked, row.rows_written) == (0, 0)  # only at the end on SQLite
        live = jobs.live(row)
        assert (live.rows_checked, live.rows_written) == (20, 20)
        assert Person.objects.count() == persons  # the written chunks are not committed
        if connection.vendor == "postgresql":
            # The owner presses cancel: committed at once, beside the import's open transaction.
            cancelled = jobs.job_cancel(job=row, principal=world.users["staff"])
            assert cancelled.status == JobStatus.RUNNING and cancelled.cancel_requested_at
    finally:
        go.set()
    assert finished.wait(60)
    row = Job.objects.get(pk=job.pk)
    if connection.vendor == "postgresql":
        assert row.status == JobStatus.CANCELLED and row.rows_written == 0 and row.rows_checked == 30
        assert Person.objects.count() == persons
    else:
        assert row.status == JobStatus.DONE and row.result["created"] == 45
    assert not row.upload
    connections.close_all()


def _signalling(run, finished):
    def wrapped(job_id):
        try:
            run(job_id)
        finally:
            finished.set()

    return wrapped
