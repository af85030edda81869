"""The raw token never lands in the database files, their WAL, or the logs (SPEC §4, DESIGN).

On the scale-out profile "the database files" are the PostgreSQL cluster's data
directory (after a CHECKPOINT), WAL included.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.backends import Backend
from tests.support.live_server import V2_PATH, live_server


def test_raw_tokens_appear_nowhere(caplog: pytest.LogCaptureFixture, backend: Backend) -> None:
    caplog.set_level(logging.INFO)
    with live_server(log_level="info") as live:
        tokens = [live.make_token("s", name=str(i)) for i in range(3)]
        for token in tokens:
            live.http.get(V2_PATH, params={"itemId": "100012043978", "token": token})
            live.http.get(V2_PATH, params={"itemId": "bad", "token": token})
            live.get("100012043978", token)
        live.http.get(V2_PATH, params={"itemId": "1", "token": tokens[0] + "x"})  # unknown
        live.flush()
        home = live.settings.home
        live.stop()  # checkpoint and close the database first
        files = [p for p in Path(home).rglob("*") if p.is_file()]
        if backend.cluster is None:
            assert any(p.name == "server.db" for p in files)
        else:
            backend.cluster.psql("CHECKPOINT")
            files += [p for p in backend.cluster.datadir.rglob("*") if p.is_file()]
            assert any(p.parent.name == "pg_wal" for p in files)
        blobs = b"".join(p.read_bytes() for p in files)
    logs = caplog.text
    assert "token=***" in logs, "the access log should show the redacted query"
    for token in tokens:
        assert token.encode() not in blobs
        assert token not in logs
        assert token[10:30] not in logs  # not even a fragment past the visible prefix
