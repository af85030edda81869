"""Public views of accounts, tokens and ledger rows (never a raw token or its hash)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from jditem.server.accounts.money import units_to_yuan


class AccountPublic(BaseModel):
    """An account and its shared balance."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    balance_units: int = Field(description="Balance in units of 0.0001 CNY.")
    created_at: datetime

    @property
    def balance_yuan(self) -> str:
        """The balance as an exact yuan string, e.g. ``"12.3400"``."""
        return units_to_yuan(self.balance_units)


class TokenPublic(BaseModel):
    """A token as listed: its visible prefix, limits and spend; never the secret."""

    model_config = ConfigDict(frozen=True)

    id: int
    account: str
    name: str
    prefix: str = Field(description="First characters of the token, for recognition only.")
    enabled: bool
    permissions: list[str]
    rate_limit: float | None = Field(description="Requests per second; null = unlimited.")
    burst: int | None
    daily_quota: int | None = Field(description="Admitted calls per local day; null = none.")
    budget_units: int | None = Field(description="Cumulative spend cap; null = none.")
    spent_units: int
    created_at: datetime
    last_used_at: datetime | None = None
    created_by_member_id: int | None = Field(
        default=None, description="The account member who created it; null = an operator."
    )


class LedgerPublic(BaseModel):
    """One append-only money movement (charges negative, top-ups positive)."""

    model_config = ConfigDict(frozen=True)

    id: int
    account: str
    token_id: int | None
    kind: str
    amount_units: int
    request_id: str | None
    item_id: str | None
    note: str | None
    created_at: datetime


#: Fields ``update_token`` accepts (``None`` clears a limit).
TOKEN_UPDATE_FIELDS = frozenset(
    {"name", "budget_units", "rate_limit", "burst", "daily_quota", "permissions"}
)
