"""The Idempotency-Key header: sent by get/fetch on both twins, validated, token-free."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from jditem import AsyncClient, Client, errors
from tests.client.conftest import SKU, TOKEN


def _handler(product: dict[str, Any], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"code": 0, "message": "success", "data": product, "requestId": "r1"}
        return httpx.Response(200, content=json.dumps(body).encode())

    return httpx.MockTransport(handle)


def _sync(transport: httpx.MockTransport) -> Client:
    return Client(token=TOKEN, http_client=httpx.Client(transport=transport))


def _async(transport: httpx.MockTransport) -> AsyncClient:
    return AsyncClient(token=TOKEN, http_client=httpx.AsyncClient(transport=transport))


def test_sync_get_and_fetch_send_the_key(product_data: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []
    with _sync(_handler(product_data, seen)) as client:
        client.get(SKU, idempotency_key="job-1-0-" + SKU)
        client.fetch(SKU, idempotency_key="k2")
        client.fetch(SKU)
    assert [r.headers.get("idempotency-key") for r in seen] == ["job-1-0-" + SKU, "k2", None]


async def test_get_without_a_key_sends_a_fresh_one_per_get(product_data: dict[str, Any]) -> None:
    """One key per logical fetch, so a lost answer can be resent under it to a server that
    honours keys (free there); never the token in it."""
    seen: list[httpx.Request] = []
    with _sync(_handler(product_data, seen)) as client:
        client.get(SKU)
        client.get(SKU)
    async with _async(_handler(product_data, seen)) as aclient:
        await aclient.get(SKU)
    keys = [r.headers["idempotency-key"] for r in seen]
    assert len(set(keys)) == 3
    assert all(key.startswith("jditem-") and key.endswith(f"-0-{SKU}") for key in keys)
    assert not any(TOKEN in key for key in keys)


async def test_async_get_and_fetch_send_the_key(product_data: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []
    async with _async(_handler(product_data, seen)) as client:
        await client.get(SKU, idempotency_key="job-1-0-" + SKU)
        await client.fetch(SKU, idempotency_key="k2")
        await client.fetch(SKU)
    assert [r.headers.get("idempotency-key") for r in seen] == ["job-1-0-" + SKU, "k2", None]


@pytest.mark.parametrize("key", ["", "x" * 129, "caf\u00e9", "tab\tkey", f"job-{TOKEN}"])
async def test_an_invalid_key_is_refused_before_any_call(
    product_data: dict[str, Any], key: str
) -> None:
    seen: list[httpx.Request] = []
    with _sync(_handler(product_data, seen)) as client:
        with pytest.raises(errors.ConfigurationError) as sync_error:
            client.get(SKU, idempotency_key=key)
        with pytest.raises(errors.ConfigurationError):
            client.fetch(SKU, idempotency_key=key)
    async with _async(_handler(product_data, seen)) as aclient:
        with pytest.raises(errors.ConfigurationError):
            await aclient.get(SKU, idempotency_key=key)
    assert seen == []
    assert TOKEN not in str(sync_error.value)
    assert "Idempotency-Key" in str(sync_error.value)
