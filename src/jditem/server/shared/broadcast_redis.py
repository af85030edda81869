""":class:`~jditem.server.shared.broadcast.Broadcast` across processes through Redis pub/sub.

All topics share one channel (``jditem:bus``), so each process holds exactly one
subscriber connection whatever the number of items waited on. A message is
``origin\\ttopic\\tmessage``; a process delivers its own messages at once (no round
trip) and skips their echo.

Pub/sub is fire-and-forget: messages published while a process is disconnected are
lost to it. :attr:`RedisBroadcast.connected` is then False and the users fall back —
waiters re-read the database every second, identities expire from their cache within
``token_cache_seconds`` — and on reconnecting the ``reconnected`` listeners run (the
identity cache is dropped). Publishing never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from jditem.server.shared.broadcast import Listener, Listeners
from jditem.server.shared.redis_link import PREFIX, REDIS_ERRORS, RedisLink

log = logging.getLogger(__name__)

#: The one pub/sub channel.
CHANNEL = PREFIX + "bus"
#: Pause before re-subscribing after the connection broke.
RECONNECT_SECONDS = 0.5
#: Bound on stopping the subscriber (one get_message timeout plus slack).
STOP_SECONDS = 3.0


class RedisBroadcast:
    """Redis pub/sub broadcast with local-first delivery (see the module docstring)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._listeners = Listeners()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._stopping = False
        self.connected = False

    def listen(self, topic: str, listener: Listener) -> None:
        """Register ``listener`` for ``topic`` (messages from every process)."""
        self._listeners.add(topic, listener)

    async def publish(self, topic: str, message: str = "") -> None:
        """Deliver locally now, then to the other processes (best effort, never raises)."""
        self._listeners.deliver(topic, message)
        if not self._link.up:
            return
        try:
            await self._link.client.publish(CHANNEL, f"{self._link.process_id}\t{topic}\t{message}")
        except REDIS_ERRORS as exc:
            self._link.failed(exc)

    async def start(self, *, wait_seconds: float = 2.0) -> None:
        """Start the subscriber; wait (bounded) until it is subscribed."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        if not self._link.up:
            return  # the link said so at startup; the subscriber keeps trying
        try:
            await asyncio.wait_for(self._subscribed.wait(), wait_seconds)
        except TimeoutError:
            log.warning("redis pub/sub not subscribed yet; waiters poll the database meanwhile")

    async def stop(self) -> None:
        """Stop the subscriber (bounded)."""
        self._stopping = True  # redis-py may swallow a cancel inside get_message()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=STOP_SECONDS)
            self._task = None
        self.connected = False

    async def _run(self) -> None:
        while not self._stopping:
            client = Redis.from_url(self._link.url, socket_connect_timeout=1.0)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.connected = True
                    self._subscribed.set()
                    await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                if self.connected:
                    log.warning("redis pub/sub lost (%s); reconnecting", type(exc).__name__)
                self.connected = False
                self._link.failed(exc)
            finally:
                self.connected = False
                await asyncio.shield(_close(client))
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _read(self, pubsub: PubSub) -> None:
        own = self._link.process_id
        last_ping = time.monotonic()
        while not self._stopping:
            msg = await pubsub.get_message(timeout=1.0)
            if msg is None:
                if time.monotonic() - last_ping > 2.0:
                    await asyncio.wait_for(pubsub.ping(), 2.0)  # detect a dead server
                    last_ping = time.monotonic()
                continue
            data = msg.get("data")
            text = data.decode() if isinstance(data, bytes) else str(data)
            origin, _, rest = text.partition("\t")
            if origin == own:
                continue
            topic, _, message = rest.partition("\t")
            self._listeners.deliver(topic, message)


async def _close(client: Redis) -> None:
    with contextlib.suppress(*REDIS_ERRORS):
        await client.aclose()
