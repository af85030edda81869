"""Webhook signing secrets and the signed headers of a delivery (SPEC §6.3).

* :func:`new_secret` makes an endpoint's secret, ``whsec_`` + base64 of 32 random bytes
  (the Standard Webhooks form). It is shown to the user once. Unlike an API token it
  cannot be stored hashed: an HMAC is computed *with* the secret, so the server keeps it
  — encrypted at rest (:mod:`.sealing`), never in a log, an error or a ``repr`` (it
  travels as :class:`~pydantic.SecretStr`).
* :class:`EndpointSecrets` is an endpoint's current secret and, during a rotation's
  overlap window, the previous one: deliveries in the window are signed with both (two
  signatures in one ``webhook-signature`` header), so a receiver still configured with the
  old secret keeps accepting them until it switches.
* :func:`signature_headers` signs one attempt with the Standard Webhooks reference library
  (``standardwebhooks``), not by hand: ``webhook-id`` (the same on every retry),
  ``webhook-timestamp`` (this attempt's time, so a retry days later is still inside the
  receiver's tolerance) and ``webhook-signature``.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
#: Random bytes in a new secret (the Standard Webhooks spec asks for 24 to 64).
SECRET_BYTES = 32
#: How long the previous secret keeps signing after a rotation, by default (Stripe: 24 h).
DEFAULT_OVERLAP = timedelta(hours=24)


def new_secret() -> SecretStr:
    """A fresh signing secret, ``whsec_<base64 of 32 random bytes>``."""
    key = base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")
    return SecretStr(SECRET_PREFIX + key)


@dataclass(frozen=True)
class EndpointSecrets:
    """An endpoint's signing secrets: ``current``, and ``previous`` until ``previous_until``."""

    current: SecretStr
    previous: SecretStr | None = None
    previous_until: datetime | None = None

    def active(self, now: datetime) -> tuple[SecretStr, ...]:
        """The secrets a delivery at ``now`` is signed with (current first)."""
        if (
            self.previous is not None
            and self.previous_until is not None
            and now < self.previous_until
        ):
            return (self.current, self.previous)
        return (self.current,)

    def rotate(
        self, now: datetime, overlap: timedelta = DEFAULT_OVERLAP
    ) -> tuple[EndpointSecrets, SecretStr]:
        """A new current secret; the current one signs too until ``now + overlap``.

        Returns the new state and the new secret (to show once). A secret still in an
        earlier overlap window stops signing: at most two are ever active.
        """
        if overlap < timedelta(0):
            raise ValueError(f"the overlap window must not be negative, got {overlap}")
        fresh = new_secret()
        if overlap == timedelta(0):
            return EndpointSecrets(fresh), fresh
        return EndpointSecrets(fresh, self.current, now + overlap), fresh


def signature_headers(
    msg_id: str, body: bytes, secrets: Sequence[SecretStr], *, timestamp: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery attempt of ``body``.

    ``msg_id`` stays the same across retries of a message (receivers deduplicate on it);
    ``timestamp`` is the attempt's time (aware, or naive UTC); every secret in ``secrets``
    adds one ``v1,…`` signature.
    """
    if not secrets:
        raise ValueError("signing needs at least one secret")
    if not msg_id or any(c.isspace() or not c.isprintable() for c in msg_id):
        raise ValueError(f"a webhook id must be non-empty and without spaces: {msg_id!r}")
    when = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    signatures = [Webhook(secret.get_secret_value()).sign(msg_id, when, body) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
