"""Batch throughput against the embedded server, side by side, plus peak RSS.

Starts ``python -m jditem.cli serve`` (temporary database, sandbox latency ≈ 300 ms),
gives each contestant its own token limited to ``--rate`` calls/s (burst 5) and its own
ids (so nobody is served from another's server cache), then measures:

* ``jditem batch`` (asked for 3× the limit, adaptive): elapsed vs the ideal N / R, 302
  count, calls per item, lost items;
* a sequential loop over the vendor SDK ``justoneapi`` (re-calling a pending item after
  ``retryAfter``, as the vendor documents; a 302 loses the item) on ``--sdk-ids`` ids,
  extrapolated to N;
* a naive ``asyncio.gather`` of one httpx call per id (no retry): elapsed, 302s, lost.

Then the peak RSS of ``jditem batch`` over ``--rss-ids`` synthetic ids with the rate
limit off, on a second server with a fast sandbox (``os.wait4`` of the batch process).

Then the engine's speed (``--speed-ids``): against a stub that answers code 0 with the
sample product at once, ``jditem batch`` (journal, cache, JSONL export) and a plain httpx
async loop (``--concurrency`` workers, one GET each, ``.json()``, one JSON line written
per product) at the same concurrency, each in its own process, ``--speed-rounds``
interleaved rounds; wall time and the client process's CPU time (``os.wait4``: user +
system, interpreter start included) side by side, medians, and their ratios. With
``jditem[aiohttp]`` installed ``jditem batch`` sends over aiohttp, and
``jditem batch --transport httpx`` joins the rounds. The stub is vendor-like (it never
says it honours ``Idempotency-Key``, so the journal commits every answer in the turn it
arrives); a second stub that announces ``Idempotency-Key-Honoured`` measures the
group-committed path beside it (``jditem batch, server honours keys``).

    .venv/bin/python benchmarks/batch_throughput.py --ids 2000 --rate 20 --rss-ids 100000
    .venv/bin/python benchmarks/batch_throughput.py --only-speed --speed-ids 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

PY = sys.executable
V2 = "/api/jd/get-item-detail/v2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PY, "-m", "jditem.cli", *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@contextmanager
def server(
    work: Path, latency: str, workers: int, **settings: str
) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "JDITEM_HOME": str(work),
        "JDITEM_SANDBOX_LATENCY_MS": latency,
        **{f"JDITEM_{key.upper()}": value for key, value in settings.items()},
    }
    proc = subprocess.Popen(
        [PY, "-m", "jditem.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        cli("admin", "account", "create", "bench", "--balance", "100000", env=env)
        yield base, env
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def token(env: dict[str, str], *limits: str) -> str:
    out = cli("admin", "token", "create", "--account", "bench", *limits, env=env)
    return out.strip().splitlines()[-1].strip()


def ids(start: int, n: int) -> list[str]:
    return [str(start + i) for i in range(n)]


def run_ours(base: str, tok: str, items: list[str], rate: float, work: Path) -> dict[str, Any]:
    source = work / "ours.txt"
    source.write_text("\n".join(items) + "\n")
    home = work / "client-ours"
    env = {**os.environ, "JDITEM_TOKEN": tok, "JDITEM_HOME": str(home)}
    out = work / "ours.jsonl"
    started = time.monotonic()
    subprocess.run(
        [PY, "-m", "jditem.cli", "batch", str(source), "-o", str(out), "--job", "bench",
         "--base-url", base, "--rate", str(3 * rate), "--concurrency", "16",
         "--progress", "none"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    db = sqlite3.connect(home / "jobs" / "bench.sqlite")
    codes = dict(db.execute("SELECT coalesce(code, -1), count(*) FROM calls GROUP BY code"))
    db.close()
    got = {json.loads(line)["sku_id"] for line in out.read_text().splitlines()}
    calls = sum(codes.values())
    return {
        "elapsed": elapsed,
        "n": len(items),
        "302": codes.get(302, 0),
        "calls_per_item": calls / len(items),
        "lost": len(set(items) - got),
    }


def run_sdk(base: str, tok: str, items: list[str]) -> dict[str, Any]:
    from justoneapi import JustOneAPIClient

    lost = throttled = calls = 0
    started = time.monotonic()
    with JustOneAPIClient(tok, base_url=base, timeout=120) as vendor:
        for item in items:
            for _ in range(6):
                calls += 1
                try:
                    answer = vendor.jd.get_item_detail_v2(item_id=item)
                    code = answer.code
                    data = answer.data
                except Exception as exc:  # the SDK raises on HTTP errors
                    code, data = getattr(exc, "code", None), None
                if str(code) == "102" and isinstance(data, dict):
                    time.sleep(float(data.get("retryAfter") or 1))
                    continue
                if str(code) == "302":
                    throttled += 1
                if str(code) != "0":
                    lost += 1
                break
    return {
        "elapsed": time.monotonic() - started,
        "n": len(items),
        "302": throttled,
        "calls_per_item": calls / len(items),
        "lost": lost,
    }


async def run_gather(base: str, tok: str, items: list[str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def one(item: str) -> int:
            try:
                r = await client.get(V2, params={"itemId": item, "token": tok})
                return int(r.json().get("code", -1))
            except httpx.HTTPError:
                return -1

        started = time.monotonic()
        codes = await asyncio.gather(*(one(i) for i in items))
        elapsed = time.monotonic() - started
    return {
        "elapsed": elapsed,
        "n": len(items),
        "302": codes.count(302),
        "calls_per_item": 1.0,
        "lost": sum(c != 0 for c in codes),
    }


FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "jd-detail-v1-abridged.json"


def stub_server(port: int, honours: bool = False) -> None:
    """Child mode: a minimal ASGI server answering code 0 with the sample product at once;
    with ``honours`` it announces ``Idempotency-Key-Honoured`` like a jditem server.

    The embedded server cannot push 100,000 items through SQLite quickly on a small shared
    machine; the batch client's memory does not depend on who answers.
    """
    import uvicorn

    sample = json.loads(FIXTURE.read_text(encoding="utf-8"))
    payload = sample.get("data", sample)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        item = query.get("itemId", "0")
        body = json.dumps(
            {"code": 0, "message": "success", "data": {**payload, "skuId": item},
             "requestId": f"r{item}"}, ensure_ascii=False
        ).encode()  # fmt: skip
        headers = [(b"content-type", b"application/json")]
        if honours:
            headers.append((b"idempotency-key-honoured", b"ttl=86400"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def stub(port: int | None = None, *, honours: bool = False) -> Iterator[str]:
    """The stub server (``--stub``) in a child process; yields its base URL."""
    port = port or free_port()
    proc = subprocess.Popen(
        [PY, __file__, "--stub", str(port), *(["--stub-honours"] if honours else [])]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + V2, params={"itemId": "1"}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def plain_loop(base: str, source: str, concurrency: int, out: str) -> None:
    """Child mode: the plain httpx async loop the batch engine is measured against."""

    async def main() -> None:
        items = iter(Path(source).read_text().split())
        with open(out, "w", encoding="utf-8") as sink:
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:

                async def worker() -> None:
                    for item in items:
                        r = await client.get(V2, params={"token": "bench-token", "itemId": item})
                        body = r.json()
                        if body.get("code") == 0:
                            sink.write(json.dumps(body["data"], ensure_ascii=False) + "\n")

                await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(main())


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``(wall s, CPU s)`` of a child process (user + system, from ``os.wait4``)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed with exit {os.waitstatus_to_exitcode(status)}")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def aiohttp_installed() -> bool:
    """Whether ``jditem[aiohttp]`` is installed (``jditem batch`` then uses aiohttp)."""
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


def run_speed(
    n: int, rounds: int, concurrency: int, work: Path, baseline: Path | None = None
) -> dict[str, Any]:
    """Interleaved rounds of the plain loop, ``jditem batch`` and, with ``baseline`` (the
    ``src`` folder of another checkout, e.g. ``main``), that checkout's ``jditem batch``."""
    source = work / "speed.txt"
    source.write_text("\n".join(ids(950_000_000_000, n)) + "\n")
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "jditem": []}
    if baseline is not None:
        results["baseline"] = []
    if aiohttp_installed():  # jditem batch picks aiohttp then; measure httpx too
        results["jditem-httpx"] = []
    results["jditem-honoured"] = []
    with stub() as base, stub(honours=True) as honoured_base:
        for r in range(rounds):
            order: list[tuple[str, list[str], dict[str, str]]] = []
            for name in results:
                home = work / f"client-speed-{name}-{r}"
                env = {**os.environ, "JDITEM_TOKEN": "bench-token", "JDITEM_HOME": str(home)}
                if name == "plain":
                    cmd = [PY, __file__, "--plain-loop", base, str(source), str(concurrency),
                           str(work / f"plain-{r}.jsonl")]  # fmt: skip
                else:
                    cmd = [
                        PY, "-m", "jditem.cli", "batch", str(source),
                        "-o", str(work / f"speed-{name}-{r}.jsonl"), "--job", "speed",
                        "--base-url", honoured_base if name == "jditem-honoured" else base,
                        "--concurrency", str(concurrency),
                        "--progress", "none",
                    ]  # fmt: skip
                if name == "jditem-httpx":
                    cmd += ["--transport", "httpx"]
                if name == "baseline":
                    assert baseline is not None
                    env["PYTHONPATH"] = str(baseline.resolve())
                order.append((name, cmd, env))
            for name, cmd, env in order if r % 2 == 0 else order[::-1]:
                results[name].append(timed(cmd, env))
                if name != "plain":
                    lines = sum(1 for _ in (work / f"speed-{name}-{r}.jsonl").open())
                    if lines != n:
                        raise SystemExit(f"{name} jditem batch wrote {lines} of {n} products")
    return {"n": n, "rounds": rounds, "concurrency": concurrency, **results}


def print_speed(speed: dict[str, Any]) -> None:
    n = speed["n"]

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    plain_wall = median([w for w, _ in speed["plain"]])
    plain_cpu = median([c for _, c in speed["plain"]])
    print(f"\nSpeed against a stub that answers at once: {n} ids, concurrency "
          f"{speed['concurrency']}, {speed['rounds']} interleaved rounds (medians)\n")  # fmt: skip
    print("| contestant | wall s | items/s | client CPU ms/item | wall ratio | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "plain": "plain httpx async loop",
        "baseline": "jditem batch (baseline checkout)",
        "jditem": "jditem batch",
        "jditem-httpx": "jditem batch --transport httpx",
        "jditem-honoured": "jditem batch, server honours keys",
    }
    for name, label in labels.items():
        if name not in speed:
            continue
        wall = median([w for w, _ in speed[name]])
        cpu = median([c for _, c in speed[name]])
        print(f"| {label} | {wall:.1f} | {n / wall:.0f} | {1000 * cpu / n:.2f} | "
              f"{plain_wall / wall:.2f} | {plain_cpu / cpu:.2f} |")  # fmt: skip


def run_rss(n: int, work: Path) -> dict[str, Any]:
    with stub() as base:
        source = work / "rss.txt"
        source.write_text("\n".join(ids(900_000_000_000, n)) + "\n")
        home = work / "client-rss"
        started = time.monotonic()
        proc = subprocess.Popen(
            [PY, "-m", "jditem.cli", "batch", str(source), "-o", str(work / "rss.jsonl"),
             "--job", "rss", "--base-url", base, "--concurrency", "16", "--progress", "none"],
            env={**os.environ, "JDITEM_TOKEN": "bench-token", "JDITEM_HOME": str(home)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        lines = sum(1 for _ in (work / "rss.jsonl").open())
    return {"n": n, "peak_rss_mb": usage.ru_maxrss / 1024, "elapsed": elapsed,
            "exit": os.waitstatus_to_exitcode(status), "written": lines}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--sdk-ids", type=int, default=100)
    parser.add_argument("--rss-ids", type=int, default=100_000)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--only-rss", action="store_true")
    parser.add_argument("--speed-ids", type=int, default=5000)
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--only-speed", action="store_true")
    parser.add_argument(
        "--speed-baseline",
        type=Path,
        help="the src folder of another checkout: its jditem batch joins the speed rounds",
    )
    parser.add_argument("--stub", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stub-honours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain-loop", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stub:
        stub_server(args.stub, args.stub_honours)
        return
    if args.plain_loop:
        base, source, concurrency, out = args.plain_loop
        plain_loop(base, source, int(concurrency), out)
        return
    work = Path(tempfile.mkdtemp(prefix="jditem-bench-"))
    n, rate = args.ids, args.rate
    if args.only_rss:
        print_rss(run_rss(args.rss_ids, work))
        return
    if args.only_speed:
        print_speed(
            run_speed(
                args.speed_ids, args.speed_rounds, args.concurrency, work, args.speed_baseline
            )
        )
        return
    limits = ("--rate", str(rate), "--burst", "5")
    with server(work / "srv", "[250, 350]", 64) as (base, env):
        ours = run_ours(base, token(env, *limits), ids(500_000_000_000, n), rate, work)
        sdk = run_sdk(base, token(env, *limits), ids(600_000_000_000, args.sdk_ids))
        gather = asyncio.run(run_gather(base, token(env, *limits), ids(700_000_000_000, n)))
    ideal = n / rate
    print(f"\n{n} ids, token limit {rate:g}/s (burst 5), sandbox latency 250-350 ms; "
          f"ideal N/R = {ideal:.1f} s\n")  # fmt: skip
    print("| contestant | items | elapsed s | vs ideal N/R | 302s | calls/item | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in (("jditem batch (--rate 3R)", ours), ("justoneapi SDK, sequential", sdk),
                    ("asyncio.gather over httpx", gather)):  # fmt: skip
        per = r["n"] / rate
        print(f"| {name} | {r['n']} | {r['elapsed']:.1f} | {per / r['elapsed']:.2f} | "
              f"{r['302']} | {r['calls_per_item']:.2f} | {r['lost']} |")  # fmt: skip
    sdk_full = sdk["elapsed"] / sdk["n"] * n
    print(f"\nSDK extrapolated to {n} ids: {sdk_full:.0f} s ({ideal / sdk_full:.2f} of the limit)")
    if not args.skip_rss:
        print_rss(run_rss(args.rss_ids, work))
    if not args.skip_speed:
        print_speed(run_speed(args.speed_ids, args.speed_rounds, args.concurrency, work))


def print_rss(rss: dict[str, Any]) -> None:
    print(f"\nPeak RSS of jditem batch over {rss['n']} ids (no rate limit, stub server): "
          f"{rss['peak_rss_mb']:.0f} MB; {rss['written']} written in {rss['elapsed']:.0f} s "
          f"(exit {rss['exit']})")  # fmt: skip


if __name__ == "__main__":
    main()
