"""uvicorn configured from :class:`Settings`: the one place the connection limits apply.

:func:`uvicorn_config` is used by ``jditem serve`` and the test server: the request head
size, framing, header-read and keep-alive timeouts and the connection cap, per
connection (:mod:`jditem.server.http.guard`), the forwarded headers of the listed
proxies only, and the logging configuration (:func:`log_config`, tokens redacted).

The HTTP parser is httptools (llhttp), with the guard's own head bound.
"""

from __future__ import annotations

import copy
import logging.config
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from jditem.server.http.guard import protocol_for
from jditem.server.settings import Settings


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration plus the ``jditem`` loggers: INFO and above on
    stderr in uvicorn's format (``WARNING:  redis … is unreachable``), tokens redacted."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "jditem.redaction.RedactingFilter"}
    config["handlers"]["jditem"] = {
        "formatter": "default",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "filters": ["redact"],
    }
    config["loggers"]["jditem"] = {"handlers": ["jditem"], "level": "INFO", "propagate": False}
    return config


def configure_logging() -> None:
    """Apply :func:`log_config` (``jditem worker``; ``jditem serve`` gets it from uvicorn)."""
    logging.config.dictConfig(log_config())


def uvicorn_config(app: ASGIApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` with the limits of ``settings`` (see above).

    ``options`` are passed to ``uvicorn.Config`` (host, port, log settings, …) and win
    over the values taken from ``settings`` (e.g. a test server's longer keep-alive).
    """
    values: dict[str, Any] = {
        "http": protocol_for(settings),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "access_log": settings.access_log,
        # forwarded headers only from the proxies the operator listed (default: none)
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "log_config": log_config(),
    }
    values.update(options)
    return uvicorn.Config(app, **values)
