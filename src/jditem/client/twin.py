"""What :class:`~jditem.Client` and :class:`~jditem.AsyncClient` share: everything but
the I/O.

:class:`Twin` resolves the configuration, registers the token with the redaction engine,
holds the I/O-free core (:class:`~jditem.client.base.BaseClient`) and the connection
pool, and turns what came over the wire into the core's classification; each twin only
sends, sleeps and closes (:mod:`jditem.client.sync`, :mod:`jditem.client.async_`).
"""

from __future__ import annotations

import time
from typing import Any, Generic, Self, TypeVar, Unpack

import httpx

from jditem.client.base import POOL_LIMITS, BaseClient
from jditem.client.calls import Classified
from jditem.client.config import ClientConfig, ClientOptions, check_option_names
from jditem.client.flow import Send
from jditem.client.keys import KeyEvidence
from jditem.client.probe import ProbeResult, make_probe
from jditem.protocol.envelope import Envelope
from jditem.redaction import install_log_redaction, register_secret

#: The twin's HTTP client: :class:`httpx.Client` or :class:`httpx.AsyncClient`.
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class Twin(Generic[H]):
    """The common part of the twins (module docstring); not used on its own."""

    _http: H

    def __init__(
        self,
        token: str | None = None,
        *,
        http_client: H | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        check_option_names(options, extra=("token", "http_client"))
        self._init(ClientConfig.build(token, **options), http_client, owns_http=None)

    def _init(self, config: ClientConfig, http_client: H | None, *, owns_http: bool | None) -> None:
        register_secret(config.token.get_secret_value())
        install_log_redaction()
        self._base = BaseClient(config)
        self._owns_http = http_client is None if owns_http is None else owns_http
        self._http = http_client if http_client is not None else self._new_pool()

    def _new_pool(self) -> H:
        """The twin's own connection pool (closed with the twin)."""
        raise NotImplementedError

    def _pool_options(self) -> dict[str, Any]:
        """How both twins build their pool: no redirects, proxies from the environment."""
        return {
            "timeout": self._base.timeout(),
            "limits": POOL_LIMITS,
            "follow_redirects": False,
            "trust_env": True,
        }

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (its ``repr`` masks the token)."""
        return self._base.config

    @property
    def key_evidence(self) -> KeyEvidence:
        """Whether the server said it honours ``Idempotency-Key`` (``.honoured``, ``.ttl``):
        the only ground on which an ambiguous call is resent."""
        return self._base.evidence

    def with_options(self, **changes: Unpack[ClientOptions]) -> Self:
        """A new client with ``changes`` applied, sharing this one's connection pool.

        The copy is usable while this client is open; closing the copy closes nothing.
        """
        clone = object.__new__(type(self))
        clone._init(self.config.replace(**changes), self._http, owns_http=False)
        return clone

    # -- what came over the wire -------------------------------------------------------

    def _answered(self, step: Send, response: httpx.Response, started: float) -> Classified:
        return self._base.classify_response(
            step.item_id,
            response.status_code,
            response.headers,
            response.content,
            elapsed_s=time.perf_counter() - started,
        )

    def _failed(self, step: Send, exc: httpx.HTTPError, started: float) -> Classified:
        elapsed = time.perf_counter() - started
        return self._base.classify_exception(step.item_id, exc, elapsed_s=elapsed)

    @staticmethod
    def _envelope(classified: Classified) -> Envelope:
        """``fetch``'s result: the envelope, or the error when there is none."""
        if classified.envelope is None:
            assert classified.error is not None
            raise classified.error
        return classified.envelope

    def _probe(self, classified: Classified, response: httpx.Response | None) -> ProbeResult:
        """``probe``'s result: the redacted response, or the error when there is none."""
        if response is None:
            assert classified.error is not None
            raise classified.error
        return make_probe(
            self._base,
            str(response.request.url),
            response.status_code,
            response.headers,
            response.content,
            classified,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base.describe()})"
