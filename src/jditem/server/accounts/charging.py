"""What is charged (:class:`ChargeRequest`) and how it ended (:class:`ChargeResult`).

A charge (SPEC §2.5) takes the price inside one transaction: the token's spend grows only
if it stays within its budget, the account balance shrinks only if it stays
non-negative, and an append-only ledger row keyed by the request id records the
movement; a refused charge changes nothing. The SQL is :mod:`.charge_sql`, the decision
for a group of charges :mod:`.charge_plan`, the queue that groups them :mod:`.batcher`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from jditem.server.accounts.usage import CallRow
from jditem.server.monitor.history import Seen


class ChargeResult(enum.Enum):
    """How one charge ended."""

    CHARGED = "charged"
    BUDGET_EXHAUSTED = "budget_exhausted"  # 602
    INSUFFICIENT_BALANCE = "insufficient_balance"  # 601
    #: Only when the charge also counts the call against the daily quota (303).
    QUOTA_EXCEEDED = "quota_exceeded"
    #: Only for a charge with an idempotency key: the token already paid for this item
    #: under this key; nothing was charged or counted (served free, as a replay).
    REPLAYED = "replayed"
    #: Only for a charge with an idempotency key: the token used the key for another
    #: item; nothing was charged or counted (400).
    KEY_CONFLICT = "key_conflict"
    #: Only for a watch list's check: the list's daily budget would be exceeded (the
    #: token's budget, quota and the balance allowed it); nothing was charged or counted.
    LIST_BUDGET_EXHAUSTED = "list_budget_exhausted"


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One call to charge (``price`` > 0).

    With ``quota`` and ``day`` set, the call is also counted for ``(token_id, day)``
    in the same transaction, unless ``quota`` calls were already counted that day
    (then :attr:`ChargeResult.QUOTA_EXCEEDED`, and nothing is charged or counted).

    With ``watch_list_id`` and ``day`` set, the list's spend of that day grows by the
    price unless that would exceed the list's daily budget (then
    :attr:`ChargeResult.LIST_BUDGET_EXHAUSTED`; checked after quota, budget and balance).

    With ``idempotency_key`` set, the key row is written with the charge; when the
    token already holds the key (a row created at or after ``key_since``), nothing is
    charged or counted and the result is REPLAYED (same item) or KEY_CONFLICT.
    """

    account_id: int
    token_id: int
    price: int
    request_id: str
    item_id: str
    now: datetime
    quota: int | None = None
    day: str | None = None
    idempotency_key: str | None = None
    key_since: datetime | None = None
    #: The call's record, written in the charge's transaction when it is charged (so
    #: an answered, charged call never lacks its call record, even after kill -9).
    call: CallRow | None = None
    #: A console bulk-job item (``bulk_job_items.id``) whose ``charged`` total the
    #: charge adds to, in the same transaction.
    job_item_id: int | None = None
    #: Observations for the account's history (SPEC §6.1): the product's, after a
    #: deferred confirmation of the same item if one was waiting; folded in the same
    #: transaction when the call is charged.
    seen: tuple[Seen, ...] = ()
    #: A watch list (``watch_lists.id``) whose check this is: its spend for ``day`` grows
    #: in the same transaction, only while it stays within the list's daily budget.
    watch_list_id: int | None = None
