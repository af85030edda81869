"""Output files that appear whole or not at all, readable by their owner only.

An output is written under a temporary name in its own directory
(``.NAME.XXXXXXXX.part``), created ``0600`` (it holds customer data), and renamed over
``NAME`` by :meth:`PendingFile.commit` — one atomic step: a reader sees the old file or
the new one, never half of one. :meth:`PendingFile.discard` removes the temporary file
and leaves an existing ``NAME`` exactly as it was. A process killed while writing
leaves its ``.part`` file behind (safe to delete); ``NAME`` itself is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Mode of output files (they hold customer data) and of directories created for them.
FILE_MODE = 0o600
DIR_MODE = 0o700


class PendingFile:
    """A new version of ``target``, written at :attr:`path` until committed."""

    def __init__(self, target: Path) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        handle, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )  # mkstemp creates it 0600
        os.close(handle)
        self.path = Path(name)
        self.done = False

    def commit(self) -> None:
        """Rename the written file over :attr:`target` (mode ``0600``)."""
        if self.done:
            return
        self.done = True
        os.chmod(self.path, FILE_MODE)
        os.replace(self.path, self.target)

    def discard(self) -> None:
        """Remove the temporary file; :attr:`target` stays as it was."""
        if self.done:
            return
        self.done = True
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
