"""A throwaway redis-server for the test session (unix socket in a temp dir, no TCP).

:func:`start_redis` runs ``redis-server`` with ``port 0`` (no TCP listener), a unix
socket in a fresh temp directory and no persistence, then polls ``PING`` until it
answers (``--daemonize yes`` exits 0 even when the server cannot start, so the exit
status proves nothing). :class:`RedisServer` can be stopped and started again on the
same socket (the chaos tests stop Redis under load) and flushed between tests.

``python -m tests.support.redis_server`` starts one by hand and prints its URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

#: Bounded waits for start and stop.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class RedisUnavailable(RuntimeError):
    """redis-server is missing or would not start (reason in the message)."""


@dataclass
class RedisServer:
    """A running throwaway redis-server (see the module docstring)."""

    binary: str
    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "redis.sock"

    @property
    def url(self) -> str:
        """``unix://`` URL of the server."""
        return f"unix://{self.socket}"

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2.0)

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            with self._client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
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
                log = (self.root / "redis.log").read_text(errors="replace")[-2000:]
                raise RedisUnavailable(f"redis-server did not answer PING: {log}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until it no longer answers."""
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
        """Delete every key (between tests)."""
        with self._client() as client:
            client.flushall()

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
    # a zombie child of ours still "exists"; the daemonized server is not our child
    return True


def start_redis() -> RedisServer:
    """Start a throwaway server; raises :class:`RedisUnavailable` when it cannot."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable("redis-server not found; install it with: apt-get install redis")
    server = RedisServer(binary=binary, root=Path(tempfile.mkdtemp(prefix="jditem-redis-")))
    try:
        server.start()
    except (subprocess.SubprocessError, OSError) as exc:
        server.close()
        raise RedisUnavailable(f"redis-server would not start: {exc}") from None
    except RedisUnavailable:
        server.close()
        raise
    return server


if __name__ == "__main__":  # pragma: no cover - manual use
    running = start_redis()
    print(running.url, flush=True)
    try:
        signal.pause()
    finally:
        running.close()
