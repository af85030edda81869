"""Fixtures for the client tests: a product payload, and one API to drive both twins."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jditem import AsyncClient, Client

#: A fake token: distinctive, so the redaction tests can search for it.
TOKEN = "tok_FAKE_s3cr3t_9f8e7d6c5b4a"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "jd-detail-v1-abridged.json"
SKU = "100117219515"

#: Secrets used in the running test; the leak check searches for each of them.
SECRETS: set[str] = {TOKEN}
#: ``str``, ``repr`` and formatted traceback of every error a twin raised in this test.
RAISED: list[str] = []


def record_raised(exc: BaseException) -> None:
    """Keep what a user could see of ``exc`` for the leak check."""
    RAISED.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


@pytest.fixture(autouse=True)
def _token_never_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every client test runs at DEBUG; afterwards logs and raised errors hold no secret."""
    caplog.set_level(logging.DEBUG)
    RAISED.clear()
    yield
    haystacks = [caplog.text, *RAISED]
    haystacks += [record.getMessage() for record in caplog.records]
    haystacks += [record.exc_text or "" for record in caplog.records]
    for secret in SECRETS:
        leaks = [text for text in haystacks if secret in text]
        assert not leaks, f"token leaked into logs/errors: {leaks[:1]}"


@pytest.fixture(scope="session")
def product_data() -> dict[str, Any]:
    """JD's item-page JSON for SKU 100117219515 (the vendor's published sample)."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))["data"]
    return data


class Twin:
    """One client behind an awaitable facade, so a single test body runs on both twins.

    The sync client runs in a worker thread (``asyncio.to_thread``), the async one
    directly; both talk real HTTP.
    """

    def __init__(self, kind: str, **options: Any) -> None:
        self.kind = kind
        options.setdefault("backoff_base", 0.01)
        options.setdefault("backoff_max", 0.05)
        SECRETS.add(options.get("token", TOKEN))
        self.client: Client | AsyncClient = (
            Client(options.pop("token", TOKEN), **options)
            if kind == "sync"
            else AsyncClient(options.pop("token", TOKEN), **options)
        )

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        try:
            if isinstance(self.client, AsyncClient):
                return await method(*args, **kwargs)
            return await asyncio.to_thread(method, *args, **kwargs)
        except Exception as exc:
            record_raised(exc)
            raise

    async def get(self, item_id: str, **kwargs: Any) -> Any:
        return await self.call("get", item_id, **kwargs)

    async def fetch(self, item_id: str) -> Any:
        return await self.call("fetch", item_id)

    async def probe(self, item_id: str) -> Any:
        return await self.call("probe", item_id)

    async def resume(self, continuation: Any, **kwargs: Any) -> Any:
        return await self.call("resume", continuation, **kwargs)

    async def close(self) -> None:
        if isinstance(self.client, AsyncClient):
            await self.client.close()
        else:
            self.client.close()


TwinFactory = Callable[..., Twin]


@pytest.fixture(params=["sync", "async"])
async def twin(request: pytest.FixtureRequest) -> AsyncIterator[TwinFactory]:
    """A factory ``twin(base_url=..., **options) -> Twin`` for the parametrised flavour."""
    made: list[Twin] = []

    def factory(**options: Any) -> Twin:
        made.append(Twin(request.param, **options))
        return made[-1]

    yield factory
    for item in made:
        await item.close()
