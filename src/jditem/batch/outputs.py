"""Which output files jditem wrote: ``JDITEM_HOME/outputs.sqlite``.

``-o`` replaces a file only when it does not exist, is empty, or is listed here
(jditem wrote it before, by any job or export); anything else needs ``--force``, so a
typo in ``-o`` never destroys a user's own file. Only absolute paths are stored.
"""

from __future__ import annotations

import time
from pathlib import Path

from jditem.batch.sqlite import open_local_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY,
    job TEXT,
    written_at REAL NOT NULL
);
"""


class OutputRefused(Exception):
    """The output file exists and jditem did not write it."""


class OutputRegistry:
    """The list of files jditem wrote. Use it from one thread."""

    def __init__(self, path: Path) -> None:
        self._db = open_local_db(path, _SCHEMA)

    @classmethod
    def in_home(cls, home: Path) -> OutputRegistry:
        """The registry under ``home``."""
        return cls(home / "outputs.sqlite")

    def __enter__(self) -> OutputRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def wrote(self, path: Path) -> bool:
        """Whether jditem wrote ``path`` before."""
        row = self._db.execute(
            "SELECT 1 FROM outputs WHERE path = ?", (str(path.expanduser().resolve()),)
        ).fetchone()
        return row is not None

    def check(self, path: Path, *, force: bool = False) -> None:
        """Raise :class:`OutputRefused` unless ``path`` may be (re)written."""
        path = path.expanduser()
        if path.is_dir():
            raise OutputRefused(f"-o {path} is a directory; pass a file name like {path}/out.csv")
        if force or not path.exists() or path.stat().st_size == 0 or self.wrote(path):
            return
        raise OutputRefused(
            f"-o {path} already exists and was not written by jditem; pass --force to "
            "replace it, or choose another -o path"
        )

    def record(self, path: Path, job: str | None = None) -> None:
        """Remember that jditem (re)wrote ``path``."""
        self._db.execute(
            "INSERT OR REPLACE INTO outputs(path, job, written_at) VALUES (?, ?, ?)",
            (str(path.expanduser().resolve()), job, time.time()),
        )
