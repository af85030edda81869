"""Access-log redaction: tokens never reach the server's logs.

uvicorn's access log prints the full request line, query string included, so a call
with ``?token=...`` would write the secret to the log. :func:`install_redaction` puts
the one redaction engine's filter (:mod:`jditem.redaction`) on uvicorn's loggers and
on the root logger's handlers.
"""

from __future__ import annotations

from jditem.redaction import install_log_redaction

#: uvicorn's loggers: the access log and the error log (which may print request lines).
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


def install_redaction() -> None:
    """Attach the redaction filter to the loggers that can see request lines and to the
    root logger's handlers, so records propagated from child loggers are covered too
    (idempotent)."""
    install_log_redaction(SERVER_LOGGERS, root_handlers=True)
