"""Resumable batch jobs: journal, cache, engine, exports, progress.

``jditem batch`` runs a :class:`BatchRun`: the client's concurrent engine
(:mod:`jditem.client.many`, behind ``get_many``) plus a journal and a local cache; see
``docs/architecture.md`` for the parts.
"""

from jditem.batch.engine import BatchRun, ItemResult, get_many

__all__ = ["BatchRun", "ItemResult", "get_many"]
