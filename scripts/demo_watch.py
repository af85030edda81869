"""``make demo-watch``: a watch list on a moving sandbox, about a minute, end to end.

1. start the embedded server (``python -m jditem.cli serve``) on a free loopback port
   with a temporary home, the sandbox drift accelerated (``JDITEM_SANDBOX_DRIFT_SPEED``:
   a minute of wall time is about ten days of sandbox time), a result TTL shorter than
   the check interval (every check sees the sandbox's state now) and a low interval
   floor (``JDITEM_WATCH_MIN_INTERVAL_SECONDS``);
2. create an account and a token with ``jditem admin``;
3. create a watch list over 50 demo items (the 22 sample SKUs, then synthetic ids)
   checked every few seconds within a daily budget, through the client library;
4. let the server's scheduler check them for ``--seconds`` (60), with a progress line;
5. print the changes it saw (``GET /api/history/{itemId}``: item, field, before → after),
   the checks and what they cost (the list's status, the account's ledger), and where to
   look further; then stop the server (``--keep``: keep it running until Ctrl-C).

The token only travels through environment variables and the client; it is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo import cli, free_port, stop, wait_healthy

from jditem import Client
from jditem.protocol.monitoring import TRACKED_FIELDS, ChangePoint, WatchList

ITEMS = 50
INTERVAL = 5  # seconds between two checks of an item
DRIFT_SPEED = 14_400  # sandbox seconds per wall second: 1 min ≈ 10 days
BUDGET = "20.00"  # yuan a day for the list
LIST = "demo-watch"
FIRST_CHECK_GRACE = 60.0  # seconds the demo waits beyond --seconds for a first check


def demo_ids(count: int) -> list[str]:
    """The sample SKUs first, then synthetic ids (the sandbox drifts every id)."""
    from jditem.server.collectors.catalog import catalog_skus

    skus = list(catalog_skus())[:count]
    return skus + [str(100_200_300_000 + i) for i in range(count - len(skus))]


def changes(points: list[ChangePoint]) -> Iterator[tuple[ChangePoint, str, Any, Any]]:
    """(point, field, before, after) for every tracked field that differs between two
    consecutive points; a masked current price is unknown, so it is skipped next to one."""
    for before, after in itertools.pairwise(points):
        old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
        masked = before.price_masked or after.price_masked
        for name in TRACKED_FIELDS:
            if masked and name == "price_current":
                continue  # hidden by the mask: unknown, not a change
            if old[name] != new[name]:
                yield after, name, old[name], new[name]


def show(value: Any, width: int = 32) -> str:
    if isinstance(value, list):
        text = "; ".join(str(v) for v in value) or "(none)"
    else:
        text = "—" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def server_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDITEM_")}
    env.update(
        {
            "JDITEM_HOME": str(work / "server"),
            "JDITEM_SANDBOX_DRIFT": "true",
            "JDITEM_SANDBOX_DRIFT_SPEED": str(DRIFT_SPEED),
            "JDITEM_SANDBOX_LATENCY_MS": "[50, 300]",
            "JDITEM_RESULT_TTL_SECONDS": "1",
            "JDITEM_WATCH_MIN_INTERVAL_SECONDS": "1",
            "JDITEM_WATCH_TICK_SECONDS": "0.5",
            "JDITEM_ADMIN_KEY": os.environ.get("JDITEM_ADMIN_KEY") or secrets.token_urlsafe(32),
        }
    )
    return env


def secret_file(path: Path, secret: str) -> Path:
    """Write ``secret`` to a new file only its owner can read; return its path."""
    path.touch(mode=0o600)
    path.write_text(secret + "\n", encoding="utf-8")
    return path


def make_token(env: dict[str, str]) -> str:
    made = cli("admin", "account", "create", "watch-demo", "--balance", "100", env=env)
    if made.returncode != 0:
        raise SystemExit(f"admin account create failed: {made.stderr.strip()}")
    created = cli(
        "admin", "token", "create", "--account", "watch-demo", "--name", "watcher", "--unlimited",
        env=env,
    )  # fmt: skip
    if created.returncode != 0 or not created.stdout.strip():
        raise SystemExit(f"admin token create failed: {created.stderr.strip()}")
    return created.stdout.strip().splitlines()[-1].strip()


def run(client: Client, ids: list[str], seconds: float, interval: int) -> WatchList:
    """Create the list, let the scheduler work for ``seconds`` (progress line), return it."""
    client.watch.create(LIST, interval_seconds=interval, daily_budget=BUDGET, items=ids)
    print(
        f"▶ watch list '{LIST}': {len(ids)} items, every {interval} s, budget {BUDGET} CNY/day; "
        f"the sandbox runs {DRIFT_SPEED:,}x faster than the clock"
    )
    started = time.monotonic()
    tty, printed = sys.stdout.isatty(), -10.0
    watched = client.watch.show(LIST)
    # the time asked for, and on a slow machine until the first check (bounded)
    while (elapsed := time.monotonic() - started) < seconds or (
        watched.status.checks_today == 0 and elapsed < seconds + FIRST_CHECK_GRACE
    ):
        time.sleep(1.0 if elapsed >= seconds else min(1.0, seconds - elapsed))
        watched = client.watch.show(LIST)
        status = watched.status
        line = (
            f"  {min(elapsed + 1, seconds):4.0f}/{seconds:.0f} s  checks {status.checks_today}"
            f"  changes {status.changes_today}  spent {status.spent_today} CNY"
            f"  sandbox +{(time.monotonic() - started) * DRIFT_SPEED / 86400:.1f} days"
        )
        if tty:
            print("\r" + line, end="", flush=True)
        elif elapsed >= printed + 10:  # not a terminal: a line every 10 s
            printed = elapsed
            print(line, flush=True)
    if tty:
        print()
    client.watch.pause(LIST)  # no check starts now; let the ones under way finish
    deadline, before = time.monotonic() + 30, -1
    while watched.status.checks_today != before and time.monotonic() < deadline:
        before = watched.status.checks_today
        time.sleep(3.0)
        watched = client.watch.show(LIST)
    return watched


def report(client: Client, ids: list[str], watched: WatchList, shown: int = 25) -> int:
    """Print the changes seen (from the history API) and the checks' cost; returns the
    number of changes."""
    seen: list[tuple[str, ChangePoint, str, Any, Any]] = []
    for item in ids:
        seen += [(item, *change) for change in changes(client.history(item).points)]
    seen.sort(key=lambda c: c[1].valid_from)
    fields = Counter(c[2] for c in seen)
    print(
        f"▶ {len(seen)} changes seen on {len({c[0] for c in seen})} of {len(ids)} items: "
        + ", ".join(f"{name} {n}" for name, n in fields.most_common())
    )
    for item, point, field, before, after in seen[:shown]:
        stamp = point.valid_from.strftime("%H:%M:%S")
        print(f"  {stamp}  {item:>14}  {field:<16} {show(before)} → {show(after)}")
    if len(seen) > shown:
        print(f"  … and {len(seen) - shown} more (jditem history ITEM shows each item's)")
    status = watched.status
    checks = status.checks_today
    per_check = (Decimal(status.spent_today) / checks).quantize(Decimal("0.0001")) if checks else 0
    print(
        f"▶ {checks} checks, charged {status.spent_today} CNY ({per_check} CNY a check) "
        f"against a budget of {watched.daily_budget} CNY/day"
    )
    return len(seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to watch (60)")
    parser.add_argument("--items", type=int, default=ITEMS, help=f"items watched ({ITEMS})")
    parser.add_argument("--interval", type=int, default=INTERVAL, help="check interval, s")
    parser.add_argument("--keep", action="store_true", help="keep the server until Ctrl-C")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="jditem-demo-watch-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(work)
    print(f"▶ starting the embedded server on {base_url} (temporary database in {work})")
    log = (work / "server.log").open("wb")  # a file, not a pipe nobody reads while it runs
    server = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jditem.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        try:
            wait_healthy(base_url, server)
        except SystemExit:
            sys.stderr.write((work / "server.log").read_text(errors="replace")[-4000:])
            raise
        token = make_token(env)
        print("▶ created account 'watch-demo' (100 CNY) and a token for the list")
        ids = demo_ids(args.items)
        with Client(base_url=base_url, token=token) as client:
            watched = run(client, ids, args.seconds, args.interval)
            report(client, ids, watched)
        accounts = cli("admin", "account", "list", env=env)
        print("▶ the account's balance after the charges (jditem admin account list):")
        print("  " + "\n  ".join(accounts.stdout.strip().splitlines()))
        print(
            f"▶ see more: JDITEM_TOKEN=… jditem history {ids[0]} --base-url {base_url}"
            f"  ·  jditem watch show {LIST} --base-url {base_url}"
        )
        if args.keep:
            token_file, key_file = (
                secret_file(work / "token", token),
                secret_file(work / "admin-key", env["JDITEM_ADMIN_KEY"]),
            )
            print(
                f"▶ kept running: the list and its items' price charts at "
                f"{base_url}/console/watch (admin key in {key_file}); "
                f"the token is in {token_file} "
                f"(JDITEM_TOKEN=$(cat {token_file})); the list is paused — `jditem watch "
                f"resume {LIST}` checks again. Ctrl-C stops and deletes it all."
            )
            with contextlib.suppress(KeyboardInterrupt):
                server.wait()
        return 0
    finally:
        stop(server)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
