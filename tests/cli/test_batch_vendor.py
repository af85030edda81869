"""``jditem batch`` against a vendor-like server that ignores ``Idempotency-Key``.

The fake vendor (:mod:`tests.support.fake_vendor`) runs on loopback in this process and
counts the calls per item; the batch runs as a subprocess, so it can be killed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from tests.support.cli_runs import journal_states, run_cli, spawn, write_input
from tests.support.fake_vendor import Answer, FakeVendor
from tests.support.fault_server import FaultServer, Reply
from tests.support.waiting import wait_until

from jditem.client.aiohttp_transport import aiohttp_available


def out_ids(path: Path) -> list[str]:
    """The ids in a JSON Lines output (each the one asked for)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    products = [json.loads(line) for line in lines]
    assert all(p["sku_id"] == p["requested_id"] for p in products)
    return [p["sku_id"] for p in products]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"JDITEM_HOME": str(tmp_path / "home"), "JDITEM_TOKEN": "tok_fake_vendor_0001"}


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_kill_9_costs_at_most_the_calls_in_flight_and_the_summary_names_them(
    tmp_path: Path, env: dict[str, str], transport: str
) -> None:
    """``kill -9`` with 8 calls on the wire, then a rerun, then a deliberate re-ask.

    The vendor ignores Idempotency-Key, so every call it answered may have been charged.
    At the kill every answer that arrived is in the journal (the intent of each call was
    committed before it was sent, the answers right after they arrived); the rerun asks
    no item a second time, and names the 8 that were in flight — they may have been
    charged without an answer — with the command that asks for them deliberately.
    """
    if transport == "aiohttp" and not aiohttp_available():
        pytest.skip("needs jditem[aiohttp]")
    ids = [str(400_000_000_000 + i) for i in range(120)]
    answered, concurrency = 50, 8
    with FakeVendor(plan=lambda n, item: Answer(hold=n > answered)) as vendor:
        source = write_input(tmp_path / "ids.txt", ids)
        out = tmp_path / "p.jsonl"
        args = ["batch", str(source), "-o", str(out), "--job", "vendor",
                "--base-url", vendor.base_url, "--concurrency", str(concurrency),
                "--transport", transport, "--progress", "none"]  # fmt: skip
        proc = spawn(args, env)
        wait_until(
            lambda: len(vendor.held) == concurrency,
            what=f"{concurrency} calls held on the wire",
            timeout=120,
        )
        in_flight = set(vendor.held)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        at_kill = journal_states(env, "vendor")
        assert sum(state == "done" for state in at_kill.values()) == answered
        assert {item for item, state in at_kill.items() if state == "inflight"} == in_flight
        vendor.release()  # the held calls are answered (and charged) — to nobody

        rerun = spawn(args, env)
        stdout, stderr = rerun.communicate(timeout=120)
        assert rerun.returncode == 1, stdout + stderr  # items left uncertain
        assert max(vendor.calls.values()) == 1, "no item was asked twice"
        assert sorted(vendor.calls) == sorted(ids)
        assert "8 item(s) may have been charged without an answer" in stdout
        assert all(item in stdout for item in in_flight), stdout
        assert "jditem batch --job vendor --resume --retry-uncertain" in stdout
        assert sorted(out_ids(out)) == sorted(set(ids) - in_flight)
        states = journal_states(env, "vendor")
        assert {item for item, state in states.items() if state == "uncertain"} == in_flight

        again = spawn([*args, "--resume", "--retry-uncertain"], env)
        stdout, stderr = again.communicate(timeout=120)
        assert again.returncode == 0, stdout + stderr
        assert {item for item, n in vendor.calls.items() if n > 1} == in_flight
        assert max(vendor.calls.values()) == 2
        assert sorted(out_ids(out)) == sorted(ids)


def test_a_retry_after_above_the_cap_stops_the_batch_with_its_value(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """``Retry-After: 3600`` on a 302 is not waited out (nor retried per item): the batch
    stops, says what the server asked for, and leaves the items to do."""
    ids = [str(410_000_000_000 + i) for i in range(20)]
    reply = Reply.envelope(302, None, status=429, headers={"Retry-After": "3600"})
    with FaultServer([reply]) as server:
        source = write_input(tmp_path / "ids.txt", ids)
        result = run_cli(
            ["batch", str(source), "-o", str(tmp_path / "p.jsonl"), "--job", "long",
             "--base-url", server.base_url, "--concurrency", "2", "--progress", "none"],
            env,
        )  # fmt: skip
        calls = len(server.requests)
    assert result.exit_code == 1, result.output
    assert "asked to wait 3600 s, more than max_retry_after=120 s" in result.stdout
    assert "jditem batch --job long --resume" in result.stdout
    assert calls <= 2, "the calls on the wire; none after"
    states = journal_states(env, "long")
    assert set(states.values()) <= {"todo", "pending"}


def test_a_batch_behind_an_open_circuit_pauses_probes_and_finishes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The first calls meet a circuit 503: the batch pauses, one probe gets a product, and
    the batch finishes at full speed — each item fetched once, no per-item retries."""
    ids = [str(420_000_000_000 + i) for i in range(30)]
    concurrency = 4

    def plan(n: int, item: str) -> Answer:
        return Answer("circuit" if n <= concurrency else "product")

    with FakeVendor(plan) as vendor:
        source = write_input(tmp_path / "ids.txt", ids)
        out = tmp_path / "p.jsonl"
        result = run_cli(
            ["batch", str(source), "-o", str(out), "--job", "circuit",
             "--base-url", vendor.base_url, "--concurrency", str(concurrency),
             "--progress", "none"],
            env,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(out_ids(out)) == sorted(ids)
    kinds = [kind for _, _, kind in vendor.log]
    assert kinds.count("circuit") == concurrency
    assert len(kinds) == concurrency + len(ids)
