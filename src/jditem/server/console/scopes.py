"""What part of the data each console page shows the signed-in person (SPEC §2.9).

Every query of a page that can hold another account's rows goes through one of these
clauses. For an operator they are ``true()`` (every account); for an account member
they keep the rows of its own account, so another account's object is simply not
found (404), exactly like one that does not exist.

* tokens — :attr:`ApiToken.account_id`;
* call records — :attr:`CallRecord.account_id`;
* hourly usage — rows of the account's tokens (``usage_hourly`` has only ``token_id``);
* bulk jobs — jobs charged to one of the account's tokens;
* tasks — tasks the account's call records reference, or its bulk jobs' tasks (a
  task shared by coalescing is visible to every account that called for it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true

from jditem.server.console.principal import Principal
from jditem.server.store.tables import ApiToken, BulkJob, CallRecord, Task, UsageHourly


def account_token_ids(principal: Principal) -> Select[Any]:
    """The ids of the member's account's tokens (a subquery for ``IN``)."""
    return select(ApiToken.id).where(ApiToken.account_id == principal.account_id)


def tokens(principal: Principal) -> ColumnElement[bool]:
    """Tokens the person may see."""
    return principal.scope(ApiToken.account_id)


def calls(principal: Principal) -> ColumnElement[bool]:
    """Call records the person may see."""
    return principal.scope(CallRecord.account_id)


def usage(principal: Principal) -> ColumnElement[bool]:
    """Hourly usage rows the person may see."""
    if principal.is_operator:
        return true()
    return UsageHourly.token_id.in_(account_token_ids(principal))


def jobs(principal: Principal) -> ColumnElement[bool]:
    """Bulk jobs the person may see."""
    if principal.is_operator:
        return true()
    return BulkJob.token_id.in_(account_token_ids(principal))


def tasks(principal: Principal) -> ColumnElement[bool]:
    """Tasks the person may see."""
    if principal.is_operator:
        return true()
    called = select(CallRecord.task_id).where(
        CallRecord.account_id == principal.account_id, CallRecord.task_id.is_not(None)
    )
    job_ids = select(BulkJob.id).where(BulkJob.token_id.in_(account_token_ids(principal)))
    return or_(Task.id.in_(called), Task.job_id.in_(job_ids))
