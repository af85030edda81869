"""``jditem batch`` / ``jditem export`` against the real server (loopback, real SQLite).

The in-process runs use typer's CliRunner; the crash and Ctrl-C tests run the CLI as a
subprocess so they can ``kill -9`` / interrupt it.
"""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
from pathlib import Path

import pytest
from tests.support.cli_runs import journal_states, run_cli, spawn, write_input
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

IDS = [str(100_000_000_000 + i) for i in range(1, 41)]


def out_ids(path: Path) -> list[str]:
    return [json.loads(line)["sku_id"] for line in path.read_text(encoding="utf-8").splitlines()]


def charges_by_item(live: LiveServer) -> dict[str, int]:
    rows = live.rows("SELECT item_id, count(*) FROM ledger WHERE kind = 'charge' GROUP BY item_id")
    return {str(item): int(n) for item, n in rows}


def v2_calls(live: LiveServer) -> int:
    return int(live.scalar("SELECT count(*) FROM call_records"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"JDITEM_HOME": str(tmp_path / "home"), "JDITEM_TOKEN": ""}


def test_batch_end_to_end_rerun_cache_refresh_and_no_token_on_disk(
    live: LiveServer, tmp_path: Path, env: dict[str, str]
) -> None:
    token = live.make_token("acme", balance_yuan="10")
    env["JDITEM_TOKEN"] = token
    extra = (
        "# comment\n\nhttps://item.jd.com/100000000001.html?from=x\n"
        "item.m.jd.com/product/100000000002.html\nnot-an-id\n"
    )
    source = write_input(tmp_path / "ids.txt", IDS[:20], extra)
    out = tmp_path / "out" / "products.jsonl"
    base = ["batch", str(source), "-o", str(out), "--base-url", live.base_url, "--progress", "none"]

    first = run_cli([*base, "--job", "one", "--concurrency", "4"], env)
    assert first.exit_code == 0, first.output
    assert "line 25: 'not-an-id'" in first.stderr
    assert sorted(out_ids(out)) == sorted(IDS[:20])
    assert "charged: 20" in first.stdout
    calls = v2_calls(live)
    assert charges_by_item(live) == dict.fromkeys(IDS[:20], 1)

    again = run_cli([*base, "--job", "one"], env)  # same job: nothing to ask
    assert again.exit_code == 0
    assert v2_calls(live) == calls
    assert sorted(out_ids(out)) == sorted(IDS[:20])

    other = run_cli([*base, "--job", "two"], env)  # new job, same ids: the local cache
    assert other.exit_code == 0, other.output
    assert v2_calls(live) == calls
    assert "20 from the local cache" in other.stdout

    refreshed = run_cli([*base, "--job", "three", "--refresh", "--format", "csv"], env)
    assert refreshed.exit_code == 0
    assert v2_calls(live) > calls
    assert out.read_text(encoding="utf-8").startswith("requested_id,id_mismatch,sku_id,")

    exported = tmp_path / "again.parquet"
    result = run_cli(["export", "one", "-o", str(exported)], env)
    assert result.exit_code == 0
    assert "exported 20 products" in result.stdout

    home = Path(env["JDITEM_HOME"])
    files = [*home.rglob("*"), *out.parent.rglob("*"), exported]
    assert files
    for path in files:
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def _token_ref(live: LiveServer) -> str:
    tokens = live.admin("GET", "/tokens")
    return str(tokens[-1]["id"])


def test_budget_exhausted_stops_within_concurrency_then_resume_finishes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    concurrency = 4
    with live_server(sandbox_latency_ms=(5, 30)) as live:
        token = live.make_token("acme", balance_yuan="10", budget_yuan="0.07")  # 7 items
        env["JDITEM_TOKEN"] = token
        source = write_input(tmp_path / "ids.txt", IDS)
        out = tmp_path / "p.jsonl"
        args = [
            "batch",
            str(source),
            "-o",
            str(out),
            "--job",
            "budget",
            "--base-url",
            live.base_url,
            "--concurrency",
            str(concurrency),
            "--progress",
            "none",
        ]
        stopped = run_cli(args, env)
        assert stopped.exit_code == 4, stopped.output
        assert "code 602" in stopped.stdout
        assert "jditem batch --job budget --resume" in stopped.stdout
        codes = [c for (c,) in live.rows("SELECT code FROM call_records ORDER BY id")]
        first = codes.index(602)
        assert len(codes) - first - 1 <= concurrency
        assert sorted(out_ids(out)) == sorted(charges_by_item(live))
        assert len(out_ids(out)) == 7

        journal = sqlite3.connect(Path(env["JDITEM_HOME"]) / "jobs" / "budget.sqlite")
        states = dict(journal.execute("SELECT state, count(*) FROM items GROUP BY state"))
        journal.close()
        assert states.get("done") == 7
        assert "failed" not in states
        assert sum(states.values()) == len(IDS)

        live.admin("PATCH", f"/tokens/{_token_ref(live)}", {"budget_yuan": "100"})
        resumed = run_cli(["batch", "--job", "budget", "--resume", "--progress", "none"], env)
        assert resumed.exit_code == 0, resumed.output
        assert sorted(out_ids(out)) == sorted(IDS)
        assert charges_by_item(live) == dict.fromkeys(IDS, 1)


def test_kill_9_then_rerun_every_id_once(tmp_path: Path, env: dict[str, str]) -> None:
    """``kill -9`` of a 500-item batch at a random moment, then a rerun.

    Output: every unique id exactly once. Ledger: exactly one charge per unique id
    across both runs. A call on the wire at the kill is still answered — and charged —
    by the server although nobody reads the answer; the rerun asks again with the same
    ``Idempotency-Key`` (job uid + generation + item id, from the journal), so the
    server replays that paid result free instead of charging a second time.
    """
    ids = [str(200_000_000_000 + i) for i in range(500)]
    concurrency = 8
    with live_server(sandbox_latency_ms=(10, 60), wait_seconds=0.5) as live:
        env["JDITEM_TOKEN"] = live.make_token("acme", balance_yuan="100")
        source = write_input(tmp_path / "ids.txt", ids + ids[:50])
        out = tmp_path / "p.jsonl"
        args = [
            "batch",
            str(source),
            "-o",
            str(out),
            "--job",
            "crash",
            "--base-url",
            live.base_url,
            "--concurrency",
            str(concurrency),
            "--progress",
            "none",
        ]
        # Kill at a point chosen by charges, not by the clock (seeded: reproducible).
        kill_after = random.Random(500).randint(40, 300)
        proc = spawn(args, env)
        wait_until(
            lambda: len(charges_by_item(live)) >= kill_after,
            what=f"{kill_after} items charged",
            timeout=120,
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        at_kill = journal_states(env, "crash")
        assert 0 < sum(s == "done" for s in at_kill.values()) < len(ids), "kill landed mid-run"
        wait_until(
            lambda: (
                live.scalar("SELECT count(*) FROM tasks WHERE status IN ('queued', 'running')") == 0
            ),
            what="the server finished the orphaned calls",
        )

        rerun = spawn(args, env)
        stdout, stderr = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, stdout + stderr
        assert sorted(out_ids(out)) == sorted(ids)
        charges = charges_by_item(live)
        assert charges == dict.fromkeys(ids, 1)
        # every charge was written with its key; replays were served free
        keyed = live.rows("SELECT item_id, key FROM idempotency_keys")
        assert sorted(item for item, _ in keyed) == sorted(ids)
        assert all(key.endswith(f"-0-{item}") for item, key in keyed)
        replays = live.rows(
            "SELECT item_id FROM call_records WHERE code = 0 AND charged = 0 "
            "AND item_id IS NOT NULL"
        )
        assert all(at_kill[item] == "inflight" for (item,) in replays), replays
        print(
            f"killed with {sum(s == 'done' for s in at_kill.values())} done, "
            f"{sum(s == 'inflight' for s in at_kill.values())} in flight; "
            f"free replays on the rerun: {len(replays)}; double charges: 0"
        )


def test_ctrl_c_finishes_calls_on_the_wire_and_prints_resume(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ids = [str(300_000_000_000 + i) for i in range(150)]
    with live_server(sandbox_latency_ms=(20, 80), wait_seconds=2) as live:
        env["JDITEM_TOKEN"] = live.make_token("acme", balance_yuan="100")
        source = write_input(tmp_path / "ids.txt", ids)
        out = tmp_path / "p.jsonl"
        args = [
            "batch",
            str(source),
            "-o",
            str(out),
            "--job",
            "intr",
            "--base-url",
            live.base_url,
            "--concurrency",
            "4",
            "--rate",
            "100",
            "--progress",
            "bar",
        ]
        proc = spawn(args, env)
        wait_until(lambda: len(charges_by_item(live)) >= 10, what="10 items charged", timeout=120)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stdout + stderr
        assert "jditem batch --job intr --resume" in stdout
        assert "Stopping: no new calls" in stderr
        # the bar's last frame and the summary count the same settled items
        bar_done = re.findall(r"(\d+)/150\b", stderr)[-1]
        settled = re.search(r"(\d+)/150 item\(s\) settled", stdout)
        assert settled is not None, stdout
        assert bar_done == settled.group(1)
        done = len(out_ids(out))
        assert 0 < done < len(ids)
        # Every charged item reached the output: nothing was paid for and lost.
        assert sorted(charges_by_item(live)) == sorted(out_ids(out))

        resumed = spawn(["batch", "--job", "intr", "--resume", "--progress", "none"], env)
        stdout, stderr = resumed.communicate(timeout=60)
        assert resumed.returncode == 0, stdout + stderr
        assert sorted(out_ids(out)) == sorted(ids)
        assert charges_by_item(live) == dict.fromkeys(ids, 1)


def test_usage_errors_say_what_to_do(tmp_path: Path, env: dict[str, str]) -> None:
    env["JDITEM_TOKEN"] = "tok_for_usage_tests"
    result = run_cli(["batch", "-o", str(tmp_path / "x.jsonl")], env)
    assert result.exit_code == 2
    assert "pass an INPUT file" in result.stderr
    result = run_cli(["batch", "--job", "nope", "--resume"], env)
    assert result.exit_code == 2
    assert "no job named nope" in result.stderr
    missing = run_cli(["batch", str(tmp_path / "missing.txt"), "-o", "x.jsonl"], env)
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    bad_age = run_cli(["batch", "-", "-o", "x.jsonl", "--max-age", "soon"], env)
    assert bad_age.exit_code == 2
    assert "invalid duration" in bad_age.stderr
    result = run_cli(["export", "nope", "-o", str(tmp_path / "x.csv")], env)
    assert result.exit_code == 2
    assert "no job named nope" in result.stderr


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_batch_over_either_transport_fetches_each_item_once(
    live: LiveServer, tmp_path: Path, env: dict[str, str], transport: str
) -> None:
    """The default (auto) is aiohttp when installed, as in every other test here."""
    from jditem.client.aiohttp_transport import aiohttp_available

    if transport == "aiohttp" and not aiohttp_available():
        pytest.skip("needs jditem[aiohttp]")
    env["JDITEM_TOKEN"] = live.make_token("acme", balance_yuan="10")
    source = write_input(tmp_path / "ids.txt", IDS[:12])
    out = tmp_path / "out.jsonl"
    result = run_cli(
        ["batch", str(source), "-o", str(out), "--base-url", live.base_url,
         "--progress", "none", "--transport", transport, "--concurrency", "4"],
        env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(out_ids(out)) == sorted(IDS[:12])
    assert charges_by_item(live) == dict.fromkeys(IDS[:12], 1)


def test_auto_transport_is_httpx_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import jditem.client.aiohttp_transport as module
    from jditem.cli.batch_options import TransportChoice, resolve_transport

    assert resolve_transport(TransportChoice.httpx) == "httpx"
    monkeypatch.setattr(module, "AiohttpTransport", None)
    assert resolve_transport(TransportChoice.auto) == "httpx"
