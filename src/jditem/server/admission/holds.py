"""What a call takes before it is admitted, and gives back when it is not.

Steps 4 and 5 take a rate slot and a quota count. A call that a later step rejects
consumes nothing (SPEC §2.4): each hold is settled against the call's answer in ONE
``finally`` of the pipeline, whichever step answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jditem.protocol.codes import Code
from jditem.server.accounts import quota
from jditem.server.admission.answers import Answer
from jditem.server.shared.limiter import RateLimiter
from jditem.server.store.db import Database

#: Answers after step 4 that did not admit the call: its holds are given back.
NOT_ADMITTED = frozenset(
    {
        Code.QUOTA_EXCEEDED,
        Code.BUDGET_EXHAUSTED,
        Code.INSUFFICIENT_BALANCE,
        Code.INVALID_PARAMS,  # the Idempotency-Key was used for another item
        Code.SERVICE_UNAVAILABLE,  # the relay's upstream refuses: nothing was served
    }
)


class Hold(Protocol):
    """Something a call took that its answer keeps or gives back."""

    async def settle(self, answer: Answer) -> None:
        """Keep the hold if ``answer`` consumed it, else give it back."""
        ...


@dataclass(frozen=True, slots=True)
class RateSlot:
    """A slot of the token's rate limit (step 4): kept by every admitted call."""

    limiter: RateLimiter
    key: str

    async def settle(self, answer: Answer) -> None:
        """Give the slot back unless the call was admitted."""
        if answer.code in NOT_ADMITTED:
            await self.limiter.refund(self.key)


@dataclass(frozen=True, slots=True)
class QuotaCount:
    """One count of the token's daily quota (step 5): kept by every admitted, paid call."""

    db: Database
    token_id: int
    day: str

    async def settle(self, answer: Answer) -> None:
        """Un-count the call unless admitted; a free replay is not counted either."""
        if answer.code in NOT_ADMITTED or answer.replayed:
            async with self.db.writing() as session:
                await quota.release(session, self.token_id, self.day)
