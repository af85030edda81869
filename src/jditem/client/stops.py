"""Why a ``get_many`` run stops, and the error it raises when it does.

Three stops besides a fatal answer (100, 303, 600-602, an endpoint serving no data or
not existing): a dead or wrong server (:class:`DeadServerWatch`: calls in a row refused
or answered outside the contract), a ``Retry-After`` longer than ``max_retry_after``
(:func:`over_cap`), and a circuit pause that outlasted its bound
(:func:`circuit_outlasted`).
"""

from __future__ import annotations

from jditem import errors
from jditem.client.calls import CallInfo, Outcome
from jditem.client.circuit import CircuitPause
from jditem.client.config import ClientConfig

#: Errors after which no call with the same token and server can succeed.
STOPPING_ERRORS: tuple[type[errors.JditemError], ...] = (
    errors.FatalError,
    errors.NotServingDataError,
    errors.EndpointNotFoundError,
)
#: Errors that say nothing about the item, only that the server did not answer sanely.
SERVER_ERRORS: tuple[type[errors.JditemError], ...] = (
    errors.ProtocolError,
    errors.ConnectError,
    errors.ConnectionLostError,
)
#: Call outcomes counted towards a dead server (refused connections, non-contract bodies).
DEAD_SERVER_OUTCOMES = frozenset({Outcome.PROTOCOL_ERROR, Outcome.TRANSPORT_ERROR})
#: Calls in a row with a dead-server outcome that stop the run.
DEAD_SERVER_CALLS = 5


class DeadServerWatch:
    """Counts calls in a row that got no contract answer, and the items failed meanwhile
    (un-failed — left to do — when the streak turns out to be a dead server)."""

    def __init__(self) -> None:
        self.streak = 0
        self.dead = False
        #: Items failed with a server error during the current streak.
        self.failed: list[str] = []

    def answered(self, info: CallInfo) -> bool:
        """Count one call; True when it makes the server dead (once)."""
        if info.outcome in DEAD_SERVER_OUTCOMES:
            self.streak += 1
            if self.streak >= DEAD_SERVER_CALLS and not self.dead:
                self.dead = True
                return True
        elif info.code is not None and self.streak:
            self.streak = 0
            self.failed.clear()
        return False

    def error(
        self, last: errors.JditemError, config: ClientConfig, honoured: bool
    ) -> errors.JditemError:
        """The error the run raises: what the calls got, and that the items are left to do
        (``honoured``: the server honours ``Idempotency-Key``)."""
        what = (
            "answers that are not the API's JSON (HTML from a gateway or proxy?)"
            if isinstance(last, errors.ProtocolError)
            else "connection failures"
        )
        uncertain = (
            " (those whose request was sent without a complete answer may have been "
            "charged: they are marked so, not asked again automatically)"
            if last.possibly_charged and not honoured
            else ""
        )
        error = type(last)(
            f"stopped after {self.streak} calls in a row got {what} from "
            f"{config.base_url} ({config.endpoint}); the last one: {last.message} — the "
            f"items concerned are left to do, not failed{uncertain}: check the base URL "
            "and that the server is up, then run again",
            http_status=last.http_status,
            item_id=last.item_id,
        )
        error.__cause__ = last
        return error


def over_cap(error: errors.JditemError | None, config: ClientConfig) -> bool:
    """Whether ``error`` carries a ``Retry-After`` longer than ``max_retry_after``."""
    retry_after = getattr(error, "retry_after", None)
    return retry_after is not None and retry_after > config.max_retry_after


def long_wait_reason(error: errors.APIError, config: ClientConfig) -> str:
    """The stop reason when the server asked for a wait longer than the cap."""
    return (
        f"the server asked to wait {error.retry_after:g} s (Retry-After), more than "
        f"max_retry_after={config.max_retry_after:g} s"
    )


def circuit_outlasted(circuit: CircuitPause) -> errors.ServiceUnavailableError:
    """The error of a run whose circuit pause lasted its whole bound."""
    last = circuit.last
    return errors.ServiceUnavailableError(
        f"the server's upstream stayed unavailable for {circuit.max_pause:g} s "
        f"({circuit.describe()}; {circuit.probes} probe(s) with one item while the run "
        "was paused); the items not fetched are left to do: run again later, or ask "
        "the gateway's operator about the upstream",
        code=last.code if last is not None else None,
        http_status=last.http_status if last is not None else None,
        request_id=last.request_id if last is not None else None,
        circuit=last.circuit if last is not None else "open",
        upstream_code=last.upstream_code if last is not None else None,
    )
