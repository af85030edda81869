"""``probe``: one raw call shown as it came over the wire (redacted) and classified."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from jditem.client.base import BaseClient
from jditem.client.calls import Classified
from jditem.protocol.codes import Code
from jditem.redaction import redact


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One raw call as seen on the wire, redacted, with its classification."""

    request_line: str
    http_status: int
    headers: dict[str, str]
    body: str
    classified: Classified

    @property
    def summary(self) -> str:
        """One line: outcome, code and what it means (or the error message)."""
        c = self.classified
        if c.error is not None:
            return f"{c.outcome.value}: {c.error}"
        known = Code.lookup(c.code) if c.code is not None else None
        meaning = known.default_message if known is not None else "unknown code"
        retry = f", retry after {c.retry_after:g} s" if c.retry_after is not None else ""
        return f"{c.outcome.value}: code {c.code} ({meaning}){retry}"


def make_probe(
    base: BaseClient,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    classified: Classified,
) -> ProbeResult:
    """Build a redacted :class:`ProbeResult` from a raw response."""
    text = body.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    secret = base.config.token.get_secret_value()
    return ProbeResult(
        request_line=redact(f"GET {url}", [secret]),
        http_status=status,
        headers={k: redact(v, [secret]) for k, v in headers.items()},
        body=redact(text, [secret]),
        classified=classified,
    )
