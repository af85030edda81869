"""``make demo-watch`` (``scripts/demo_watch.py``): the demo runs end to end, briefly,
and what it reports adds up; its change listing treats a masked price as unknown."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from jditem.protocol.monitoring import ChangePoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "demo_watch.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_watch", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _point(minute: int, **fields: object) -> ChangePoint:
    at = datetime(2026, 12, 1, 10, minute, tzinfo=UTC)
    return ChangePoint.model_validate({"valid_from": at, "last_confirmed_at": at, **fields})


def test_changes_lists_each_field_and_skips_the_current_price_next_to_a_masked_one() -> None:
    demo = _module()
    points = [
        _point(0, price_current="699.00", price_original="799.00", in_stock=True, title="A"),
        _point(1, price_current="649.00", price_original="799.00", in_stock=True, title="A"),
        _point(2, price_masked=True, price_original="749.00", in_stock=False, title="A"),
        _point(3, price_current="599.00", price_original="749.00", in_stock=False, title="B"),
    ]
    found = [(field, before, after) for _, field, before, after in demo.changes(points)]
    assert found == [
        ("price_current", "699.00", "649.00"),
        ("price_original", "799.00", "749.00"),  # shown while the current price is masked
        ("price_masked", False, True),
        ("in_stock", True, False),
        ("price_masked", True, False),
        ("title", "A", "B"),
    ]


def test_demo_ids_are_the_sample_skus_then_synthetic_ones() -> None:
    demo = _module()
    ids = demo.demo_ids(50)
    assert len(ids) == len(set(ids)) == 50
    assert ids[-1] == str(100_200_300_000 + 50 - 23)  # 22 sample SKUs, then 28 synthetic


def test_the_demo_runs_briefly_and_its_money_adds_up(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "5", "--items", "10", "--interval", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    checks, charged = re.search(r"▶ (\d+) checks, charged ([\d.]+) CNY", run.stdout).groups()  # type: ignore[union-attr]
    assert int(checks) > 0  # the demo waits (bounded) for a first check on a slow machine
    assert Decimal(charged) == int(checks) * Decimal("0.01")  # the default price: 100 units
    balance = re.search(r"watch-demo\s*│\s*([\d.]+)", run.stdout)
    # a check still under way when the demo read the list may be charged after it
    assert balance is not None
    assert Decimal(balance.group(1)) <= 100 - Decimal(charged)
    assert re.search(r"▶ \d+ changes seen on \d+ of 10 items", run.stdout)
    work = re.search(r"temporary database in (\S+)\)", run.stdout)
    assert work is not None
    assert not Path(work.group(1)).exists()
