"""SQLAlchemy 2 table definitions: the one schema shared by every server part.

Portable SQL only (SQLite and PostgreSQL). Money columns are integer minor units
(1 unit = 0.0001 CNY). Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jditem.server.store.types import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Task states. ``queued`` and ``running`` are *active*: at most one per item.
ACTIVE_TASK_STATUSES = ("queued", "running")
FINAL_TASK_STATUSES = ("succeeded", "not_supported", "failed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Account(Base):
    """A customer account; its balance is shared by all of its tokens."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    #: Caps the operator sets on the tokens the account's members create themselves
    #: (migrations 0007, 0009); ``None`` = no cap.
    member_max_budget: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    member_max_rate_limit: Mapped[float | None] = mapped_column(Float, nullable=True)
    member_max_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member_max_daily_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiToken(Base):
    """An API token. Only a SHA-256 hash and a short visible prefix are stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Endpoint names this token may call, e.g. ``["jd/get-item-detail/v2"]``; ``["*"]`` = all.
    permissions: Mapped[list[str]] = mapped_column(JSON)
    rate_limit: Mapped[float | None] = mapped_column(Float, nullable=True)  # requests/second
    burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    daily_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    budget: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # minor units
    spent: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: The account member who created the token in the console (``None``: an operator).
    created_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id"), nullable=True, index=True
    )


class LedgerEntry(Base):
    """Append-only money movements. ``amount`` is signed: charges negative, top-ups positive."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign keys on the ledger and call records (migration 0017: a check per row on
    # the charge path); their writers lock the token and account rows they charge, and
    # tokens and accounts are never deleted. Not indexed: nothing reads the ledger by
    # token or by time.
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # charge | topup | adjust
    amount: Mapped[int] = mapped_column(BigInteger)
    request_id: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]


#: Covering index for the console's per-account ledger totals (migration 0002_console_jobs).
Index("ix_ledger_account_kind_amount", LedgerEntry.account_id, LedgerEntry.kind, LedgerEntry.amount)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` a token's call was charged under (migration 0003).

    Written in the same transaction as the charge; a later call with the same token and
    key for the same item is served without a second charge while the row is younger
    than ``Settings.idempotency_ttl_seconds``. Older rows are ignored and deleted.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"))
    key: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[str] = mapped_column(String(20))
    #: The requestId of the charged call (its ledger row).
    request_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(index=True)


class QuotaCounter(Base):
    """Admitted requests per token per calendar day (the day is part of the key)."""

    __tablename__ = "quota_counters"

    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local TZ
    count: Mapped[int] = mapped_column(Integer, default=0)


class Task(Base):
    """A collection task for one item. ``attempt`` fences writes from stale workers."""

    __tablename__ = "tasks"
    __table_args__ = (
        # At most one active task per item (SPEC §2.6), portable partial unique index.
        Index(
            "uq_tasks_active_item",
            "item_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
        Index("ix_tasks_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # t_<ulid-ish>
    item_id: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Console bulk job this task was submitted for, if any.
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    #: A re-queued task is not claimed before this time (backoff between attempts).
    not_before: Mapped[datetime | None] = mapped_column(nullable=True)


class CachedResult(Base):
    """The latest collected result per item: a product (ok) or not_supported."""

    __tablename__ = "results"

    item_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # ok | not_supported
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


#: The condition of the partial index on call records' failure codes (migration 0017).
_FAILURES_ONLY = text("code <> 0")


class CallRecord(Base):
    """One admitted-or-rejected call to the v2 endpoint (what the console lists)."""

    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_token_created", "token_id", "created_at"),
        Index("ix_call_records_item_created", "item_id", "created_at"),
        # failures only (migration 0017): every reader asks for a code other than 0
        Index(
            "ix_call_records_code_created",
            "code",
            "created_at",
            postgresql_where=_FAILURES_ONLY,
            sqlite_where=_FAILURES_ONLY,
        ),
        # an account member's call records and tasks (migration 0007)
        Index("ix_call_records_account_created", "account_id", "created_at"),
        Index("ix_call_records_account_task", "account_id", "task_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    # no foreign keys (migration 0017; see LedgerEntry)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    code: Mapped[int] = mapped_column(Integer)
    charged: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    task_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(index=True)
    #: The watch list whose scheduled check made the call (migration 0011), else None.
    watch_list_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


#: The partial index's condition as a query term, with a literal 0: a reader of failure
#: codes adds it so that the index serves it (SQLite uses a partial index only when the
#: query repeats its condition; PostgreSQL cannot prove ``code <> 0`` from a generic
#: plan's ``code = $1``).
CALL_FAILED = CallRecord.code != literal_column("0")


class UsageHourly(Base):
    """Hourly rollup of call records, read by the console's trend and spending pages."""

    __tablename__ = "usage_hourly"
    __table_args__ = (UniqueConstraint("hour", "token_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(index=True)  # UTC, truncated to the hour
    token_id: Mapped[int] = mapped_column(Integer)  # 0 when the call had no valid token
    code: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    spend: Mapped[int] = mapped_column(BigInteger, default=0)


class BulkJob(Base):
    """A console bulk job: a list of items fetched through admission for one token."""

    __tablename__ = "bulk_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # j_<ulid-ish>
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    #: queued | running | done | stopped (a fatal code ended it early)
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: The process driving the job (see jobs/leases.py), and until when.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)


class BulkJobItem(Base):
    """One item of a bulk job, its latest answer and (on success) the product payload."""

    __tablename__ = "bulk_job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "position"),
        Index("ix_bulk_job_items_job_state", "job_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("bulk_jobs.id"))
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(20))
    #: waiting | pending | succeeded | not_supported | failed | skipped
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    charged: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ConsoleSessionRow(Base):
    """A signed-in console session (migration 0004). Sign-out deletes the row.

    Only a SHA-256 hash of the session id is stored; the id itself lives in the signed
    cookie. A cookie whose row is gone (signed out, pruned, expired) is refused, on
    every server process and after a restart.
    """

    __tablename__ = "console_sessions"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    #: The signed-in account member; ``None`` for an operator (admin-key) session.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id"), nullable=True, index=True
    )
    #: Shown in "your sessions": a random handle (never the session id), where from, what.
    public_id: Mapped[str | None] = mapped_column(String(16), nullable=True, unique=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Member(Base):
    """A person who signs in to the console for one account (SPEC §2.9, migration 0007).

    ``password_hash`` is an argon2id hash (``None`` until the member sets a password);
    ``setup_hash`` is the SHA-256 of the one-time set-password link's secret.
    """

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    role: Mapped[str] = mapped_column(String(16))  # owner | member
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    setup_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    setup_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class UpstreamCall(Base):
    """One call the relay collector made to its upstream (never holds the upstream token)."""

    __tablename__ = "upstream_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    item_id: Mapped[str] = mapped_column(String(20), index=True)
    endpoint: Mapped[str] = mapped_column(String(8))
    #: The upstream's body code (None: no envelope, e.g. a transport failure).
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(24))
    upstream_request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: True when the upstream charged us for this call (code 0 with product data).
    charged: Mapped[bool] = mapped_column(Boolean, default=False)
    #: True when the call may have been charged: the request was sent and no complete
    #: answer came back (timeout, connection lost, invalid or oversized body; SPEC §5).
    possibly_charged: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What went wrong when no envelope came back ("read timeout", "connection lost",
    #: "body too large", ...); None when the upstream answered an envelope.
    failure: Mapped[str | None] = mapped_column(String(40), nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)


class UpstreamEvent(Base):
    """A change of the relay's upstream circuit (opened, probing, closed)."""

    __tablename__ = "upstream_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16))  # open | half_open | closed
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")


class HistoryPoint(Base):
    """A change point of an item's tracked state as one account received it (SPEC §6.1,
    migration 0010).

    ``seq`` numbers an (account, item)'s points 1, 2, …; the unique key on (account, item,
    seq) orders its history and refuses a second point with the same number, so two
    writers of the same item can never both append. ``state`` is the tracked state's
    canonical text (:meth:`jditem.server.monitor.tracked.TrackedState.encode`) and
    ``digest`` its 32-hex digest; ``last_confirmed_at`` moves forward while observations
    keep finding the same state.
    """

    __tablename__ = "item_history"
    __table_args__ = (UniqueConstraint("account_id", "item_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    item_id: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime]
    last_confirmed_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(Text)
