"""How keep-alive connections spread over pre-forked API processes, by accept model.

A standalone experiment for issue 22 (no jditem code involved beyond the model it
copies): N processes serve one port with uvicorn (h11, uvloop: what ``jditem serve
--processes N`` runs), each answering a tiny JSON body after ~``--work-us`` µs of CPU
(a stand-in for a call's work), and counting the requests it served in shared memory.
Each round, a new ``wrk -t1 -cC`` opens its C keep-alive connections at once and
keeps them for the round. Models:

* ``shared``            — today's ``jditem serve --processes N``: the parent binds and
  listens on one socket, forked children all accept on it;
* ``shared-single``     — the same with ``UV_TCP_SINGLE_ACCEPT=1`` in the children
  (libuv, under uvloop, then accepts one connection per wake-up and yields, instead of
  draining the whole accept queue);
* ``shared-least``      — one shared socket, but each process accepts itself, one
  connection per wake-up, and only while it holds no more connections than the least
  loaded process (a count per process in shared memory), or once a pending connection
  has waited 20 ms (a stuck process must not stall new connections);
* ``reuseport``         — one listening socket per child, bound with ``SO_REUSEPORT``
  (the kernel spreads new connections over the sockets by a hash of the address pair);
  the parent holds the port with a bound, non-listening socket.

Printed per model and connection count: each round's keep-alive connections held by
each process (read from ``/proc`` mid-round) with the requests each served, and the
max/min ratio of the connections (``inf`` when a process holds none). Requests
follow the connections only as far as each process gets a core (the machine is
shared): the connection split is what the accept model decides.

Run: ``.venv/bin/python benchmarks/accept_balance.py [--rounds 8] [--processes 2]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _procstat import established_by_pid  # noqa: E402
from server_hot_path import run_wrk  # noqa: E402

MODELS = ("shared", "shared-single", "shared-least", "reuseport")

#: shared-least: longest a process with more connections than another leaves a
#: pending connection to the others before it takes it anyway (a stuck peer must not
#: stall new connections), and the step of that wait.
DEFER_SECONDS = 0.02
DEFER_STEP = 0.002


def _app(counts: Any, index: int, work_us: int) -> Any:
    body = json.dumps({"code": 0, "message": "success"}).encode()
    headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        deadline = time.thread_time_ns() + work_us * 1000
        while time.thread_time_ns() < deadline:
            pass
        counts[index] += 1
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _least_connections_server(sock: socket.socket, held: Any, index: int) -> Any:
    """A uvicorn Server whose process accepts from the shared socket only while it holds
    no more connections than the least loaded process (``held``, shared memory), or
    once a pending connection has waited ``DEFER_SECONDS``; one accept per wake-up."""
    import asyncio

    import uvicorn

    class LeastConnectionsServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])  # lifespan only: we accept ourselves
            config = self.config

            def protocol() -> asyncio.Protocol:
                return config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state
                )

            self._acceptor = asyncio.get_running_loop().create_task(self._accept(protocol))

        async def _accept(self, protocol: Any) -> None:
            loop = asyncio.get_running_loop()
            sock.setblocking(False)
            connections = self.server_state.connections
            while not self.should_exit:
                readable = loop.create_future()
                loop.add_reader(sock.fileno(), readable.set_result, None)
                try:
                    await readable
                finally:
                    loop.remove_reader(sock.fileno())
                held[index] = len(connections)
                waited = 0.0
                while held[index] > min(held) and waited < DEFER_SECONDS:
                    await asyncio.sleep(DEFER_STEP)
                    waited += DEFER_STEP
                    held[index] = len(connections)
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    continue  # another process took it
                conn.setblocking(False)
                await loop.connect_accepted_socket(protocol, conn)
                held[index] = len(connections)

    return LeastConnectionsServer


def _child(
    model: str,
    sock: socket.socket | None,
    port: int,
    counts: Any,
    index: int,
    work: int,
    held: Any,
) -> None:
    import uvicorn

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if model == "shared-single":
        os.environ["UV_TCP_SINGLE_ACCEPT"] = "1"
    if sock is None:  # reuseport: a listening socket of our own
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(2048)
    config = uvicorn.Config(
        _app(counts, index, work), http="h11", log_level="warning", access_log=False
    )
    if model == "shared-least":
        _least_connections_server(sock, held, index)(config).run()
        return
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def serving(
    model: str, processes: int, work_us: int
) -> Iterator[tuple[int, SynchronizedArray[int]]]:
    context = multiprocessing.get_context("fork")
    counts: SynchronizedArray[int] = context.Array("q", processes, lock=False)  # type: ignore[assignment]
    held = context.Array("q", processes, lock=False)  # shared-least: connections each
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if model == "reuseport":
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))  # bound, never listening: holds the port
        shared = None
    else:
        holder.bind(("127.0.0.1", 0))
        holder.listen(2048)
        shared = holder
    port = holder.getsockname()[1]
    children = [
        context.Process(target=_child, args=(model, shared, port, counts, i, work_us, held))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    try:
        yield port, counts, [child.pid for child in children if child.pid is not None]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(15)
        holder.close()


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(0.5)  # every child has started listening by now
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", default="8,32", help="comma-separated wrk -c values")
    parser.add_argument("--work-us", type=int, default=300, help="CPU per request")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it with `apt-get install wrk`")
    summary: dict[str, dict[str, float | None]] = {}
    print(
        "| model | -c | connections per process (requests), each round "
        "| connections max/min: median | worst |"
    )
    print("|---|---:|---|---:|---:|")
    for model in MODELS:
        with serving(model, args.processes, args.work_us) as (port, counts, pids):
            _wait(port)
            url = f"http://127.0.0.1:{port}/"
            for connections in (int(c) for c in args.connections.split(",")):
                splits, ratios = [], []
                for _ in range(args.rounds):
                    before = list(counts)
                    held: dict[int, int] = {}

                    def sample(held: dict[int, int] = held) -> None:
                        time.sleep(args.seconds / 2)
                        held.update(established_by_pid(port, pids))

                    sampler = threading.Thread(target=sample)
                    sampler.start()
                    run_wrk(url, {}, args.seconds, connections)
                    sampler.join()
                    served = [a - b for a, b in zip(counts, before, strict=True)]
                    conns = [held.get(pid, 0) for pid in pids]
                    splits.append(
                        "/".join(str(c) for c in conns)
                        + " ("
                        + "/".join(str(n) for n in served)
                        + ")"
                    )
                    ratios.append(max(conns) / min(conns) if min(conns) else float("inf"))
                median, worst = statistics.median(ratios), max(ratios)
                summary[f"{model} c{connections}"] = {
                    "median": None if median == float("inf") else round(median, 2),
                    "worst": None if worst == float("inf") else round(worst, 2),
                }
                print(
                    f"| {model} | {connections} | {', '.join(splits)} | {median:.2f} "
                    f"| {worst:.2f} |"
                )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
