"""Progress displays: JSON lines for logs, a rich bar, nothing."""

from __future__ import annotations

import io
import json

import pytest

from jditem.batch.progress import BarProgress, JsonProgress, ProgressDisplay, make_progress
from jditem.batch.stats import BatchStats


async def test_json_progress_prints_a_final_snapshot() -> None:
    stats = BatchStats(total=10, done=3, cached=2, calls=5)
    out = io.StringIO()
    display = make_progress("json", stats, stream=out)
    assert isinstance(display, JsonProgress)
    async with display:
        pass
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["done"] == 5
    assert last["cached"] == 2
    assert last["calls"] == 5
    assert last["remaining"] == 5


async def test_bar_progress_renders_counters() -> None:
    stats = BatchStats(total=4, done=1, failed=1, calls=7)
    out = io.StringIO()
    display = make_progress("bar", stats, stream=out)
    assert isinstance(display, BarProgress)
    async with display:
        stats.done = 2
    text = out.getvalue()
    assert "calls 7" in text
    assert "failed" in text
    assert "pending" in text


def test_auto_is_quiet_off_a_terminal() -> None:
    display = make_progress("auto", BatchStats(), stream=io.StringIO())
    assert type(display) is ProgressDisplay
    with pytest.raises(ValueError, match="unknown progress mode"):
        make_progress("loud", BatchStats())
