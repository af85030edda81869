"""Least-connections accept for the pre-forked API processes of ``jditem serve --processes N``.

When N processes all accept on one listening socket, a burst of new connections (a
load generator, a client's connection pool) wakes every process, and the first to run
drains the whole accept queue (libuv, under uvloop, accepts until the queue is empty):
one process can end up holding every keep-alive connection while the others idle.

Here each process accepts itself, **one connection per wake-up**, and only while it
holds no more open connections than the least loaded process — the counts live in
shared memory (:class:`ConnectionCounts`, made before the fork) — or once a pending
connection has waited ``wait_seconds`` (a stuck or busy peer must not stall new
connections; 20 ms by default). Connections split evenly whatever the scheduler does
(measured in ``benchmarks/accept_balance.py``: 4/4 of 8 in every round, at most 1.46×
at 32, against 8/0 and 32/0 with the shared accept queue).

The accepted connections run uvicorn's own protocol (the guarded h11 protocol, with its
connection cap), exactly as connections uvicorn accepted itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from multiprocessing.context import BaseContext
from typing import Any

import uvicorn

log = logging.getLogger("uvicorn.error")

#: Longest a process holding more connections than another leaves a pending connection
#: to the others before it takes it anyway.
WAIT_SECONDS = 0.02
#: The count of a process that does not accept (starting, stopping or dead).
_NOT_ACCEPTING = 2**62
#: Step of that wait (the counts are re-read after each).
_WAIT_STEP = 0.002


class ConnectionCounts:
    """Open connections per API process, in memory shared by the forked processes."""

    def __init__(self, context: BaseContext, processes: int) -> None:
        # lock-free: each process writes only its own slot; a stale read of another's
        # slot costs at most one connection placed less evenly
        self._held: Any = context.Array("q", [_NOT_ACCEPTING] * processes, lock=False)

    def set(self, index: int, held: int) -> None:
        """Record that process ``index`` holds ``held`` connections."""
        self._held[index] = held

    def leave(self, index: int) -> None:
        """Process ``index`` accepts no more (stopping, or dead): nobody waits for it."""
        self._held[index] = _NOT_ACCEPTING

    def held(self, index: int) -> int | None:
        """The connections process ``index`` holds (None while it does not accept)."""
        held: int = self._held[index]
        return None if held == _NOT_ACCEPTING else held

    def should_wait(self, index: int) -> bool:
        """Whether process ``index`` holds more connections than the least loaded
        process that accepts."""
        held = self._held[index]
        return any(other < held for i, other in enumerate(self._held) if i != index)


class LeastConnectionsServer(uvicorn.Server):
    """A uvicorn server that accepts from ``sock`` itself (see the module docstring).

    Run it with ``server.run(sockets=[])``: uvicorn then starts the app (lifespan) and
    its main loop without a listener of its own.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        sock: socket.socket,
        counts: ConnectionCounts,
        index: int,
        *,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        super().__init__(config)
        self._sock = sock
        self._counts = counts
        self._index = index
        self._wait_seconds = wait_seconds
        self._acceptor: asyncio.Task[None] | None = None

    def _held(self) -> int:
        held = len(self.server_state.connections)
        self._counts.set(self._index, held)
        return held

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if self.started and not self.should_exit:
            self._held()
            self._acceptor = asyncio.get_running_loop().create_task(self._accept_forever())

    async def on_tick(self, counter: int) -> bool:
        if self._acceptor is not None:
            self._held()  # closed connections leave the count within a tick (0.1 s)
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        acceptor, self._acceptor = self._acceptor, None
        self._counts.leave(self._index)
        if acceptor is not None:
            acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acceptor
        await super().shutdown(sockets=sockets)

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self._sock.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(fd)

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        self._sock.setblocking(False)
        while not self.should_exit:
            await self._readable()
            self._held()
            deadline = loop.time() + self._wait_seconds
            while self._counts.should_wait(self._index) and loop.time() < deadline:
                await asyncio.sleep(_WAIT_STEP)
                self._held()
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another process took it
            except OSError as exc:  # e.g. out of file descriptors: leave it queued a while
                log.error("cannot accept a connection: %s", exc)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            try:
                await loop.connect_accepted_socket(self._protocol, conn, ssl=self.config.ssl)
            except OSError:  # the client left before it was set up
                conn.close()
            self._held()
