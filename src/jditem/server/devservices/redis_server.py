"""A throwaway redis-server: unix socket in a directory of its own, no TCP, no persistence.

:func:`start_redis` runs ``redis-server`` with ``port 0`` (no TCP listener), a unix
socket and no persistence, then sends ``PING`` until it answers (``--daemonize yes``
exits 0 even when the server cannot start, so the exit status proves nothing).
:class:`RedisServer` can be stopped and started again on the same socket (the chaos
tests stop Redis under load) and flushed.

Standard library only (it speaks the two commands it needs itself): ``jditem dev
services`` runs it, and so does the test suite (``tests/support/redis_server.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Bounded waits for start and stop.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
#: Bound on one command over the socket.
COMMAND_TIMEOUT = 2.0


class RedisUnavailable(RuntimeError):
    """redis-server is missing or would not start (reason in the message)."""


@dataclass
class RedisServer:
    """A running throwaway redis-server (see the module docstring)."""

    binary: str
    root: Path

    @property
    def socket(self) -> Path:
        """The server's unix socket."""
        return self.root / "redis.sock"

    @property
    def url(self) -> str:
        """``unix://`` URL of the server (``--redis``)."""
        return f"unix://{self.socket}"

    def command(self, *words: str) -> bytes:
        """Send one command (RESP) and return the first line of the answer."""
        payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(COMMAND_TIMEOUT)
            conn.connect(str(self.socket))
            conn.sendall(payload.encode())
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = conn.recv(256)
                if not chunk:
                    break
                answer += chunk
        return answer.strip()

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            return self.command("PING") == b"+PONG"
        except OSError:
            return False

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        pidfile = self.root / "redis.pid"
        subprocess.run(
            [
                self.binary,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(pidfile),
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.root / "redis.log"),
                "--maxclients",
                "2000",
            ],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # not a pipe: the daemon could hold it open
            stderr=subprocess.DEVNULL,
            timeout=START_TIMEOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ping():
            if time.monotonic() > deadline:
                log = self.root / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RedisUnavailable(f"redis-server did not answer PING: {tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until its process is gone."""
        pidfile = self.root / "redis.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            pidfile.unlink()

    def flush(self) -> None:
        """Delete every key."""
        answer = self.command("FLUSHALL")
        if answer != b"+OK":
            raise RedisUnavailable(f"FLUSHALL answered {answer!r}")

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # the daemonized server is not our child, so no zombie can linger here
    return True


def start_redis(root: Path | None = None) -> RedisServer:
    """Start a throwaway server in ``root`` (a new directory; default a fresh temporary
    one); raises :class:`RedisUnavailable` when it cannot."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable("redis-server not found; install it with: apt-get install redis")
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="jditem-redis-"))
    else:
        root.mkdir(parents=True, exist_ok=False)
    server = RedisServer(binary=binary, root=root)
    try:
        server.start()
    except (subprocess.SubprocessError, OSError) as exc:
        server.close()
        raise RedisUnavailable(f"redis-server would not start: {exc}") from None
    except RedisUnavailable:
        server.close()
        raise
    return server
