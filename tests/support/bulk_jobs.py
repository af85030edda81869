"""Bulk jobs through the console: a token's id for the job form, and a job waited for
until it has finished (its ``progress.json``, polled with a generous deadline)."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from tests.support.live_server import LiveServer
from tests.support.waiting import wait_until

JOB_TIMEOUT = 60.0


class Pages(Protocol):
    """What reads console pages: a signed-in console client (tests/server/console)."""

    def get(self, path: str, **kwargs: Any) -> httpx.Response: ...


def token_id_of(server: LiveServer, name: str) -> int:
    """The id of the token named ``name`` (the job form's choice)."""
    return int(server.scalar("SELECT id FROM tokens WHERE name = :n", n=name))


def wait_for_job(console: Pages, job_id: str) -> dict[str, object]:
    """The progress of job ``job_id`` once it has finished."""

    def finished() -> dict[str, object] | None:
        progress: dict[str, object] = console.get(f"/console/jobs/{job_id}/progress.json").json()
        return progress if progress["finished"] else None

    return wait_until(finished, what=f"job {job_id} to finish", timeout=JOB_TIMEOUT, interval=0.1)
