"""One call on its way through admission: what was asked, and what became of it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from jditem.protocol.ids import is_valid_item_id
from jditem.server.accounts.identities import TokenIdentity
from jditem.server.accounts.usage import CallRow


@dataclass(frozen=True, slots=True)
class JobOrigin:
    """A call made for one item of a console bulk job."""

    job_id: str
    #: ``bulk_job_items.id``: the charge adds itself to this item's total, in its own
    #: transaction.
    item_row: int


@dataclass(frozen=True, slots=True)
class WatchOrigin:
    """A call made by the scheduler to check an item of a watch list."""

    #: ``watch_lists.id``: the list's daily budget binds the charge (in its transaction),
    #: and the call record names the list.
    list_id: int


@dataclass(slots=True)
class Call:
    """One call: handed from step to step, and turned into its call record at the end."""

    request_id: str
    identity: TokenIdentity | None
    item_id_raw: str | None
    endpoint: str
    wait_seconds: float | None = None
    idempotency_key: str | None = None
    #: overrides the 100 message when the caller knows what is wrong with the token
    token_problem: str | None = None
    #: makes step 3 fail with this message (e.g. itemId repeated)
    param_problem: str | None = None
    #: where the call comes from, when not from a caller of the endpoint
    origin: JobOrigin | WatchOrigin | None = None
    #: a cached result collected at or before this does not answer the call (a watch
    #: check observes the item anew, see :mod:`jditem.server.jobs.watch_scheduler`)
    collected_after: datetime | None = None
    started: float = field(default_factory=time.perf_counter)
    #: the item id when valid (also in the record of a call refused earlier)
    item_id: str | None = field(init=False)
    #: the oldest still valid row of ``idempotency_key`` (set by the key check)
    key_since: datetime | None = None
    #: True once the call record was written with the charge
    recorded: bool = False

    def __post_init__(self) -> None:
        raw = self.item_id_raw
        self.item_id = raw if raw and is_valid_item_id(raw) else None

    @property
    def token(self) -> TokenIdentity:
        """The caller's identity (known from step 1 on)."""
        assert self.identity is not None
        return self.identity

    @property
    def item(self) -> str:
        """The item id (valid from step 3 on)."""
        assert self.item_id is not None
        return self.item_id

    @property
    def job_id(self) -> str | None:
        """The bulk job the call belongs to (written on the tasks it creates)."""
        return self.origin.job_id if isinstance(self.origin, JobOrigin) else None

    @property
    def watch_list_id(self) -> int | None:
        """The watch list whose check this call is, else None."""
        return self.origin.list_id if isinstance(self.origin, WatchOrigin) else None

    def record(self, code: int, charged: int, task_id: str | None, at: datetime) -> CallRow:
        """The call's record as answered ``code``, charged ``charged`` units, at ``at``."""
        identity = self.identity
        return CallRow(
            request_id=self.request_id,
            token_id=identity.token_id if identity else None,
            account_id=identity.account_id if identity else None,
            endpoint=self.endpoint,
            item_id=self.item_id,
            code=code,
            charged=charged,
            task_id=task_id,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            created_at=at,
            watch_list_id=self.watch_list_id,
        )
