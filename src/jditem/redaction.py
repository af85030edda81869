"""Keep secrets out of logs, error messages, tracebacks and output: the one redaction
engine of the client, the CLI and the server.

Two layers. Secrets registered here (every token a client is built with, the relay's
upstream token) are masked wherever they appear, URL-encoded too. Patterns mask the
secrets this process never saw: ``token=`` / ``key=`` / ``admin_key=`` values, ``Bearer``
credentials, ``"token": "..."`` in JSON and bare ``jd_…`` tokens — also when
percent-encoded (``%74oken=`` is ``token=``: what a server decodes is what counts).

:class:`RedactingFilter` applies both to log records; :func:`install_log_redaction` puts
it on the project's, httpx's and httpcore's loggers (httpx logs full URLs at INFO,
httpcore headers at DEBUG) and, for a server, uvicorn's (its access log prints query
strings). Standard library only.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "***"

#: Loggers that get the filter. Logger filters are not inherited, so httpcore's
#: per-module children are listed too (and any existing child is found at install).
LOGGER_NAMES = (
    "jditem",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

#: Parameter names (decoded, case-insensitive) whose values are secrets.
SECRET_NAMES = frozenset({"token", "admin_key", "key"})

#: A secret's value ends where a query value, a quoted string or an escape ends.
_VALUE = r"[^&\s\"'<>#;\\]+"
_PATTERNS = (
    (re.compile(r"(?i)((?:[?&;]|\b)token=)" + _VALUE), r"\1" + MASK),
    (re.compile(r"(?i)((?:^|[?&;\s\"'])(?:admin_key|key)=)" + _VALUE), r"\1" + MASK),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;\\]+"), r"\1" + MASK),
    (re.compile(r"(?i)(['\"]token['\"]\s*:\s*['\"])[^'\"]+"), r"\1" + MASK),
    (re.compile(r"\bjd_[A-Za-z0-9_-]{20,}"), "jd_" + MASK),
)
#: Every pattern above needs one of these words: text without them skips the patterns.
_MAYBE = re.compile(r"(?i)token|key=|bearer|jd_")
_QUERY_PAIR = re.compile(r"(?<=[?&;])([^=&;\s\"'?]*)=([^&;\s\"']*)")
_ENCODED_CHUNK = re.compile(r"[^\s\"']*%[0-9A-Fa-f]{2}[^\s\"']*")

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None


def register_secret(secret: str) -> None:
    """Mask ``secret`` (and its URL-encoded forms) wherever it appears from now on."""
    global _secret_re
    if not secret:
        return
    with _lock:
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        if forms <= _secrets:
            return
        _secrets.update(forms)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def _redact_plain(text: str) -> str:
    """``text`` with registered secrets and the patterns masked (no decoding)."""
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if _MAYBE.search(text) is None:
        return text
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


def _redact_pair(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    decoded = unquote_plus(value)
    if unquote_plus(name).strip().lower() in SECRET_NAMES or _redact_plain(decoded) != decoded:
        return f"{name}={MASK}"
    return match.group(0)


def _redact_chunk(match: re.Match[str]) -> str:
    chunk = match.group(0)
    decoded = unquote(chunk)
    if decoded == chunk:
        return chunk
    cleaned = _redact_plain(decoded)
    return cleaned if cleaned != decoded else chunk


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with registered secrets, ``extra`` secrets and secret patterns masked,
    also where they are percent-encoded."""
    for secret in extra:
        if secret:
            text = text.replace(secret, MASK)
    if "%" in text or "+" in text:
        text = _QUERY_PAIR.sub(_redact_pair, text)
        text = _ENCODED_CHUNK.sub(_redact_chunk, text)
    return _redact_plain(text)


def mask_token(token: str) -> str:
    """A display form that identifies nothing secret: ``'***'`` plus the length."""
    return f"{MASK}(len={len(token)})"


def sanitize_exception(exc: BaseException) -> BaseException:
    """A copy of ``exc`` (same type when possible) whose message is redacted.

    Used as the ``__cause__`` of the errors we raise, so chained tracebacks stay
    token-free while still naming the underlying failure. The copy holds no request.
    """
    message = redact(str(exc))
    try:
        clean = type(exc)(message)
    except Exception:  # exception types with unusual constructors
        clean = RuntimeError(f"{type(exc).__name__}: {message}")
    return clean


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)  # e.g. an httpx.URL carrying ?token=
    cleaned = redact(text)
    return cleaned if cleaned != text else value


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the message, its arguments and tracebacks.

    A record that holds a secret keeps its shape when masking its arguments one by one
    is enough (uvicorn's access formatter unpacks them); otherwise its message is
    replaced by the masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        clean = redact(message)
        if clean != message:
            _mask(record, clean)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _mask(record: logging.LogRecord, clean: str) -> None:
    """Mask ``record``'s arguments one by one, or replace its message by ``clean``."""
    args = record.args
    if isinstance(args, tuple | dict) and args:
        record.args = (
            tuple(_redact_value(arg) for arg in args)
            if isinstance(args, tuple)
            else {key: _redact_value(value) for key, value in args.items()}
        )
        try:
            message = record.getMessage()
        except Exception:
            message = None
        if message is not None and redact(message) == message:
            return
    record.msg, record.args = clean, None


_FILTER = RedactingFilter()


def install_log_redaction(
    extra_loggers: Iterable[str] = (), *, root_handlers: bool = False
) -> RedactingFilter:
    """Attach the shared :class:`RedactingFilter` to the relevant loggers (idempotent).

    A logger's filter applies only to the records created on it; with ``root_handlers``
    the root logger's handlers get it too, so records propagated from any logger are
    masked (the server's way).
    """
    names = set(LOGGER_NAMES) | set(extra_loggers)
    prefixes = ("jditem.", "httpx.", "httpcore.")
    names.update(
        name for name in list(logging.root.manager.loggerDict) if name.startswith(prefixes)
    )
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    if root_handlers:
        for handler in logging.getLogger().handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    return _FILTER
