"""CoalescingTransport: a connection's writes of one loop iteration leave as one write,
in order; closing writes what is held first, aborting drops it."""

from __future__ import annotations

import asyncio

from jditem.server.http.coalesce import CoalescingTransport
from tests.support.waiting import callbacks_so_far


class Recording(asyncio.Transport):
    """A transport that records what reaches it (the real one is a socket's)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def write_eof(self) -> None:
        self.calls.append(("eof", b""))

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_iteration_leave_as_one() -> None:
    raw = Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.write(memoryview(b"body"))
    assert raw.calls == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await callbacks_so_far()  # the end of this loop iteration
    assert raw.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]
    transport.writelines([b"next", b" one"])
    await callbacks_so_far()
    assert raw.calls[1:] == [("write", b"next one")]


async def test_close_and_eof_write_what_is_held_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    raw = Recording()
    transport = CoalescingTransport(raw, loop)
    transport.write(b"answer")
    transport.write_eof()
    transport.write(b"last")
    transport.close()
    await callbacks_so_far()
    assert raw.calls == [("write", b"answer"), ("eof", b""), ("write", b"last"), ("close", b"")]

    raw = Recording()
    transport = CoalescingTransport(raw, loop)
    transport.write(b"never sent")
    transport.abort()
    await callbacks_so_far()
    assert raw.calls == [("abort", b"")]


async def test_a_connection_lost_meanwhile_gets_nothing() -> None:
    raw = Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"too late")
    raw.closing = True  # the peer went away before the iteration ended
    await callbacks_so_far()
    assert raw.calls == []
    assert transport.is_closing()
