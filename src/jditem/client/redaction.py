"""Keep API tokens out of logs, exception messages, tracebacks and output.

Two layers: every token a client is built with is registered here and replaced
wherever it appears; and patterns (``token=...`` query values, ``Bearer ...``) are
masked even for tokens this process never saw. :class:`RedactingFilter` applies both
to log records; :func:`install_log_redaction` puts it on the project's, ``httpx``'s and
``httpcore``'s loggers (httpx logs full URLs at INFO, httpcore headers at DEBUG).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

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

_PATTERNS = (
    (re.compile(r"(?i)((?:[?&;]|\b)token=)[^&\s\"'<>#;]+"), r"\1" + MASK),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1" + MASK),
    (re.compile(r"(?i)(['\"]token['\"]\s*:\s*['\"])[^'\"]+"), r"\1" + MASK),
)

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


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with registered secrets, ``extra`` secrets and token patterns masked."""
    for secret in extra:
        if secret:
            text = text.replace(secret, MASK)
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


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


class RedactingFilter(logging.Filter):
    """A logging filter that masks tokens in the message, its arguments and tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> RedactingFilter:
    """Attach the shared :class:`RedactingFilter` to the relevant loggers (idempotent)."""
    names = set(LOGGER_NAMES) | set(extra_loggers)
    prefixes = ("jditem.", "httpx.", "httpcore.")
    names.update(
        name for name in list(logging.root.manager.loggerDict) if name.startswith(prefixes)
    )
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
