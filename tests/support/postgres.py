"""The test session's throwaway PostgreSQL cluster (unix socket only, no TCP).

The cluster itself is :mod:`jditem.server.devservices.postgres` (the same code runs
``jditem dev services``): ``initdb`` and ``pg_ctl start`` in a fresh ``mktemp -d``
directory under /tmp (mode 755; as root every server command runs through ``runuser -u
postgres``), a unix socket in that directory only, ``fsync=off``.
:meth:`PgCluster.create_database` makes a fresh, empty database per test;
:meth:`PgCluster.url` is its async SQLAlchemy URL.

To poke at a server outside pytest: ``jditem dev services``.
"""

from __future__ import annotations

from jditem.server.devservices.postgres import PgCluster, PostgresUnavailable, start_cluster

__all__ = ["PgCluster", "PostgresUnavailable", "start_cluster"]
