"""Column types shared by every table.

:class:`UtcDateTime` is the one type for stored times. SQLite keeps a
``DateTime(timezone=True)`` value as its wall-clock text without the offset, so an
aware value in another zone (a local day's bound in Asia/Shanghai, say) would be stored
or compared as if it were UTC — eight hours off, silently. This type converts every
aware value to UTC when it is bound (a naive one is taken to be UTC already) and hands
values back as aware UTC datetimes on both databases, so a query bound or a stored
time can no longer carry another zone into the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from jditem.server.clock import as_utc


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that binds UTC and reads back aware UTC values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """``value`` in UTC (naive values are taken to be UTC)."""
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored value as an aware UTC datetime (SQLite's stored text is UTC)."""
        return None if value is None else as_utc(value)
