"""``-v/--verbose``: the ``jditem`` loggers (every call, retry, wait and ``Retry-After``)
as one plain line each on stderr, tokens redacted."""

from __future__ import annotations

import logging
import sys
import time
from typing import Annotated, Any

import typer

VerboseOpt = Annotated[
    bool,
    typer.Option(
        "-v",
        "--verbose",
        help="Show each call, retry and wait (with Retry-After) on stderr as it happens.",
    ),
]


class _StderrHandler(logging.Handler):
    """Writes to the *current* ``sys.stderr`` (a progress bar or a test runner may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - logging must never break the command
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.levelname.lower()} {record.name}: {record.getMessage()}"


def enable_verbose(enabled: bool, ctx: Any) -> None:
    """Route the ``jditem`` loggers at DEBUG to stderr until the command ``ctx`` ends."""
    if not enabled:
        return
    ctx.call_on_close(disable_verbose)
    from jditem.redaction import install_log_redaction

    redacting = install_log_redaction(["jditem"])
    logger = logging.getLogger("jditem")
    logger.setLevel(logging.DEBUG)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter())
        handler.addFilter(redacting)
        logger.addHandler(handler)


def disable_verbose() -> None:
    """Undo :func:`enable_verbose` (the next command in the same process starts quiet)."""
    logger = logging.getLogger("jditem")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
