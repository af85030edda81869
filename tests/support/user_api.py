"""A token's calls of the user API (``/api/...``) on a live server.

* :func:`api`: a call that must answer code 0; its ``data``;
* :func:`call`: a call whatever it answers; its envelope, the HTTP status added as
  ``http``.
"""

from __future__ import annotations

from typing import Any

from tests.support.live_server import LiveServer


def api(live: LiveServer, token: str, method: str, path: str, body: Any = None) -> Any:
    """``token``'s ``method path`` with JSON ``body``: the answer's ``data`` (code 0 asserted)."""
    response = live.http.request(
        method, path, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    envelope = response.json()
    assert envelope["code"] == 0, envelope
    return envelope["data"]


def call(live: LiveServer, token: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """``token``'s ``method path`` with JSON ``body``: the whole envelope (its fields
    asserted present), the HTTP status added as ``http``."""
    response = live.http.request(
        method, path, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    envelope: dict[str, Any] = response.json()
    assert set(envelope) >= {"code", "message", "data", "recordTime", "requestId"}
    envelope["http"] = response.status_code
    return envelope
