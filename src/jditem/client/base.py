"""The I/O-free core shared by :class:`Client` and :class:`AsyncClient`: it builds the
request and classifies the answer (:mod:`jditem.client.classify`, SPEC §4). The twins
only move bytes; the ``get`` flow is :mod:`jditem.client.flow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import httpx

from jditem import errors
from jditem.client.calls import CallInfo, Classified, Outcome
from jditem.client.classify import PREVIEW_CHARS, classify_exception, classify_response
from jditem.client.config import ClientConfig
from jditem.client.keys import IDEMPOTENCY_HEADER, KeyEvidence
from jditem.protocol.ids import idempotency_key_problem
from jditem.protocol.product import Product
from jditem.redaction import mask_token, redact

#: The core's vocabulary, also imported from here (by the relay collector, for one).
__all__ = ["POOL_LIMITS", "BaseClient", "CallInfo", "Classified", "KeyEvidence", "Outcome"]

#: The connection pool of the twins (and of the aiohttp transport). Idle connections
#: are dropped after 5 s, well before a server closes them (jditem's keeps them 20 s):
#: a client that reuses a connection the server is closing loses the call.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class BaseClient:
    """Request building and response classification; no I/O.

    ``evidence`` is shared by the cores of one server (the endpoint fallback's).
    """

    def __init__(self, config: ClientConfig, evidence: KeyEvidence | None = None) -> None:
        self.config = config
        self.evidence = evidence if evidence is not None else KeyEvidence()

    # -- request -----------------------------------------------------------------------

    def request_parts(
        self, item_id: str, idempotency_key: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """``(url, query params, headers)`` for one call; the token goes where ``auth`` says.

        ``idempotency_key`` is sent as the ``Idempotency-Key`` header (see
        :meth:`check_idempotency_key`).
        """
        token = self.config.token.get_secret_value()
        params = {"itemId": item_id}
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = self.check_idempotency_key(idempotency_key)
        if self.config.auth == "header":
            headers["Authorization"] = f"Bearer {token}"
        else:
            params = {"token": token, "itemId": item_id}
        return self.config.url, params, headers

    def check_idempotency_key(self, key: str) -> str:
        """``key`` if it is a valid ``Idempotency-Key``, else :class:`ConfigurationError`.

        Valid: 1-128 printable ASCII characters that do not contain the API token. The
        key makes a repeat of a paid call free on servers that honour the header
        (jditem's own server); the vendor ignores unknown headers, so against it the
        header changes nothing.
        """
        problem = idempotency_key_problem(key)
        if problem is not None:
            raise errors.ConfigurationError(problem)
        if self.config.token.get_secret_value() in key:
            raise errors.ConfigurationError(
                "the Idempotency-Key contains the API token; keys are sent and may be stored "
                "in clear, so build them from a job id and the item id instead"
            )
        return key

    def timeout(self, remaining: float | None = None) -> httpx.Timeout:
        """Per-call timeouts, never longer than ``remaining`` seconds of the deadline."""
        connect, read = self.config.connect_timeout, self.config.read_timeout
        if remaining is not None:
            connect, read = min(connect, remaining), min(read, remaining)
        return httpx.Timeout(connect=connect, read=read, write=connect, pool=connect)

    def describe(self) -> str:
        """``repr`` text: configuration with the token masked."""
        token = mask_token(self.config.token.get_secret_value())
        return (
            f"base_url={self.config.base_url!r}, endpoint={self.config.endpoint!r}, "
            f"auth={self.config.auth!r}, token={token!r}"
        )

    def product(self, classified: Classified, item_id: str) -> Product:
        """The normalized product of a READY answer."""
        assert classified.envelope is not None
        try:
            return Product.from_payload(
                classified.envelope.data, sku_id=item_id, fetched_at=datetime.now(UTC)
            )
        except (ValueError, TypeError) as exc:
            raise errors.ProtocolError(
                f"the product payload could not be normalized ({type(exc).__name__}: "
                f"{redact(str(exc))[:PREVIEW_CHARS]}); report the requestId",
                item_id=item_id,
                code=classified.code,
                http_status=classified.http_status,
                request_id=classified.request_id,
            ) from None

    def classify_response(
        self,
        item_id: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        elapsed_s: float = 0.0,
    ) -> Classified:
        """Classify an HTTP response by SPEC §4 (never raises); learns whether the server
        honours ``Idempotency-Key`` (:attr:`evidence`). See :mod:`jditem.client.classify`."""
        return classify_response(
            self.config, self.evidence, item_id, status, headers, body, elapsed_s=elapsed_s
        )

    def classify_exception(
        self, item_id: str, exc: httpx.HTTPError, *, elapsed_s: float = 0.0
    ) -> Classified:
        """Classify a transport failure; the raw exception is replaced by a sanitized cause."""
        return classify_exception(self.config, item_id, exc, elapsed_s=elapsed_s)
