"""Access-log redaction: tokens never reach the logs.

uvicorn's access log prints the full request line, query string included, so a call
with ``?token=...`` would write the secret to the log. :class:`RedactTokenFilter`
rewrites ``token=<value>`` (and any ``Bearer <value>``) in log records to
``token=***``. Headers are never logged by uvicorn; the Bearer rule is a backstop for
messages built elsewhere.

Redaction looks at what the server *decodes*, not only at the raw text: each
``name=value`` pair of a query string is percent-decoded (``%74oken=`` is ``token=``,
``jd%5F…`` is ``jd_…``), and so is any other chunk of text with a ``%`` in it.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote, unquote_plus

_TOKEN_QUERY = re.compile(r"(?i)((?:^|[?&\s\"'])(?:token|admin_key|key)=)[^&\s\"']+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_RAW_TOKEN = re.compile(r"\bjd_[A-Za-z0-9_-]{20,}")

REDACTED = "***"

#: Parameter names (decoded, case-insensitive) whose values are secrets.
SECRET_NAMES = frozenset({"token", "admin_key", "key"})
_QUERY_PAIR = re.compile(r"(?<=[?&;])([^=&;\s\"'?]*)=([^&;\s\"']*)")
_ENCODED_CHUNK = re.compile(r"[^\s\"']*%[0-9A-Fa-f]{2}[^\s\"']*")


def _secret_text(decoded: str) -> bool:
    return bool(_RAW_TOKEN.search(decoded) or _BEARER.search(decoded))


def _redact_pair(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    decoded_name = unquote_plus(name).strip().lower()
    if decoded_name in SECRET_NAMES or _secret_text(unquote_plus(value)):
        return f"{name}={REDACTED}"
    return match.group(0)


def _redact_chunk(match: re.Match[str]) -> str:
    chunk = match.group(0)
    decoded = unquote(chunk)
    if decoded == chunk:
        return chunk
    cleaned = redact_plain(decoded)
    return cleaned if cleaned != decoded else chunk


#: Loggers that may print request lines or URLs.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "jditem", "httpx")


def redact_plain(text: str) -> str:
    """``text`` with token values replaced by ``***`` (no decoding)."""
    text = _TOKEN_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _RAW_TOKEN.sub("jd_" + REDACTED, text)


def redact(text: str) -> str:
    """``text`` with token values replaced by ``***``, also when percent-encoded."""
    if "%" in text or "+" in text:
        text = _QUERY_PAIR.sub(_redact_pair, text)
        text = _ENCODED_CHUNK.sub(_redact_chunk, text)
    return redact_plain(text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)  # e.g. an httpx.URL carrying ?token=
    cleaned = redact(text)
    return cleaned if cleaned != text else value


class RedactTokenFilter(logging.Filter):
    """A logging filter that redacts tokens in the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(val) for key, val in record.args.items()}
        return True


_FILTER = RedactTokenFilter()


def install_redaction() -> None:
    """Attach the redaction filter to the loggers that can see request lines (idempotent).

    Filters on a logger apply to records created on that logger; the handlers of the
    root logger also get it, so records propagated from child loggers are covered.
    """
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
