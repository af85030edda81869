"""Task ids: prefix, length, alphabet, time order."""

from __future__ import annotations

import re

from jditem.server.ids import new_task_id


def test_task_id_shape_and_uniqueness() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000
    for task_id in ids:
        assert re.fullmatch(r"t_[0-9A-HJKMNP-TV-Z]{26}", task_id)
        assert len(task_id) <= 40  # fits tasks.id


def test_task_ids_sort_by_time() -> None:
    earlier = new_task_id(ms=1_700_000_000_000)
    later = new_task_id(ms=1_700_000_000_001)
    assert earlier < later
    assert new_task_id(ms=0).startswith("t_0000000000")
