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


@pytest.mark.parametrize("width", [80, 100])
def test_bar_keeps_done_total_elapsed_and_eta_at_80_columns(width: int) -> None:
    """On main the counters pushed done/total and the elapsed time off an 80-column line."""
    from rich.console import Console

    stats = BatchStats(total=100_000, done=51_234, failed=12, calls=60_000, cached=300, throttled=7)
    bar = BarProgress(stats, stream=io.StringIO())
    bar._console.width = width
    bar.tick()
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(bar._progress.get_renderable())
    line = console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]
    assert "\n" not in line
    assert len(line) <= width
    assert "51546/100000" in line
    assert "0:00:0" in line
    assert "ETA" in line
    assert "failed 12" in line
    assert "cached 300" in line  # main cut these two at 80 columns (issue 18 item 8)
    assert "302 7" in line
