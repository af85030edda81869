"""Server hot path: cached-item v2 calls with a valid token vs. a bare FastAPI endpoint.

Both servers run the same way — uvicorn in a subprocess on 127.0.0.1, one process, no
access log, same event loop and HTTP implementation — and are loaded the same way at
concurrency 32: with ``wrk`` when installed (a C load generator: it leaves the second
core to the server), else an httpx async client. Rounds alternate bare / jditem, and the
median round is reported.

* ``bare``   — one FastAPI route returning the same JSON envelope with the same product
               payload, built once (the floor: routing + JSON + HTTP).
* ``jditem`` — ``GET /api/jd/get-item-detail/v2`` with ``Authorization: Bearer``: token
               lookup, admission checks, cached-result read, the charge committed
               before the answer (conditional UPDATEs + ledger INSERT, group-committed
               with the concurrent calls' charges, the call record in the same
               transaction).
* ``jditem-limits`` — the same app served as ``jditem serve`` serves it
               (``jditem.server.http.config.uvicorn_config``: the h11 parser with the
               connection limits: head size, header-read timeout, connection cap);
               the two others use uvicorn's default parser (httptools when installed).

After the run the jditem database is checked: every answered request was a charged
code-0 call (ledger rows and code-0 call records >= requests wrk counted), and the
money adds up (balance change = Σ ledger charges = Σ token spend).

Run: ``.venv/bin/python benchmarks/server_hot_path.py [--seconds 8] [--rounds 3]``
Aim: jditem ≥ 40 % of bare throughput, p99 < 25 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ITEM = "100012043978"
PATH = "/api/jd/get-item-detail/v2"
CONCURRENCY = 32


# ----------------------------------------------------------------- child modes


def bare_app() -> Any:
    """The bare FastAPI app: one route answering a pre-built envelope."""
    from fastapi import FastAPI

    from jditem.server.collectors.catalog import build_payload

    payload = build_payload(ITEM)
    app = FastAPI()

    @app.get(PATH)
    async def item() -> dict[str, Any]:
        return {
            "code": 0,
            "message": "success",
            "data": payload,
            "recordTime": "2026-11-28T10:15:30.123+08:00",
            "requestId": "01JD00000000000000000000000",
        }

    return app


def serve(kind: str, port: int, home: str) -> None:
    """Child: prepare (jditem: token + database), print the token, run uvicorn."""
    import uvicorn

    token = ""
    if kind in ("jditem", "jditem-limits"):
        from jditem.cli.serve import run_with_session
        from jditem.server.accounts import service
        from jditem.server.app import create_app
        from jditem.server.settings import Settings

        settings = Settings(home=Path(home), admin_key=None, redact_access_log=True)

        async def make_token(session: Any) -> str:
            await service.create_account(session, "bench", 10**14)
            _, raw = await service.create_token(session, "bench", name="bench")
            return raw

        token = run_with_session(settings, make_token)
        app = create_app(settings)
        if kind == "jditem-limits":
            from jditem.server.http.config import uvicorn_config

            print(json.dumps({"token": token}), flush=True)
            config = uvicorn_config(
                app, settings, host="127.0.0.1", port=port, log_level="warning", access_log=False
            )
            uvicorn.Server(config).run()
            return
    else:
        app = bare_app()
    print(json.dumps({"token": token}), flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------- load driver


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, headers: dict[str, str], seconds: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            body = httpx.get(url, headers=headers, timeout=10).json()
            if body.get("code") == 0:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer code 0 within {seconds} s")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, headers: dict[str, str], seconds: float) -> Result:
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{int(seconds)}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Result(rps, p50, p99, errors, requests)


def run_httpx(url: str, headers: dict[str, str], seconds: float) -> Result:
    import httpx

    async def main() -> Result:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    response = await client.get(url)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    errors += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return Result(
            rps=len(latencies) / elapsed,
            p50_ms=latencies[len(latencies) // 2],
            p99_ms=latencies[int(len(latencies) * 0.99)],
            errors=errors,
            requests=len(latencies),
        )

    return asyncio.run(main())


def measure(kind: str, seconds: float, rounds: int, loader: str) -> tuple[list[Result], str]:
    home = tempfile.mkdtemp(prefix=f"jditem-bench-{kind}-")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "benchmarks")}
    for key in [k for k in env if k.startswith("JDITEM_")]:
        del env[key]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--home", home],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        token = json.loads(proc.stdout.readline())["token"]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"http://127.0.0.1:{port}{PATH}?itemId={ITEM}"
        wait_ready(url, headers)
        run = run_wrk if loader == "wrk" else run_httpx
        warm_up = run(url, headers, 2)
        results = [run(url, headers, seconds) for _ in range(rounds)]
        return [warm_up, *results], home
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def median_result(results: list[Result]) -> Result:
    ordered = sorted(results, key=lambda r: r.rps)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loader", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--serve", choices=["bare", "jditem", "jditem-limits"], help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.home)
        return
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "httpx"
    print(
        f"load: {loader}, concurrency {CONCURRENCY}, {args.rounds} x {args.seconds:g} s per server"
    )
    bare_results, bare_home = measure("bare", args.seconds, args.rounds, loader)
    jd_results, jd_home = measure("jditem", args.seconds, args.rounds, loader)
    lim_results, lim_home = measure("jditem-limits", args.seconds, args.rounds, loader)
    try:
        answered = 1 + sum(r.requests for r in jd_results)  # + the wait_ready call
        check = _check_money(Path(jd_home) / "server.db", answered)
        answered_lim = 1 + sum(r.requests for r in lim_results)
        check_lim = _check_money(Path(lim_home) / "server.db", answered_lim)
    finally:
        for home in (bare_home, jd_home, lim_home):
            shutil.rmtree(home, ignore_errors=True)
    bare, jd = median_result(bare_results[1:]), median_result(jd_results[1:])
    lim = median_result(lim_results[1:])
    print()
    print("| server | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (
        ("bare FastAPI", bare),
        ("jditem v2 (cached, charged)", jd),
        ("jditem v2 as `jditem serve` runs it (h11 + limits)", lim),
    ):
        print(f"| {name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    print()
    ratio = jd.rps / bare.rps if bare.rps else 0.0
    ratio_lim = lim.rps / bare.rps if bare.rps else 0.0
    print(
        f"jditem / bare throughput: {ratio:.0%} (aim >= 40 %); jditem p99 {jd.p99_ms:.1f} ms "
        f"(aim < 25 ms)"
    )
    print(
        f"jditem with limits (h11) / bare: {ratio_lim:.0%}; / jditem: "
        f"{lim.rps / jd.rps if jd.rps else 0.0:.0%}; p99 {lim.p99_ms:.1f} ms"
    )
    print(check)
    print(check_lim)


def _check_money(db: Path, answered: int) -> str:
    """Every answered jditem request was charged, and the money adds up (SPEC §2.5)."""
    import sqlite3

    with sqlite3.connect(db) as conn:

        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0] or 0)

        charges = one("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'")
        charged_sum = -one("SELECT SUM(amount) FROM ledger WHERE kind = 'charge'")
        spent = one("SELECT SUM(spent) FROM tokens")
        used = 10**14 - one("SELECT balance FROM accounts WHERE name = 'bench'")
        code0 = one("SELECT COUNT(*) FROM call_records WHERE code = 0 AND charged > 0")
        others = one("SELECT COUNT(*) FROM call_records WHERE code != 0")
    problems = []
    if not used == charged_sum == spent:
        problems.append(f"balance change {used} / ledger {charged_sum} / spend {spent} differ")
    if charges < answered or code0 != charges or others:
        problems.append(
            f"{answered:,} answered requests but {charges:,} ledger charges, {code0:,} "
            f"charged code-0 call records and {others:,} other codes"
        )
    if problems:
        raise SystemExit("jditem database check FAILED: " + "; ".join(problems))
    return (
        f"database check: {charges:,} charged code-0 calls (wrk counted {answered:,} answers; "
        f"requests cut off at a round's end are charged but not counted), balance change = "
        f"Σ ledger = Σ spend = {used:,} units"
    )


if __name__ == "__main__":
    main()
