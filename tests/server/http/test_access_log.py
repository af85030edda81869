"""Token redaction in log records (uvicorn's access log prints query strings)."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner
from uvicorn.logging import AccessFormatter

from jditem.cli.app import build_app
from jditem.redaction import RedactingFilter, redact
from jditem.server.api.v2 import V2_PATH
from jditem.server.http.access_log import ACCESS_FORMAT, BufferedAccessLog
from jditem.server.http.config import log_config
from tests.support.processes import free_port
from tests.support.waiting import await_until, wait_until

TOKEN = "jd_" + "A" * 43


def test_redact_query_bearer_and_bare_tokens() -> None:
    assert (
        redact(f"GET /v2?itemId=1&token={TOKEN} HTTP/1.1") == "GET /v2?itemId=1&token=*** HTTP/1.1"
    )
    assert redact(f"/v2?token={TOKEN}&itemId=1") == "/v2?token=***&itemId=1"
    assert redact(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer ***"
    assert TOKEN not in redact(f"oops {TOKEN} leaked")
    assert redact("itemId=1&notatoken=1") == "itemId=1&notatoken=1"


def test_filter_rewrites_args_including_url_objects() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", f"/api?token={TOKEN}", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()
    url_record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: %s %s",
        ("GET", httpx.URL(f"http://x/api?token={TOKEN}")),
        None,
    )
    RedactingFilter().filter(url_record)
    assert TOKEN not in url_record.getMessage()


class CountingStream(io.StringIO):
    """A stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _access_logger(name: str, *, colours: bool = False) -> tuple[logging.Logger, CountingStream]:
    """A logger set up as uvicorn's default config sets up ``uvicorn.access`` (plus the
    redaction filter, as ``jditem serve`` adds it)."""
    stream = CountingStream()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter(ACCESS_FORMAT, use_colors=colours))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.filters = [RedactingFilter()]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


LINES = [
    ("127.0.0.1:5000", "GET", f"{V2_PATH}?itemId=100012043978", "1.1", 200),
    ("127.0.0.1:5000", "GET", f"{V2_PATH}?itemId=1&token={TOKEN}", "1.1", 429),
    ("10.0.0.1:1", "GET", f"{V2_PATH}?%74oken={TOKEN}&itemId=1", "1.0", 401),
    ("", "POST", f"{V2_PATH}?token={TOKEN.replace('A', '+')}", "1.1", 405),
    ("127.0.0.1:2", "GET", V2_PATH, "1.1", 599),
    ("127.0.0.1:3", "GET", f"/api/health?token={TOKEN}", "1.1", 200),
]


def test_buffered_lines_are_what_the_logger_writes_and_one_write_per_loop_turn() -> None:
    reference, expected = _access_logger("test.access.reference")
    logger, written = _access_logger("test.access.buffered")
    buffered = BufferedAccessLog(logger)
    for args in LINES:
        reference.info('%s - "%s %s HTTP/%s" %d', *args)

    async def log_all() -> None:
        for args in LINES[:-1]:
            buffered.info('%s - "%s %s HTTP/%s" %d', *args)
        assert written.getvalue() == ""  # buffered until the loop turns
        await await_until(written.getvalue, what="the loop turn's one write")
        buffered.info('%s - "%s %s HTTP/%s" %d', *LINES[-1])  # not v2: the logger's

    asyncio.run(log_all())
    assert written.getvalue() == expected.getvalue()
    assert TOKEN not in written.getvalue()
    assert written.writes == 2  # the five v2 lines at once, then the health line


def test_other_configurations_go_through_the_logger() -> None:
    logger, written = _access_logger("test.access.colours", colours=True)
    buffered = BufferedAccessLog(logger)
    buffered.info('%s - "%s %s HTTP/%s" %d', *LINES[1])  # no event loop needed
    assert "token=***" in written.getvalue()
    assert TOKEN not in written.getvalue()


def test_serve_logging_configuration_takes_the_buffered_path() -> None:
    """``jditem serve``'s logging configuration (uvicorn's access handler, redaction
    installed) is one the buffered log writes for itself."""
    config = log_config()
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": config["formatters"],
            "handlers": {"access": {**config["handlers"]["access"], "stream": stream}},
            "loggers": {"test.access.serve": config["loggers"]["uvicorn.access"]},
        }
    )
    logger = logging.getLogger("test.access.serve")
    logger.filters = [RedactingFilter()]
    logger.handlers[0].formatter.use_colors = False  # type: ignore[union-attr]  # not a tty
    assert BufferedAccessLog(logger)._stream_handler() is logger.handlers[0]


@pytest.mark.parametrize("access_log", [True, False])
def test_jditem_serve_logs_v2_calls_redacted(tmp_path: Path, access_log: bool) -> None:
    """The real ``jditem serve``: v2 lines (buffered) and other lines (the logger) reach
    its output, in uvicorn's format, with no token in them; none with
    ``--no-access-log``."""
    db = str(tmp_path / "server.db")
    runner = CliRunner()
    result = runner.invoke(build_app(), ["admin", "account", "create", "acme", "--db", db])
    assert result.exit_code == 0, result.output
    created = runner.invoke(
        build_app(), ["admin", "token", "create", "--account", "acme", "--unlimited", "--db", db]
    )
    token = created.stdout.splitlines()[-1]
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "JDITEM_HOME": str(tmp_path), "JDITEM_SANDBOX_LATENCY_MS": "[1, 2]"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jditem.cli", "serve", "--db", db, "--port", str(port)]
            + ([] if access_log else ["--no-access-log"]),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is None and "Application startup complete" in log.read_text(),
            what="jditem serve to start",
            timeout=60.0,
            interval=0.1,
        )
        with httpx.Client(base_url=base, timeout=60) as client:
            client.get(V2_PATH, params={"itemId": "7", "token": token})
            client.get(
                V2_PATH, params={"itemId": "8"}, headers={"Authorization": f"Bearer {token}"}
            )
            client.get("/api/health", params={"token": token})
        expected = [
            f'"GET {V2_PATH}?itemId=7&token=*** HTTP/1.1"',
            f'"GET {V2_PATH}?itemId=8 HTTP/1.1"',
            '"GET /api/health?token=*** HTTP/1.1" 200 OK',
        ]
        if access_log:
            wait_until(
                lambda: all(line in log.read_text() for line in expected),
                what="the access lines",
                timeout=30.0,
                interval=0.05,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert "Application shutdown complete" in text
    if not access_log:
        assert '"GET ' not in text
    assert token not in text
    assert token[3:20] not in text
