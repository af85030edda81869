"""Files that hold secrets or customer data, readable by their owner only, whatever the
umask: created ``0600`` in folders created ``0700``.

Used for the batch journals and result cache (``JDITEM_HOME/jobs/*.sqlite``,
``cache.sqlite``, ``outputs.sqlite``) and the server's SQLite database (password
hashes, token hashes, call records). SQLite creates a database's ``-wal``, ``-shm`` and
``-journal`` files with the permissions of the database file, so a database created
here keeps them private too. A file that already exists (made by an earlier version)
loses its group and other permissions when it is opened; an existing folder is left as
it is (it may be a shared one the user chose). Standard library only: the client side
and the server both use it. On systems without POSIX permissions this does nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
#: The files SQLite keeps next to a database.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

_POSIX = os.name == "posix"


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700 (existing ones are kept)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another process meanwhile
            continue
        if _POSIX:
            os.chmod(folder, DIR_MODE)  # mkdir's mode is cut by the umask
    return path


def restrict(path: Path) -> None:
    """Remove group and other permissions from an existing file we own (else nothing)."""
    if not _POSIX:
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except (FileNotFoundError, PermissionError):  # gone, or another user's file
        return


def private_file(path: Path, companions: Sequence[str] = ()) -> Path:
    """Make sure ``path`` exists (empty when new) and only its owner may read it; its
    folder is created 0700 when missing; existing ``path + suffix`` companions (e.g.
    SQLite's ``-wal``) are restricted too."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    os.close(os.open(path, flags, FILE_MODE))
    for target in (path, *(path.with_name(path.name + suffix) for suffix in companions)):
        restrict(target)
    return path
