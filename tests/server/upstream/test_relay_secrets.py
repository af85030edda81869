"""The relay's upstream token appears nowhere: database, DEBUG logs, pages, errors, exports."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.server.console.conftest import ConsoleClient
from tests.support.relay import upstream_and_relay


def test_the_upstream_token_is_found_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # The upstream can pay for one call: a success, then 601 (circuit, 503 messages).
    with upstream_and_relay(upstream_balance_yuan="0.01", log_level="debug") as (
        _upstream,
        relay,
        secret,
    ):
        token = relay.make_token("team")
        texts = [relay.get("2001", token).text, relay.get("2002", token).text]
        texts.append(relay.get("2003", token).text)
        texts.append(relay.http.get("/api/health/jd/get-item-detail/v2").text)
        console = ConsoleClient(relay)
        try:
            console.sign_in()
            for path in (
                "/console",
                "/console/upstream",
                "/console/calls",
                "/console/calls.csv",
                "/console/tasks",
                "/console/trends",
            ):
                page = console.get(path)
                assert page.status_code == 200, path
                texts.append(page.text)
            assert "upstream code 601" in console.get("/console/upstream").text
        finally:
            console.close()
        relay.flush()
        home = Path(relay.settings.home)
        db_path = relay.db_path
        relay.stop()
        exported = CliRunner().invoke(
            build_app(), ["admin", "--db", str(db_path), "upstream", "--json"]
        )
        assert exported.exit_code == 0, exported.output
        assert '"upstreamCharged": 1' in exported.output
        texts.append(exported.output)
        blobs = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    logs = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "token=***" in logs  # httpx logged the upstream URL, redacted
    assert secret.encode() not in blobs
    assert secret not in logs
    for text in texts:
        assert secret not in text
