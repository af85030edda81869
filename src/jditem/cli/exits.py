"""The CLI's edge: a domain error becomes one clean line (or a JSON object) and an exit
code, for every command.

The library's messages advise Python callers (``token=...``, ``resume()``); the CLI
words its own advice from the error's structured fields (``problem``, ``option``,
``phase``, ``not_resent``, ``continuation``), naming flags and commands instead.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

import typer

from jditem import errors
from jditem.client.config import TOKEN_ENV_VARS
from jditem.wording import say_once


class ExitCode:
    """Process exit codes of the CLI (documented in the README)."""

    OK = 0
    OTHER = 1
    USAGE = 2
    QUOTA = 3
    AUTH_OR_MONEY = 4
    NOT_SERVING_DATA = 5
    #: ``jditem batch`` interrupted by Ctrl-C (the journal is saved).
    INTERRUPTED = 130


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error: 2 usage, 3 quota, 4 auth/balance/budget, 5 not serving."""
    if isinstance(error, errors.ConfigurationError):
        return ExitCode.USAGE
    if isinstance(error, errors.QuotaExceededError):
        return ExitCode.QUOTA
    if isinstance(error, errors.FatalError):
        return ExitCode.AUTH_OR_MONEY
    if isinstance(error, errors.NotServingDataError):
        return ExitCode.NOT_SERVING_DATA
    return ExitCode.OTHER


#: The CLI's advice for a :class:`~jditem.errors.ConfigurationError`, by the client
#: option that resolves it (``error.option``).
OPTION_ADVICE: Mapping[str, str] = {
    "token": f"pass --token, or set {' or '.join(TOKEN_ENV_VARS)} in the environment",
    "allow_insecure_http": "use https://, or pass --insecure if you accept that",
    "transport": "use --transport httpx",
}

#: Advice the library and the server may each add to one message; the CLI says it once.
_REPEATED = ("retrying will not help",)


def cli_message(
    error: BaseException,
    *,
    timeout: float | None = None,
    option_advice: Mapping[str, str] = OPTION_ADVICE,
) -> str:
    """The error in the CLI's words: advice names flags and commands, not keyword
    arguments or methods, and is said once. ``timeout``: the ``--timeout`` in force."""
    if not isinstance(error, errors.JditemError):
        return str(error)
    return say_once(_worded(error, timeout, option_advice), *_REPEATED)


def _worded(
    error: errors.JditemError, timeout: float | None, option_advice: Mapping[str, str]
) -> str:
    details = error.details()
    if isinstance(error, errors.ConfigurationError):
        advice = option_advice.get(error.option or "")
        return f"{error.problem}: {advice}{details}" if advice else str(error)
    if isinstance(error, errors.PendingTimeoutError):
        return (
            f"{error.problem}; the server keeps working on it{details}\n"
            f"Continue waiting with: jditem get --resume {shlex.quote(error.continuation)}"
        )
    if isinstance(error, errors.NotServingDataError):
        return f"{error.problem} (--endpoint v1){details}"
    text = error.problem
    raise_timeout = "raise --timeout" + (f" (now {timeout:g} s)" if timeout is not None else "")
    if isinstance(error, errors.ReadTimeoutError):
        text += f"; {raise_timeout} or --deadline for the whole item if the server is just slow"
    elif isinstance(error, errors.RequestTimeoutError):
        text += (
            ": raise --deadline or retry later"
            if error.phase == "deadline"
            else f": retry later or {raise_timeout} or --deadline for the whole item"
        )
    if isinstance(error, errors.AmbiguousOutcomeError) and error.not_resent is not None:
        text += "; run the command again if paying twice is acceptable"
    return text + details


def error_json(error: BaseException, item: str | None = None) -> dict[str, Any]:
    """An error as a JSON object (``--json``): type, message, exit code, the fields the
    library error carries (code, HTTP status, request id, continuation)."""
    body: dict[str, Any] = {
        "type": type(error).__name__,
        "message": cli_message(error).split("\n", 1)[0],
        "exit_code": exit_code_for(error),
    }
    if isinstance(error, errors.JditemError):
        body.update(
            code=error.code,
            http_status=error.http_status,
            request_id=error.request_id,
            item_id=error.item_id or item,
        )
        if isinstance(error, errors.PendingTimeoutError):
            body["continuation"] = error.continuation
            body["retry_after"] = error.retry_after
    elif item is not None:
        body["item_id"] = item
    return {"error": body}


def fail(
    error: BaseException, *, as_json: bool = False, timeout: float | None = None
) -> typer.Exit:
    """Print ``error`` (``Error: …`` on stderr, or its JSON form on stdout); the exit to
    raise, with the error's code."""
    if as_json:
        typer.echo(json.dumps(error_json(error), ensure_ascii=False))
    else:
        typer.echo(f"Error: {cli_message(error, timeout=timeout)}", err=True)
    return typer.Exit(exit_code_for(error))


def usage_error(message: str, as_json: bool = False) -> typer.Exit:
    """Print ``Error: message`` (or its JSON form) and return the exit to raise (code 2)."""
    if as_json:
        body = {"type": "UsageError", "message": message, "exit_code": ExitCode.USAGE}
        typer.echo(json.dumps({"error": body}, ensure_ascii=False))
    else:
        typer.echo(f"Error: {message}", err=True)
    return typer.Exit(ExitCode.USAGE)
