"""Token identities for admission: a short-lived cache of token hash -> limits and money.

Step 1 of SPEC §2.4 (token known and enabled) reads the token by its SHA-256 hash. The
identity read with it (limits, spend, balance) also drives the early checks 6-7; the
charge itself is always the database's conditional update, so a stale snapshot can
only answer 601/602 a little early or late, never overspend.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from jditem.protocol.codes import Code
from jditem.server.accounts.tokens import hash_token
from jditem.server.settings import Settings
from jditem.server.store.db import Database
from jditem.server.store.tables import Account, ApiToken

#: Identities kept at most in the authentication cache (cleared when full).
IDENTITY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class TokenIdentity:
    """A token as admission sees it: limits plus a snapshot of spend and balance."""

    token_id: int
    account_id: int
    prefix: str
    enabled: bool
    permissions: tuple[str, ...]
    rate_limit: float | None
    burst: int | None
    daily_quota: int | None
    budget: int | None
    spent: int
    balance: int

    def allows(self, endpoint: str) -> bool:
        """True when the token may call ``endpoint`` (or holds the ``*`` permission)."""
        return endpoint in self.permissions or "*" in self.permissions

    def after_spending(self, amount: int) -> TokenIdentity:
        """This snapshot after a charge of ``amount`` units (spend up, balance down)."""
        return TokenIdentity(
            self.token_id,
            self.account_id,
            self.prefix,
            self.enabled,
            self.permissions,
            self.rate_limit,
            self.burst,
            self.daily_quota,
            self.budget,
            self.spent + amount,
            self.balance - amount,
        )


_SELECT_IDENTITY = select(
    ApiToken.id,
    ApiToken.account_id,
    ApiToken.prefix,
    ApiToken.enabled,
    ApiToken.permissions,
    ApiToken.rate_limit,
    ApiToken.burst,
    ApiToken.daily_quota,
    ApiToken.budget,
    ApiToken.spent,
    Account.balance,
).join(Account, Account.id == ApiToken.account_id)


class IdentityCache:
    """Token lookups by hash, cached for ``Settings.token_cache_seconds`` (single flight)."""

    def __init__(self, *, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        # token hash -> (monotonic expiry, identity); see authenticate().
        self._identities: dict[str, tuple[float, TokenIdentity]] = {}
        # token id -> its hash in _identities (one hash per token).
        self._digests: dict[int, str] = {}
        # token hash -> the one database read in flight for it (single flight).
        self._loading: dict[str, asyncio.Task[TokenIdentity | None]] = {}
        # bumped by invalidate(): a read that started before is not cached.
        self._generation = 0

    async def authenticate(self, raw_token: str | None) -> TokenIdentity | None:
        """The identity of ``raw_token`` (by SHA-256 hash), or None when unknown.

        Disabled tokens are returned too (``enabled=False``); :meth:`answer` rejects
        them with 100, so callers can tell "unknown" from "disabled" in the message.

        Identities are cached for ``Settings.token_cache_seconds`` (default 1 s; 0 turns
        the cache off): the admin API of this process clears the cache on every change,
        changes made elsewhere (CLI, console, another process) apply within that time.
        The spend and balance in a cached identity only drive the early checks 6-7; the
        charge itself is always the database's conditional update.

        When a cached identity expires under load, the concurrent callers share ONE
        database read (single flight) instead of all reading at once; a read that
        started before an :meth:`invalidate` is handed to its callers but not cached.
        """
        if not raw_token:
            return None
        digest = hash_token(raw_token)
        if self.settings.token_cache_seconds <= 0:
            return await self._load(ApiToken.token_hash == digest)
        cached = self._identities.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        loading = self._loading.get(digest)
        if loading is None:
            loading = asyncio.get_running_loop().create_task(
                self._load_and_cache(digest, self._generation)
            )
            self._loading[digest] = loading
            loading.add_done_callback(lambda done: self._loaded(digest, done))
        return await asyncio.shield(loading)

    async def _load_and_cache(self, digest: str, generation: int) -> TokenIdentity | None:
        identity = await self._load(ApiToken.token_hash == digest)
        if identity is not None and generation == self._generation:
            if len(self._identities) >= IDENTITY_CACHE_SIZE:
                self.invalidate()
            expiry = time.monotonic() + self.settings.token_cache_seconds
            self._identities[digest] = (expiry, identity)
            self._digests[identity.token_id] = digest
        return identity

    def _loaded(self, digest: str, done: asyncio.Task[TokenIdentity | None]) -> None:
        if self._loading.get(digest) is done:
            del self._loading[digest]
        if not done.cancelled():
            done.exception()  # retrieved: its awaiting callers re-raise it

    def invalidate(self) -> None:
        """Forget cached identities (call after changing tokens, accounts or balances)."""
        self._generation += 1
        self._identities.clear()
        self._digests.clear()
        self._loading.clear()  # later callers read again rather than join an older read

    def after_call(self, identity: TokenIdentity, result: Code) -> None:
        """Keep the cached snapshot close to the database after a call."""
        digest = self._digests.get(identity.token_id)
        cached = self._identities.get(digest) if digest is not None else None
        if digest is None or cached is None:
            return
        if result is Code.SUCCESS:
            expiry, current = cached
            self._identities[digest] = (expiry, current.after_spending(self.settings.price_units))
        else:
            del self._identities[digest]
            del self._digests[identity.token_id]

    async def for_token_id(self, token_id: int) -> TokenIdentity | None:
        """A fresh (uncached) identity for a token chosen by id (the console's bulk jobs)."""
        return await self._load(ApiToken.id == token_id)

    async def _load(self, condition: Any) -> TokenIdentity | None:
        async with self.db.reading() as session:
            row = (await session.execute(_SELECT_IDENTITY.where(condition))).first()
        if row is None:
            return None
        return TokenIdentity(
            token_id=row[0],
            account_id=row[1],
            prefix=row[2],
            enabled=bool(row[3]),
            permissions=tuple(row[4] or ()),
            rate_limit=row[5],
            burst=row[6],
            daily_quota=row[7],
            budget=row[8],
            spent=row[9],
            balance=row[10],
        )
