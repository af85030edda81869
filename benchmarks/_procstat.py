"""Benchmark helpers: CPU seconds of processes from /proc, keep-alive connections per
process, and py-spy profiles summarised by layer.

CPU seconds (user + system, from ``/proc/<pid>/stat``) are what a call costs whatever
else runs on the machine; wall-clock throughput is not (the cores are shared). A
process tree's CPU is the sum over its live processes of their own time plus the time
of the children they have reaped (``cutime + cstime``), so a PostgreSQL backend that
exits during a measurement is still counted (in the postmaster's reaped time).

Linux only (``/proc``); the load generator and py-spy are separate programs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcTimes:
    """One process's CPU seconds: its own, and that of children it has reaped."""

    own: float
    reaped: float
    ppid: int


def proc_times(pid: int) -> ProcTimes | None:
    """CPU times of ``pid`` (all its threads), or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name is in parentheses and may contain spaces: split after it
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcTimes((utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS, int(fields[1]))


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            times = proc_times(int(entry))
            if times is not None and times.ppid == pid:
                found.append(int(entry))
    return sorted(found)


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and all its live descendants, reaped children included."""
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        times = proc_times(current)
        if times is None:
            continue
        total += times.own + times.reaped
        stack.extend(children(current))
    return total


def established_by_pid(port: int, pids: list[int]) -> dict[int, int]:
    """Established TCP connections on local ``port`` held by each of ``pids``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    counts: dict[int, int] = {}
    for pid in pids:
        count = 0
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            counts[pid] = 0
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                count += 1
        counts[pid] = count
    return counts


def load_average() -> str:
    """The 1-minute load average and the core count, for the printed context."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# ----------------------------------------------------------------------- py-spy


def py_spy() -> str | None:
    """The py-spy executable (next to this Python, else on PATH), or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_py_spy(pid: int, seconds: float, out: Path, rate: int = 250) -> subprocess.Popen[bytes]:
    """Sample ``pid`` for ``seconds`` into ``out`` (collapsed stacks, py-spy's ``raw``
    format): only the thread holding the GIL, i.e. the Python work that one process can
    do at a time (a thread blocked in a queue, or SQLite running without the GIL, is
    not sampled). Non-blocking: the target is not paused."""
    binary = py_spy()
    if binary is None:
        raise SystemExit("py-spy not found: install it with `.venv/bin/pip install py-spy`")
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--gil",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


#: Layers a sample is charged to: the innermost frame whose file matches (in order).
LAYERS: tuple[tuple[str, str], ...] = (
    ("jditem/server/http/guard", "jditem HTTP guard"),
    ("jditem/server/http/access_log", "access log (jditem's redaction filter)"),
    ("RequestIdMiddleware.", "jditem ASGI middleware"),
    ("jditem/server/http/security_headers", "jditem ASGI middleware"),
    ("jditem/server/http/middleware", "jditem ASGI middleware"),
    ("jditem/server/store/", "jditem store (statements, writer thread)"),
    ("jditem/server/accounts/batcher", "jditem charge batcher"),
    ("jditem/", "jditem request code (v2, admission, envelope, …)"),
    ("logging/", "access log (stdlib logging)"),
    ("uvicorn/protocols/http/h11", "uvicorn h11 protocol"),
    ("uvicorn/protocols/http/httptools", "uvicorn httptools protocol"),
    ("/h11/", "h11 parser"),
    ("uvicorn/", "uvicorn other"),
    ("starlette/", "Starlette"),
    ("fastapi/", "FastAPI"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("aiosqlite/", "aiosqlite"),
    ("redis/", "redis-py"),
    ("greenlet", "greenlet"),
    ("pydantic", "pydantic"),
    ("uvloop", "uvloop"),
    ("asyncio/", "asyncio / uvloop (C)"),
)


def _layer(frame: str) -> str | None:
    for needle, name in LAYERS:
        if needle in frame:
            return name
    return None


@dataclass
class Profile:
    """A summarised py-spy profile: samples, leaf functions and layers by share."""

    samples: int
    leaves: Counter[str]
    layers: Counter[str]

    def top_leaves(self, n: int = 15) -> list[tuple[str, float]]:
        """The ``n`` functions most often on top of the stack, with their share."""
        return [(f, c / self.samples) for f, c in self.leaves.most_common(n)]

    def layer_shares(self) -> list[tuple[str, float]]:
        """Each layer's share of the samples (see :data:`LAYERS`)."""
        return [(name, c / self.samples) for name, c in self.layers.most_common()]


def summarise(path: Path) -> Profile:
    """Read py-spy ``raw`` output: each sample is charged to the layer of the innermost
    frame that belongs to a known layer (so time in the standard library or C code
    counts for the caller), and its leaf function is counted."""
    leaves: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        leaves[_short(frames[-1])] += count
        layer = "other (stdlib, C, thread start)"
        for frame in reversed(frames):
            found = _layer(frame)
            if found is not None:
                layer = found
                break
        layers[layer] += count
    return Profile(max(samples, 1), leaves, layers)


def _short(frame: str) -> str:
    """``func (…/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name


def print_profile(title: str, profile: Profile, n: int = 12) -> None:
    """Print a profile's layers and top leaf functions as Markdown tables."""
    print(f"\npy-spy, {title}: {profile.samples:,} samples")
    print("\n| layer (innermost known frame) | share |\n|---|---:|")
    for name, share in profile.layer_shares():
        print(f"| {name} | {share:.1%} |")
    print("\n| function on top of the stack | share |\n|---|---:|")
    for frame, share in profile.top_leaves(n):
        print(f"| `{frame}` | {share:.1%} |")
