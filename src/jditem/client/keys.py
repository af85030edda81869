"""``Idempotency-Key``: the header, a fresh key per logical fetch, and what a server
said about honouring keys (:class:`KeyEvidence`, the only ground on which an ambiguous
call is resent)."""

from __future__ import annotations

import secrets

from jditem.protocol.ids import parse_keys_honoured

#: The request header of an idempotency key (see :meth:`BaseClient.check_idempotency_key`).
IDEMPOTENCY_HEADER = "Idempotency-Key"


class KeyEvidence:
    """What a server said about ``Idempotency-Key``: ``ttl`` (seconds) once an answer
    carried ``Idempotency-Key-Honoured: ttl=N``, else ``None``.

    The only ground on which an ambiguous call is resent (SPEC §4): a jditem server
    announces it on every answer; the vendor never does. Once seen it is kept (a server
    that honours keys keeps honouring them), per client and base URL.
    """

    __slots__ = ("_raw", "ttl")

    def __init__(self, ttl: int | None = None) -> None:
        self.ttl = ttl
        self._raw: str | None = None

    @property
    def honoured(self) -> bool:
        """Whether the server said it honours ``Idempotency-Key``."""
        return self.ttl is not None

    def note(self, header: str | None) -> None:
        """Learn from one answer's :data:`~jditem.protocol.ids.KEYS_HONOURED_HEADER` value."""
        if header is None or header == self._raw:
            return
        ttl = parse_keys_honoured(header)
        if ttl is not None:
            self.ttl, self._raw = ttl, header


def new_idempotency_key(item_id: str) -> str:
    """A fresh ``Idempotency-Key`` for one logical fetch of ``item_id`` (``get``'s own when
    the caller passes none): ``jditem-<16 random hex>-0-<item id>``."""
    return f"jditem-{secrets.token_hex(8)}-0-{item_id}"
