"""Resumable batch fetching: journal, cache, rate control, engine, exports, progress.

``Client.get_many`` / ``AsyncClient.get_many`` and ``jditem batch`` are built on
:class:`BatchRun`; see ``docs/architecture.md`` for the parts.
"""

from jditem.batch.engine import BatchRun, ItemResult, get_many

__all__ = ["BatchRun", "ItemResult", "get_many"]
