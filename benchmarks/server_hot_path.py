"""Server hot path: cached charged v2 calls vs. a bare FastAPI endpoint, per HTTP stack.

Six servers on 127.0.0.1, each one process, started at once and loaded in alternating
rounds (the others idle) by ``wrk -t1 -c32`` (keep-alive; an httpx async client when
wrk is missing), median round reported:

==================  =============================================================
``bare-httptools``  bare FastAPI (one route answering the same envelope with the
                    same product payload, built once) on uvicorn + httptools: the
                    stack's ceiling
``bare-h11``        the same on uvicorn + h11 (uvicorn's stock h11 protocol)
``jditem-httptools`` jditem's app on uvicorn + httptools, no access log
``jditem-h11``      jditem's app on uvicorn's stock h11 protocol, no access log
``jditem-guard``    jditem's app with the uvicorn configuration ``jditem serve`` uses
                    (``jditem.server.http.config.uvicorn_config``: the guarded httptools
                    protocol with the head, timeout and connection limits, header
                    count, NUL check), access log off
``jditem-serve``    ``jditem serve`` itself (the CLI, one process): the above plus
                    uvicorn's access log (with the token redaction filter) to a file
==================  =============================================================

Every jditem call is a full code-0 call: token lookup (a token with a rate limit, as
new tokens have by default), admission, the cached result, the charge committed
before the answer in a group commit with the call record. The CPU seconds of each
server process (``/proc``) over each round, divided by the requests wrk counted, give
**CPU µs per request**: unlike requests/s, it does not depend on the machine's load.

``serve_vs_bare`` = requests/s of ``jditem-serve`` ÷ requests/s of bare FastAPI **on
the same server and parser**: uvicorn with the HTTP parser ``jditem serve`` uses
(httptools since issue 22, h11 before; read from ``uvicorn_config``), with uvicorn's
stock protocol class — so the guard, the limits and the access log count as jditem's
cost, the parser does not. ``p99_serve_over_bare`` is the same pair's p99 ratio. The other pairs are
printed too (e.g. against bare on httptools, the stack's ceiling).

After the run each jditem database is checked: Σ ledger charges = balance change =
Σ token spend, every charge has its charged code-0 call record, no other codes, at
least as many charges as answers wrk counted. ``--profile DIR``: one more round of
``bare-h11``, ``jditem-h11`` and ``jditem-serve`` with py-spy, summarised by layer.

``--baseline-src DIR`` adds ``jditem-serve-baseline``: ``jditem serve`` run from another
checkout's ``src`` (``PYTHONPATH``), loaded in the same alternating rounds — a change's
before and after side by side in one run.

Run: ``.venv/bin/python benchmarks/server_hot_path.py [--seconds 6] [--rounds 5]``;
``--quick`` (under 5 minutes): 3-second rounds, 3 rounds. Ends with one JSON line;
``serve_vs_bare_rounds`` are the per-pass ratios (a pass runs every server once, so the
two rounds of a pair are minutes apart at most) — their spread shows how far one run's
median can be trusted on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _money import Money, check_money, sqlite_money  # noqa: E402
from _procstat import load_average, print_profile, start_py_spy, summarise, tree_cpu  # noqa: E402

ITEM = "100012043978"
PATH = "/api/jd/get-item-detail/v2"
CONCURRENCY = 32
ADMIN_KEY = secrets.token_urlsafe(32)
JDITEM = str(Path(sys.executable).with_name("jditem"))

KINDS = {
    "bare-httptools": "bare FastAPI · uvicorn + httptools",
    "bare-h11": "bare FastAPI · uvicorn + h11",
    "jditem-httptools": "jditem v2 · uvicorn + httptools",
    "jditem-h11": "jditem v2 · uvicorn + h11 (stock protocol)",
    "jditem-guard": "jditem v2 · serve's config, no access log (guarded parser + limits)",
    "jditem-serve": "jditem v2 · `jditem serve` (guarded parser + limits + access log)",
}


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


def serve(kind: str, port: int) -> None:
    """Child: run one of the in-process kinds (``jditem-serve`` is the CLI itself)."""
    import uvicorn

    options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "access_log": False}
    if kind.startswith("bare-"):
        uvicorn.run(bare_app(), http=kind.removeprefix("bare-"), log_level="warning", **options)
        return
    from jditem.server.app import create_app
    from jditem.server.settings import Settings

    settings = Settings()  # from the JDITEM_ environment, as `jditem serve` reads it
    app = create_app(settings)
    if kind == "jditem-guard":
        from jditem.server.http.config import uvicorn_config

        config = uvicorn_config(app, settings, log_level="info", **options)
    else:
        http = kind.removeprefix("jditem-")
        config = uvicorn.Config(app, http=http, log_level="warning", **options)
    uvicorn.Server(config).run()


def serve_parser() -> str:
    """The uvicorn HTTP implementation ``jditem serve`` uses: ``h11`` or ``httptools``."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from jditem.server.http.config import uvicorn_config
    from jditem.server.settings import Settings

    protocol = uvicorn_config(bare_app(), Settings()).http
    if isinstance(protocol, type) and issubclass(protocol, H11Protocol):
        return "h11"
    return "h11" if protocol == "h11" else "httptools"


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


def wait_ready(url: str, headers: dict[str, str], seconds: float = 60) -> None:
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


def run_wrk(
    url: str, headers: dict[str, str], seconds: float, connections: int = CONCURRENCY
) -> Result:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
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


def run_httpx(
    url: str, headers: dict[str, str], seconds: float, connections: int = CONCURRENCY
) -> Result:
    import httpx

    async def main() -> Result:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    response = await client.get(url)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    errors += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
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


def median_result(results: list[Result]) -> Result:
    ordered = sorted(results, key=lambda r: r.rps)
    return ordered[len(ordered) // 2]


# --------------------------------------------------------------------- servers


@dataclass
class Server:
    """One running server of :data:`KINDS` and its rounds."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    home: Path
    headers: dict[str, str] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    start: Money | None = None
    answered: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}?itemId={ITEM}"

    @property
    def jditem(self) -> bool:
        return self.kind.startswith("jditem")

    def prepare(self) -> None:
        import httpx

        if self.jditem:
            base = f"http://127.0.0.1:{self.port}/api/admin"
            admin = {"X-Admin-Key": ADMIN_KEY}
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=5)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise SystemExit(f"{self.kind} did not start; see {self.home}") from None
                    time.sleep(0.2)
            account = {"name": "bench", "balance_yuan": "100000000"}
            for path, payload in (("accounts", account), ("tokens", {"account": "bench"})):
                body = httpx.post(f"{base}/{path}", json=payload, headers=admin).json()
                if body["code"] != 0:
                    raise SystemExit(f"{self.kind}: POST /api/admin/{path}: {body}")
            self.headers = {"Authorization": f"Bearer {body['data']['token']}"}
            self.start = sqlite_money(self.home / "server.db")()
            self.answered = 1  # wait_ready's call
        wait_ready(self.url, self.headers)

    def round(self, seconds: float, connections: int, loader: str) -> Result:
        run = run_wrk if loader == "wrk" else run_httpx
        before = tree_cpu(self.proc.pid)
        result = run(self.url, self.headers, seconds, connections)
        cpu = tree_cpu(self.proc.pid) - before
        self.answered += result.requests
        self.cpu_us.append(cpu * 1e6 / max(result.requests, 1))
        return result

    def check(self) -> str:
        assert self.start is not None
        now = sqlite_money(self.home / "server.db")()
        return check_money(KINDS[self.kind], now - self.start, self.answered)


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a jditem server under test: this one's without ``JDITEM_``
    variables, plus its home, the admin key and token defaults with a rate limit (as new
    tokens have by default) that the load never reaches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDITEM_")}
    env.update(
        {
            "JDITEM_HOME": str(home),
            "JDITEM_ADMIN_KEY": ADMIN_KEY,
            "JDITEM_DEFAULT_RATE_LIMIT": "100000",
            "JDITEM_DEFAULT_BURST": "1000000",
            **extra,
        }
    )
    return env


BASELINE = "jditem-serve-baseline"


@contextmanager
def started(kind: str, baseline_src: Path | None = None, **settings: str) -> Iterator[Server]:
    """A server of ``kind``; ``baseline_src``: the ``src/`` a baseline server runs from;
    ``settings``: extra ``JDITEM_`` environment variables."""
    home = Path(tempfile.mkdtemp(prefix=f"jditem-bench-{kind}-"))
    port = free_port()
    env = server_env(home, **settings)
    if kind == "jditem-serve":
        command = [JDITEM, "serve", "--port", str(port)]
    elif kind == BASELINE:
        assert baseline_src is not None
        env["PYTHONPATH"] = str(baseline_src.resolve())
        command = [sys.executable, "-m", "jditem.cli", "serve", "--port", str(port)]
    else:
        command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    try:
        yield Server(kind, port, proc, home)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(home, ignore_errors=True)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="length of a round (6; quick 3)")
    parser.add_argument("--rounds", type=int, help="rounds per server (5; quick 3)")
    parser.add_argument("--connections", type=int, default=CONCURRENCY)
    parser.add_argument("--loader", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--profile", type=Path, help="py-spy round into this directory")
    parser.add_argument("--quick", action="store_true", help="short run (under 5 minutes)")
    parser.add_argument(
        "--baseline-src", type=Path, help="another checkout's src/: adds jditem-serve-baseline"
    )
    parser.add_argument("--serve", choices=sorted(KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    args.seconds = args.seconds or (3.0 if args.quick else 6.0)
    args.rounds = args.rounds or (3 if args.quick else 5)
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "httpx"
    parser_name = serve_parser()
    print(
        f"load: {loader} -c{args.connections}, {args.rounds} x {args.seconds:g} s per server "
        f"(alternating); `jditem serve` parses with {parser_name}; {load_average()} at start"
    )
    if args.baseline_src is not None:
        if not (args.baseline_src / "jditem" / "cli").is_dir():
            parser.error(f"--baseline-src {args.baseline_src}: no jditem/cli in it (give a src/)")
        KINDS[BASELINE] = f"jditem v2 · `jditem serve` of {args.baseline_src} (baseline)"
    with ExitStack() as stack:
        servers = [stack.enter_context(started(kind, args.baseline_src)) for kind in KINDS]
        for server in servers:
            server.prepare()
            server.round(2, args.connections, loader)  # warm-up
            server.cpu_us.clear()
        for _ in range(args.rounds):
            for server in servers:
                server.results.append(server.round(args.seconds, args.connections, loader))
        profiles = []
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            for server in servers:
                if server.kind in ("bare-h11", "jditem-h11", "jditem-serve"):
                    out = args.profile / f"{server.kind}.txt"
                    spy = start_py_spy(server.proc.pid, args.seconds, out)
                    time.sleep(0.5)
                    server.round(args.seconds, args.connections, loader)
                    server.cpu_us.pop()  # a sampled round's CPU is not a measurement
                    spy.wait(60)
                    profiles.append((server.kind, summarise(out)))
        checks = [server.check() for server in servers if server.jditem]
    print(f"\n{load_average()} at the end")
    by_kind = {s.kind: s for s in servers}
    bare = by_kind[f"bare-{parser_name}"]
    bare_r = median_result(bare.results)
    print("\n| server | requests/s | p50 ms | p99 ms | CPU µs/request | vs bare (same parser) |")
    print("|---|---:|---:|---:|---:|---:|")
    for server in servers:
        r = median_result(server.results)
        print(
            f"| {KINDS[server.kind]} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {_median(server.cpu_us):,.0f} | {r.rps / bare_r.rps:.0%} |"
        )
    serve_r = median_result(by_kind["jditem-serve"].results)
    ceiling = median_result(by_kind["bare-httptools"].results)
    serve_cpu = _median(by_kind["jditem-serve"].cpu_us)
    bare_cpu = _median(bare.cpu_us)
    print(
        f"\n`jditem serve` / bare FastAPI on uvicorn + {parser_name}: "
        f"{serve_r.rps / bare_r.rps:.0%} of the throughput, p99 {serve_r.p99_ms:.1f} ms = "
        f"{serve_r.p99_ms / bare_r.p99_ms:.2f}× bare's; by CPU per request "
        f"{bare_cpu / serve_cpu:.0%}. Against bare on httptools (the stack's ceiling): "
        f"{serve_r.rps / ceiling.rps:.0%}."
    )
    paired = [
        round(s.rps / b.rps, 3)
        for s, b in zip(by_kind["jditem-serve"].results, bare.results, strict=True)
    ]
    print(
        f"Round by round (each `jditem serve` round next to the bare round of its pass): "
        f"`serve_vs_bare` {min(paired):.2f}–{max(paired):.2f}, median {_median(paired):.2f}."
    )
    if BASELINE in by_kind:
        base_cpu = _median(by_kind[BASELINE].cpu_us)
        base_r = median_result(by_kind[BASELINE].results)
        print(
            f"`jditem serve` of this tree / of the baseline: CPU per request "
            f"{serve_cpu / base_cpu:.2f}×, throughput {serve_r.rps / base_r.rps:.2f}×."
        )
    for kind, profile in profiles:
        print_profile(KINDS[kind], profile)
    print()
    for line in checks:
        print(line)
    print(
        json.dumps(
            {
                "serve_vs_bare": round(serve_r.rps / bare_r.rps, 3),
                "p99_serve_over_bare": round(serve_r.p99_ms / bare_r.p99_ms, 2),
                "serve_vs_bare_cpu": round(bare_cpu / serve_cpu, 3),
                "serve_vs_bare_rounds": paired,
                "bare_parser": parser_name,
                "serve_vs_bare_httptools": round(serve_r.rps / ceiling.rps, 3),
                "cpu_us_per_request": {s.kind: round(_median(s.cpu_us)) for s in servers},
                "rps": {s.kind: round(median_result(s.results).rps) for s in servers},
                "p99_ms": {s.kind: median_result(s.results).p99_ms for s in servers},
                "load_average_end": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
