"""An import does not stop the city's other writers: its rows are written chunk by chunk inside
one transaction, but its audit entries are appended to the chain once, at the end, so the chain's
head (which every audited write locks until its commit) is free while the import runs."""

import threading

import pytest
from django.db import connection

from epigrid.core import audit
from epigrid.core.models import AuditEvent
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel
from epigrid.people import ledgers
from tests.people.test_ledgers import HEADER, resident_rows, xlsx


class _WriteBetweenChunks:
    """A progress listener that, after the import's first chunk, has another connection make an
    audited change, allowed to wait for a lock at most 2 s."""

    def __init__(self, principal):
        self.principal, self.outcome = principal, None

    def total(self, rows):
        pass

    def step(self, *, checked, written):
        if self.outcome is None:
            thread = threading.Thread(target=self._write)
            thread.start()
            thread.join()

    def _write(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
            audit.record(principal=self.principal, action="test.beside_import", object_type="test", object_id="1")
            self.outcome = "written"
        except Exception as exc:  # the lock timeout, if the import held the chain's head
            self.outcome = repr(exc)
        finally:
            connection.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_audited_write_goes_through_while_an_import_runs(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: concurrent writes need PostgreSQL")
    from tests.factories import build_world

    world = build_world()
    grid = grid_services.grid_node_create(
        parent=world.nodes["S-C"], code="S-C-G3", name="第3网格", level=GridLevel.GRID, principal=world.admin
    )
    grid_services.grid_node_create(
        parent=grid, code="S-C-G3-B1", name="3号楼", level=GridLevel.BUILDING, principal=world.admin
    )
    monkeypatch.setattr(ledgers, "CHUNK", 4)  # a few chunks from a small file
    listener = _WriteBetweenChunks(world.admin)
    batch = ledgers.ledger_import(
        data=xlsx([HEADER, *resident_rows(12)]),
        file_name="a.xlsx",
        kind="residents",
        principal=world.users["staff"],
        progress=listener,
    )
    assert listener.outcome == "written"
    assert batch.row_count == 12
    # The other writer's row is in the chain before the import's, and the chain holds.
    other = AuditEvent.objects.get(action="test.beside_import")
    first_of_import = AuditEvent.objects.filter(action="person.import").order_by("id").first()
    assert other.id < first_of_import.id
    assert audit.verify().ok
