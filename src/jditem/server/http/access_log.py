"""The access log: tokens never reach it, and v2 calls are logged cheaply.

uvicorn's access log prints the full request line, query string included, so a call
with ``?token=...`` would write the secret to the log. :func:`install_redaction` puts
the one redaction engine's filter (:mod:`jditem.redaction`) on uvicorn's loggers and
on the root logger's handlers.

:class:`BufferedAccessLog` is the access logger the guarded protocol hands uvicorn
(:mod:`jditem.server.http.guard`). A line for the v2 endpoint — nearly every line of a
busy server — is written as uvicorn's formatter would write it, redacted by the same
engine (:func:`jditem.redaction.redact` over the whole line), but without a
``LogRecord``, a formatter or a flush per request: lines are collected and written in
one ``write`` + ``flush`` per event-loop iteration. Every other line, and every line
when the logger is configured otherwise than by uvicorn's default access handler (a
file handler, colours, another format, extra filters), goes through the logger as
before.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any, cast

from uvicorn.logging import AccessFormatter

from jditem.redaction import RedactingFilter, install_log_redaction, redact
from jditem.server.api.v2 import V2_PATH

#: uvicorn's loggers: the access log and the error log (which may print request lines).
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")

#: uvicorn's default access-line format, the one :class:`BufferedAccessLog` reproduces.
ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def install_redaction() -> None:
    """Attach the redaction filter to the loggers that can see request lines and to the
    root logger's handlers, so records propagated from child loggers are covered too
    (idempotent)."""
    install_log_redaction(SERVER_LOGGERS, root_handlers=True)


def _status(code: int) -> str:
    """``200 OK`` as uvicorn's access formatter writes it (no colours)."""
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} "


_STATUS = {code: _status(code) for code in http.HTTPStatus}


class BufferedAccessLog:
    """uvicorn's access logger with v2 lines buffered (see the module docstring).

    Duck-types the two methods uvicorn's protocols call on their access logger.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._lines: list[str] = []
        self._handler: logging.StreamHandler[Any] | None = None

    def hasHandlers(self) -> bool:
        """Whether the logger writes anywhere (uvicorn skips the log otherwise)."""
        return self.logger.hasHandlers()

    def info(self, msg: str, *args: Any) -> None:
        """Log one access line: ``args`` are uvicorn's (client, method, path, version,
        status)."""
        path = args[2] if len(args) == 5 else ""
        handler = self._stream_handler() if path.startswith(V2_PATH) else None
        if handler is None:
            self.flush()  # keep the lines in order
            self.logger.info(msg, *args)
            return
        client, method, _, version, status = args
        line = f'INFO:     {client} - "{method} {path} HTTP/{version}" '
        line += _STATUS.get(status) or _status(status)
        if self.logger.filters:  # RedactingFilter (checked by _stream_handler)
            line = redact(line)
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._handler = handler
        self._lines.append(line + handler.terminator)

    def flush(self) -> None:
        """Write the buffered lines (one write and one flush)."""
        lines, handler = self._lines, self._handler
        if not lines or handler is None:
            return
        self._lines = []
        handler.acquire()
        try:
            handler.stream.write("".join(lines))
            handler.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing to tell it to
            pass
        finally:
            handler.release()

    def _stream_handler(self) -> logging.StreamHandler[Any] | None:
        """The logger's one handler when it is uvicorn's default access handler (a
        plain stream, uvicorn's format, no colours) and nothing else is configured that
        would change the line; else None."""
        logger = self.logger
        if logger.disabled or logger.propagate or not logger.isEnabledFor(logging.INFO):
            return None
        if len(logger.handlers) != 1 or not all(
            isinstance(f, RedactingFilter) for f in logger.filters
        ):
            return None
        handler = logger.handlers[0]
        formatter = handler.formatter
        if (
            type(handler) is not logging.StreamHandler
            or handler.filters
            or handler.level > logging.INFO
            or not isinstance(formatter, AccessFormatter)
            or formatter.use_colors
            or formatter._fmt != ACCESS_FORMAT
        ):
            return None
        return handler


_shared: BufferedAccessLog | None = None


def access_logger() -> logging.Logger:
    """The process's :class:`BufferedAccessLog` over ``uvicorn.access``, typed as the
    logger uvicorn's protocols expect."""
    global _shared
    if _shared is None:
        _shared = BufferedAccessLog(logging.getLogger("uvicorn.access"))
    return cast(logging.Logger, _shared)
