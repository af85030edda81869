"""Admin service functions: accounts, tokens, top-ups and the ledger.

Shared by the admin CLI, the admin HTTP API and the console. Every function takes an
``AsyncSession`` first and commits its own transaction. Domain failures raise
:class:`AdminError` subclasses (:mod:`.errors`, re-exported here) whose messages say what
was wrong and what to do. Names, limits and permissions are checked by :mod:`.limits`
when they are given; lookups by name are exact and never re-check an existing name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.accounts.errors import AdminError as AdminError
from jditem.server.accounts.errors import ConflictError as ConflictError
from jditem.server.accounts.errors import InvalidInputError as InvalidInputError
from jditem.server.accounts.errors import NotFoundError as NotFoundError
from jditem.server.accounts.limits import MAX_COUNT, check_limits, check_name, check_note
from jditem.server.accounts.money import MAX_BALANCE_UNITS, MAX_UNITS, UNITS_PER_YUAN
from jditem.server.accounts.schemas import (
    TOKEN_UPDATE_FIELDS,
    AccountPublic,
    LedgerPublic,
    TokenPublic,
)
from jditem.server.accounts.tokens import generate_token, hash_token, token_prefix
from jditem.server.clock import Clock, now_utc, utc_now
from jditem.server.settings import ENDPOINT_V2
from jditem.server.store.tables import Account, ApiToken, LedgerEntry


def _account_public(row: Account) -> AccountPublic:
    return AccountPublic(
        id=row.id, name=row.name, balance_units=row.balance, created_at=row.created_at
    )


def _token_public(row: ApiToken, account_name: str) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        account=account_name,
        name=row.name,
        prefix=row.prefix,
        enabled=row.enabled,
        permissions=list(row.permissions),
        rate_limit=row.rate_limit,
        burst=row.burst,
        daily_quota=row.daily_quota,
        budget_units=row.budget,
        spent_units=row.spent,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        created_by_member_id=row.created_by_member_id,
    )


def _check_units(value: int, what: str) -> None:
    if not 0 <= value <= MAX_UNITS:
        raise InvalidInputError(f"{what} must be between 0 and {MAX_UNITS} units (got {value})")


async def account_by_name(session: AsyncSession, name: str) -> Account:
    """The account row called ``name``, else NotFoundError saying how to create it."""
    if "\x00" in name:  # cannot exist (and PostgreSQL refuses NUL in a query)
        raise NotFoundError(f"no account named {name!r}")
    row = await session.scalar(select(Account).where(Account.name == name))
    if row is None:
        raise NotFoundError(
            f"no account named {name!r}; create it first (jditem admin account create)"
        )
    return row


async def _token_by_ref(session: AsyncSession, ref: int | str) -> tuple[ApiToken, str]:
    query = select(ApiToken, Account.name).join(Account, Account.id == ApiToken.account_id)
    text = str(ref).strip()
    if "\x00" in text:
        raise NotFoundError(f"no token with id or prefix {text!r}")
    if isinstance(ref, int) or (text.isascii() and text.isdigit()):
        if int(text) > MAX_COUNT * 10**9:
            raise NotFoundError(f"no token with id {text}; see `jditem admin token list`")
        rows = (await session.execute(query.where(ApiToken.id == int(text)))).all()
    else:
        rows = (
            await session.execute(query.where(ApiToken.prefix.startswith(text, autoescape=True)))
        ).all()
    if not rows:
        raise NotFoundError(f"no token with id or prefix {text!r}; see `jditem admin token list`")
    if len(rows) > 1:
        raise InvalidInputError(f"prefix {text!r} matches {len(rows)} tokens; use the numeric id")
    token, account_name = rows[0]
    return token, account_name


async def create_account(
    session: AsyncSession, name: str, balance_units: int = 0, *, clock: Clock = utc_now
) -> AccountPublic:
    """Create account ``name`` with an opening balance (recorded in the ledger)."""
    name = check_name(name, "account name")
    _check_units(balance_units, "opening balance")
    now = now_utc(clock)
    account = Account(name=name, balance=balance_units, created_at=now)
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise ConflictError(f"account {name!r} already exists; pick another name") from None
    if balance_units:
        session.add(
            LedgerEntry(
                account_id=account.id,
                kind="topup",
                amount=balance_units,
                note="opening balance",
                created_at=now,
            )
        )
    await session.commit()
    return _account_public(account)


async def rename_account(session: AsyncSession, name: str, new_name: str) -> AccountPublic:
    """Give account ``name`` (matched exactly, so also a name created before the naming
    rule, e.g. one holding ``/``) the checked name ``new_name``."""
    new_name = check_name(new_name, "the new account name")
    account = await account_by_name(session, name)
    account.name = new_name
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ConflictError(f"account {new_name!r} already exists; pick another name") from None
    return _account_public(account)


async def list_accounts(session: AsyncSession) -> list[AccountPublic]:
    """Every account, by name."""
    rows = await session.scalars(select(Account).order_by(Account.name))
    return [_account_public(row) for row in rows]


async def get_account(session: AsyncSession, name: str) -> AccountPublic:
    """One account by name."""
    return _account_public(await account_by_name(session, name))


async def create_token(
    session: AsyncSession,
    account_name: str,
    *,
    name: str = "",
    budget_units: int | None = None,
    rate_limit: float | None = None,
    burst: int | None = None,
    daily_quota: int | None = None,
    permissions: Sequence[str] | None = None,
    created_by_member_id: int | None = None,
    clock: Clock = utc_now,
) -> tuple[TokenPublic, str]:
    """Create a token for ``account_name``; returns its public view and the raw token.

    The raw token is returned only here: only its SHA-256 hash is stored. ``None``
    limits mean "no limit"; callers apply the server's defaults themselves.
    """
    perms = list(permissions) if permissions is not None else [ENDPOINT_V2]
    name = check_name(name, "token name", required=False)
    check_limits(
        {
            "rate_limit": rate_limit,
            "burst": burst,
            "daily_quota": daily_quota,
            "budget_units": budget_units,
            "permissions": perms,
        }
    )
    account = await account_by_name(session, account_name)
    raw = generate_token()
    token = ApiToken(
        account_id=account.id,
        name=name,
        prefix=token_prefix(raw),
        token_hash=hash_token(raw),
        enabled=True,
        permissions=perms,
        rate_limit=rate_limit,
        burst=burst,
        daily_quota=daily_quota,
        budget=budget_units,
        spent=0,
        created_at=now_utc(clock),
        created_by_member_id=created_by_member_id,
    )
    session.add(token)
    await session.commit()
    return _token_public(token, account.name), raw


async def list_tokens(session: AsyncSession, account_name: str | None = None) -> list[TokenPublic]:
    """Tokens (of one account, or all), oldest first."""
    query = select(ApiToken, Account.name).join(Account, Account.id == ApiToken.account_id)
    if account_name is not None:
        await account_by_name(session, account_name)
        query = query.where(Account.name == account_name)
    rows = (await session.execute(query.order_by(ApiToken.id))).all()
    return [_token_public(token, acc) for token, acc in rows]


async def set_token_enabled(
    session: AsyncSession, token_id_or_prefix: int | str, enabled: bool
) -> TokenPublic:
    """Enable or disable a token (by numeric id or visible prefix)."""
    token, account_name = await _token_by_ref(session, token_id_or_prefix)
    token.enabled = enabled
    await session.commit()
    return _token_public(token, account_name)


async def update_token(
    session: AsyncSession, token_id_or_prefix: int | str, **fields: Any
) -> TokenPublic:
    """Change a token's name, limits, budget or permissions (``None`` clears a limit).

    Accepted fields: ``name``, ``budget_units``, ``rate_limit``, ``burst``,
    ``daily_quota``, ``permissions``.
    """
    unknown = set(fields) - TOKEN_UPDATE_FIELDS
    if unknown:
        raise InvalidInputError(
            f"cannot update {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(TOKEN_UPDATE_FIELDS))}"
        )
    if "permissions" in fields and fields["permissions"] is None:
        raise InvalidInputError(
            "permissions cannot be cleared: give a list of endpoints (['*'] for every one)"
        )
    check_limits(fields)
    if "name" in fields:
        fields["name"] = check_name(fields["name"] or "", "token name", required=False)
    token, account_name = await _token_by_ref(session, token_id_or_prefix)
    columns = {"budget_units": "budget"}
    for key, value in fields.items():
        if key == "name" and value is None:
            value = ""
        setattr(token, columns.get(key, key), value)
    await session.commit()
    return _token_public(token, account_name)


async def topup(
    session: AsyncSession,
    account_name: str,
    amount_units: int,
    note: str | None = None,
    *,
    clock: Clock = utc_now,
) -> AccountPublic:
    """Add ``amount_units`` to the account balance, with a ledger row; returns the account."""
    if amount_units <= 0:
        raise InvalidInputError(f"top-up amount must be positive (got {amount_units} units)")
    _check_units(amount_units, "top-up amount")
    check_note(note)
    account = await account_by_name(session, account_name)
    # Conditional in the store of record: the balance never passes the maximum, even
    # with top-ups and charges racing.
    result = await session.execute(
        update(Account)
        .where(Account.id == account.id, Account.balance <= MAX_BALANCE_UNITS - amount_units)
        .values(balance=Account.balance + amount_units)
    )
    if getattr(result, "rowcount", 1) != 1:
        await session.rollback()
        raise InvalidInputError(
            f"top-up refused: the balance of {account_name!r} would pass the maximum of "
            f"{MAX_BALANCE_UNITS // UNITS_PER_YUAN} yuan; nothing was changed"
        )
    session.add(
        LedgerEntry(
            account_id=account.id,
            kind="topup",
            amount=amount_units,
            note=note,
            created_at=now_utc(clock),
        )
    )
    await session.commit()
    await session.refresh(account)
    return _account_public(account)


async def ledger(
    session: AsyncSession, account_name: str | None = None, limit: int = 100, offset: int = 0
) -> list[LedgerPublic]:
    """Ledger rows, newest first (of one account, or all)."""
    if not 1 <= limit <= 10_000 or not 0 <= offset <= MAX_COUNT:
        raise InvalidInputError("limit must be 1-10000 and offset >= 0")
    query = select(LedgerEntry, Account.name).join(Account, Account.id == LedgerEntry.account_id)
    if account_name is not None:
        await account_by_name(session, account_name)
        query = query.where(Account.name == account_name)
    query = query.order_by(LedgerEntry.id.desc()).limit(limit).offset(offset)
    rows = (await session.execute(query)).all()
    return [
        LedgerPublic(
            id=row.id,
            account=acc,
            token_id=row.token_id,
            kind=row.kind,
            amount_units=row.amount,
            request_id=row.request_id,
            item_id=row.item_id,
            note=row.note,
            created_at=row.created_at,
        )
        for row, acc in rows
    ]
