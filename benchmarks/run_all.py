"""Run every benchmark script in ``benchmarks/`` one after another (``make bench``).

Each script runs with its defaults in its own process, so one failing benchmark does not
stop the others; the exit status is non-zero when any of them failed. Pass ``--only
NAME`` (repeatable, file stem) to run a subset.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Per-script bound, so a stuck benchmark cannot hang ``make bench``.
TIMEOUT_SECONDS = 1800


def scripts() -> list[Path]:
    """Benchmark scripts: every ``*.py`` here except this runner and private modules."""
    return sorted(
        path
        for path in HERE.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run only this script stem")
    args = parser.parse_args()
    selected = [p for p in scripts() if not args.only or p.stem in args.only]
    failed: list[str] = []
    for path in selected:
        print(f"\n=== {path.name} ===", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(
                [sys.executable, str(path)], cwd=HERE.parent, timeout=TIMEOUT_SECONDS
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"{path.name}: timed out after {TIMEOUT_SECONDS} s", flush=True)
        print(f"=== {path.name}: exit {code} in {time.monotonic() - started:.0f} s ===", flush=True)
        if code != 0:
            failed.append(path.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    print(f"\nall {len(selected)} benchmarks finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
