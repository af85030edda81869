"""``jditem``'s CLI run by the tests: in this process (typer's runner) or as a child
process, and a batch job's input file and journal.

* :data:`JDITEM`: this venv's ``jditem`` console script; :func:`process_env`: a child
  process's environment (a fresh home, no config file of the tester's);
* :func:`run_cli`: one command run in process; :func:`spawn`: one run as a child
  process (``python -m jditem.cli``) that a test may kill or interrupt;
* :data:`BATCH`, :func:`write_input`: a quiet ``jditem batch`` and an input file of
  ids; :func:`journal_states`: each item's state in a job's journal.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from jditem.cli.app import build_app

JDITEM = str(Path(sys.executable).with_name("jditem"))
#: ``jditem batch`` without its progress display.
BATCH = ["batch", "--progress", "none"]


def process_env(tmp_path: Path) -> dict[str, str]:
    """The whole environment of a ``jditem`` child process: this venv on ``PATH``, a home
    under ``tmp_path``, a config file that does not exist, UTF-8 output."""
    return {
        "PATH": str(Path(sys.executable).parent),
        "JDITEM_HOME": str(tmp_path / "home"),
        "JDITEM_CONFIG": str(tmp_path / "absent.toml"),
        "PYTHONIOENCODING": "utf-8",
    }


def run_cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> Any:
    """``jditem ARGS`` in this process with ``env`` (and ``stdin``): typer's result."""
    return CliRunner().invoke(build_app(), args, env=env, input=stdin, catch_exceptions=False)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``jditem ARGS`` started as a child process (this environment plus ``env``), its
    output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "jditem.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_input(path: Path, ids: list[str], extra: str = "") -> Path:
    """A batch input at ``path``: ``ids`` one a line, then ``extra``."""
    path.write_text("\n".join(ids) + "\n" + extra, encoding="utf-8")
    return path


def journal_states(env: dict[str, str], job: str) -> dict[str, str]:
    """Item -> state in the journal of ``job`` under ``env``'s ``JDITEM_HOME``."""
    db = sqlite3.connect(Path(env["JDITEM_HOME"]) / "jobs" / f"{job}.sqlite")
    try:
        return {str(i): str(s) for i, s in db.execute("SELECT item_id, state FROM items")}
    finally:
        db.close()
