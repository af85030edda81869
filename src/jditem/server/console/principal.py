"""Who is signed in to the console, and what they may see (SPEC §2.9).

An *operator* signed in with the admin key and sees every account. An account
*member* (role ``owner`` or ``member``) signed in with e-mail and password and sees
only its own account: page handlers filter their queries with :meth:`Principal.scope`
and treat another account's object like a missing one (404), so a member cannot even
learn that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, true


@dataclass(frozen=True)
class Principal:
    """The signed-in person: an operator, or a member of one account."""

    role: str  # operator | owner | member
    member_id: int | None = None
    account_id: int | None = None
    account_name: str | None = None
    email: str | None = None

    @classmethod
    def operator(cls) -> Principal:
        """The admin-key holder."""
        return cls(role="operator")

    @property
    def is_operator(self) -> bool:
        """True for the admin-key holder (every account, top-ups, prices)."""
        return self.role == "operator"

    @property
    def manages_account(self) -> bool:
        """True when the person may manage all of the account's tokens and members."""
        return self.role in ("operator", "owner")

    def sees(self, account_id: int | None) -> bool:
        """Whether an object of ``account_id`` is visible to this person."""
        return self.is_operator or (account_id is not None and account_id == self.account_id)

    def scope(self, account_column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping rows of this person's account (all rows for an operator)."""
        if self.is_operator:
            return true()
        clause: ColumnElement[bool] = account_column == self.account_id
        return clause
