"""bulk_insert (COPY on PostgreSQL) writes exactly what bulk_create would."""

from epigrid.core import audit
from epigrid.core.bulk import bulk_insert
from epigrid.people.models import Household


def _row(h):
    return {
        k: v
        for k, v in Household.objects.filter(pk=h.pk).values().get().items()
        if k not in {"id", "created_at", "updated_at", "number"}
    }


def test_bulk_insert_matches_bulk_create(world):
    grid = world.nodes["S-C-G1-B1"]
    copied = bulk_insert(Household, [Household(grid=grid, number="9-901", address="九单元901 'quoted' \\ tab\t")])
    created = Household.objects.bulk_create(
        [Household(grid=grid, number="9-902", address="九单元901 'quoted' \\ tab\t")]
    )
    assert copied[0].pk is not None and copied[0].pk != created[0].pk
    assert _row(copied[0]) == _row(created[0])
    assert Household.objects.get(pk=copied[0].pk).created_at is not None


def test_audit_chain_written_by_copy_verifies(world):
    audit.record_many(
        principal=world.admin,
        entries=[audit.AuditEntry("x.test", "people.person", str(i), "", {"i": [None, i]}) for i in range(50)],
    )
    assert audit.verify().ok
