"""A place is in the care of its geographic grid and of its thematic grid (专属网格)."""

import pytest

from epigrid.core.errors import NotFound
from epigrid.grids import services


def test_the_thematic_head_edits_a_place_of_their_thematic_grid(world):
    clinic = world.places["clinic"]  # in S-C-G1, filed under the medical thematic grid S-MED
    updated = services.place_update(place=clinic, address="幸福里1号", principal=world.users["medhead"])
    assert updated.address == "幸福里1号"


def test_a_grid_member_elsewhere_cannot_even_see_it(world):
    with pytest.raises(NotFound):
        services.place_update(place=world.places["clinic"], address="x", principal=world.users["member2"])
