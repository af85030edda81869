"""Webhook endpoints of a jditem server (SPEC §6.3): ``client.webhooks`` on both twins.

:class:`WebhooksCore` is the I/O-free part (requests as :class:`~.server_api.ApiRequest`,
answers through :func:`~.server_api.answer_data`); :class:`Webhooks` (``Client.webhooks``)
and :class:`AsyncWebhooks` (``AsyncClient.webhooks``) only send. Example::

    with Client(base_url="https://jditem.example.com") as client:
        made = client.webhooks.add("https://hooks.example.com/jd", kinds=["price_drop"])
        print(made.secret.get_secret_value())  # shown once: configure your receiver
        client.webhooks.test(made.id)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from jditem.client.base import BaseClient
from jditem.client.server_api import ApiRequest, api_request, send, send_async
from jditem.protocol.webhooks import NewWebhookSecret, WebhookDelivery, WebhookEndpoint

__all__ = ["AsyncWebhooks", "Webhooks", "WebhooksCore"]

#: The deliveries of an endpoint, newest first (an alias: the classes define ``list``).
Deliveries = list[WebhookDelivery]


class WebhooksCore:
    """Requests of ``/api/webhooks`` (no I/O)."""

    def __init__(self, base: BaseClient) -> None:
        self._base = base

    def request(
        self, method: str, path: str = "", json: Any = None, params: dict[str, str] | None = None
    ) -> ApiRequest:
        """One request of the webhook API (``path`` after ``/api/webhooks``)."""
        return api_request(self._base, method, "/api/webhooks", path, json, params)

    def add(
        self, url: str, *, lists: Iterable[str], kinds: Iterable[str], description: str
    ) -> ApiRequest:
        """Add an endpoint."""
        body = {"url": url, "lists": list(lists), "kinds": list(kinds), "description": description}
        return self.request("POST", "", body)

    def rotate(self, endpoint_id: int, overlap_seconds: int | None) -> ApiRequest:
        """Rotate an endpoint's secret."""
        body = {} if overlap_seconds is None else {"overlapSeconds": overlap_seconds}
        return self.request("POST", f"/{int(endpoint_id)}/rotate", body)


class Webhooks:
    """``Client.webhooks``: the webhook endpoints of the token's account (blocking)."""

    def __init__(self, core: WebhooksCore, http: httpx.Client) -> None:
        self._core = core
        self._http = http

    def _send(self, method: str, path: str = "", json: Any = None, **params: str) -> Any:
        return send(self._http, self._core.request(method, path, json, params or None))

    def add(
        self,
        url: str,
        *,
        lists: Iterable[str] = (),
        kinds: Iterable[str] = (),
        description: str = "",
    ) -> NewWebhookSecret:
        """Add an endpoint (of ``lists``' events of ``kinds``; empty: all); the answer's
        secret is shown this once."""
        request = self._core.add(url, lists=lists, kinds=kinds, description=description)
        return NewWebhookSecret.model_validate(send(self._http, request))

    def list(self) -> list[WebhookEndpoint]:
        """Every endpoint of the account (no secrets)."""
        found = self._send("GET")["endpoints"]
        return [WebhookEndpoint.model_validate(e) for e in found]

    def show(self, endpoint_id: int) -> WebhookEndpoint:
        """One endpoint and its state."""
        return WebhookEndpoint.model_validate(self._send("GET", f"/{int(endpoint_id)}"))

    def remove(self, endpoint_id: int) -> None:
        """Remove the endpoint with its pending deliveries and log."""
        self._send("DELETE", f"/{int(endpoint_id)}")

    def rotate(self, endpoint_id: int, *, overlap_seconds: int | None = None) -> NewWebhookSecret:
        """A new secret (shown once); the old one signs too for ``overlap_seconds`` (24 h)."""
        request = self._core.rotate(endpoint_id, overlap_seconds)
        return NewWebhookSecret.model_validate(send(self._http, request))

    def enable(self, endpoint_id: int) -> WebhookEndpoint:
        """Enable a disabled endpoint (its pending deliveries go out again)."""
        return WebhookEndpoint.model_validate(self._send("POST", f"/{int(endpoint_id)}/enable"))

    def test(self, endpoint_id: int) -> str:
        """Send a ``webhook.test`` event to the endpoint; returns its ``webhook-id``."""
        return str(self._send("POST", f"/{int(endpoint_id)}/test")["webhookId"])

    def deliveries(self, endpoint_id: int, *, limit: int = 50) -> Deliveries:
        """The endpoint's newest deliveries with their attempts."""
        found = self._send("GET", f"/{int(endpoint_id)}/deliveries", limit=str(limit))
        return [WebhookDelivery.model_validate(d) for d in found["deliveries"]]

    def replay(self, delivery_id: int) -> int:
        """Send a delivery again (same ``webhook-id``); returns the new delivery's id."""
        return int(self._send("POST", f"/deliveries/{int(delivery_id)}/replay")["deliveryId"])


class AsyncWebhooks:
    """``AsyncClient.webhooks``: the twin of :class:`Webhooks` (same methods, awaited)."""

    def __init__(self, core: WebhooksCore, http: httpx.AsyncClient) -> None:
        self._core = core
        self._http = http

    async def _send(self, method: str, path: str = "", json: Any = None, **params: str) -> Any:
        return await send_async(self._http, self._core.request(method, path, json, params or None))

    async def add(
        self,
        url: str,
        *,
        lists: Iterable[str] = (),
        kinds: Iterable[str] = (),
        description: str = "",
    ) -> NewWebhookSecret:
        """See :meth:`Webhooks.add`."""
        request = self._core.add(url, lists=lists, kinds=kinds, description=description)
        return NewWebhookSecret.model_validate(await send_async(self._http, request))

    async def list(self) -> list[WebhookEndpoint]:
        """See :meth:`Webhooks.list`."""
        found = (await self._send("GET"))["endpoints"]
        return [WebhookEndpoint.model_validate(e) for e in found]

    async def show(self, endpoint_id: int) -> WebhookEndpoint:
        """See :meth:`Webhooks.show`."""
        return WebhookEndpoint.model_validate(await self._send("GET", f"/{int(endpoint_id)}"))

    async def remove(self, endpoint_id: int) -> None:
        """See :meth:`Webhooks.remove`."""
        await self._send("DELETE", f"/{int(endpoint_id)}")

    async def rotate(
        self, endpoint_id: int, *, overlap_seconds: int | None = None
    ) -> NewWebhookSecret:
        """See :meth:`Webhooks.rotate`."""
        request = self._core.rotate(endpoint_id, overlap_seconds)
        return NewWebhookSecret.model_validate(await send_async(self._http, request))

    async def enable(self, endpoint_id: int) -> WebhookEndpoint:
        """See :meth:`Webhooks.enable`."""
        data = await self._send("POST", f"/{int(endpoint_id)}/enable")
        return WebhookEndpoint.model_validate(data)

    async def test(self, endpoint_id: int) -> str:
        """See :meth:`Webhooks.test`."""
        return str((await self._send("POST", f"/{int(endpoint_id)}/test"))["webhookId"])

    async def deliveries(self, endpoint_id: int, *, limit: int = 50) -> Deliveries:
        """See :meth:`Webhooks.deliveries`."""
        found = await self._send("GET", f"/{int(endpoint_id)}/deliveries", limit=str(limit))
        return [WebhookDelivery.model_validate(d) for d in found["deliveries"]]

    async def replay(self, delivery_id: int) -> int:
        """See :meth:`Webhooks.replay`."""
        data = await self._send("POST", f"/deliveries/{int(delivery_id)}/replay")
        return int(data["deliveryId"])
