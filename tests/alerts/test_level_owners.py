"""level_owners, the sweeps' one-query form of level_owner, names the same owner for every grid."""

import pytest

from epigrid.alerts.choices import EscalationLevel
from epigrid.alerts.services import LEVEL_OWNERS, level_owner, level_owners
from epigrid.grids.choices import GridLevel

DEPTH = [GridLevel.SUBDISTRICT, GridLevel.COMMUNITY, GridLevel.GRID, GridLevel.BUILDING]


@pytest.mark.parametrize("level", list(LEVEL_OWNERS))
def test_level_owners_names_whom_level_owner_names(world, level):
    depth = DEPTH.index(LEVEL_OWNERS[EscalationLevel(level)][0])
    paths = [node.path for node in world.nodes.values() if node.level in DEPTH[depth:]]
    expected = {path: getattr(level_owner(level=level, grid_path=path), "pk", None) for path in paths}
    assert level_owners([(level, path) for path in paths * 2]) == {(level, p): v for p, v in expected.items()}
    assert all(expected.values())  # every post of the world is filled: the answer names someone
