"""The syntax tree's records: however a node is made, it is the same frozen value."""
from __future__ import annotations

import pytest

from detpack.errors import FrozenRecord
from detpack.spl.ast import Compare, InList, MatchAll


def test_a_node_made_from_positions_equals_one_made_from_names():
    by_position = InList("process_name", ("a", "b"), 7)
    by_name = InList(field="process_name", values=("a", "b"), pos=7)
    assert by_position == by_name and hash(by_position) == hash(by_name)
    assert by_position.values == ("a", "b") and by_position.pos == 7


def test_a_node_made_from_positions_stays_frozen():
    made = MatchAll(3)
    with pytest.raises(FrozenRecord):
        made.pos = 4
    with pytest.raises(FrozenRecord):
        del made.pos


@pytest.mark.parametrize("args, kwargs", [(("f", "="), {}), (("f", "=", "v", 0, False, "extra"), {}), (("f", "="), {"op": "="})])
def test_a_node_refuses_missing_extra_or_repeated_fields(args, kwargs):
    with pytest.raises(TypeError):
        Compare(*args, **kwargs)
