import pytest

from epigrid.gates import services


@pytest.fixture
def gate(world):
    """北门 of compound S-C-G1, opened by the community secretary, with its passes issued."""
    checkpoint = services.checkpoint_open(grid=world.nodes["S-C-G1"], name="北门", principal=world.users["secretary"])
    services.passes_issue(grid=world.nodes["S-C-G1"], principal=world.users["head1"])
    return checkpoint
