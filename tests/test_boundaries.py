"""Imports point one way (DESIGN.md): protocol ← client ← batch ← cli, protocol ← server,
and protocol ← formats ← (batch, server).

Checked statically (AST) over every module under src/jditem:

* ``jditem.protocol`` imports only the standard library, pydantic and itself;
* ``jditem.formats`` (item lists in, product tables out: shared by ``jditem batch`` and
  the console) imports only the standard library, ``jditem.protocol``, itself, and its
  optional writers' libraries (pyarrow, xlsxwriter) — never the client, batch, CLI or
  server, so the server may use it;
* ``jditem.wording``, ``jditem.redaction`` (the one redaction engine) and
  ``jditem.private_files`` import the standard library only: every part may use them;
* ``jditem.server`` never imports ``jditem.client`` or ``jditem.batch``, except the
  relay collector, ``server/collectors/relay.py``: it is a client of an upstream, and
  the one server module allowed to import ``jditem.client`` (never the batch);
* ``jditem.client`` and ``jditem.errors`` never import server, batch or cli, not even
  lazily inside a function (the batch engine builds on the client's ``get_many``
  engine, :mod:`jditem.client.many`; nothing points back);
* ``jditem.webhooks`` (receivers' side of change alerts: ``verify``) imports only the
  standard library and ``jditem.errors``: a receiver needs ``pip install jditem`` and
  nothing of the server.
* ``jditem.mcp`` (the MCP server for agents) is an adapter over the client library: it
  never imports the server, the batch job or the CLI, not even lazily.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "jditem"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def modules(package: str) -> list[Path]:
    root = SRC / package if (SRC / package).is_dir() else SRC / f"{package}.py"
    return sorted(root.rglob("*.py")) if root.is_dir() else [root]


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """``(module, at_top_level)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, id(node) in top_level


def within(name: str, *packages: str) -> bool:
    """True when module ``name`` is one of ``packages`` or inside one of them."""
    return any(name == pkg or name.startswith(pkg + ".") for pkg in packages)


def test_the_tree_is_there() -> None:
    for package in ("protocol", "formats", "client", "server", "errors", "webhooks", "mcp"):
        assert modules(package), package


@pytest.mark.parametrize("path", modules("protocol"), ids=lambda p: p.name)
def test_protocol_imports_only_pydantic_and_stdlib(path: Path) -> None:
    for name, _ in imports(path):
        root = name.split(".")[0]
        allowed = root in STDLIB or root == "pydantic" or within(name, "jditem.protocol")
        assert allowed, f"{path.relative_to(SRC)} imports {name}"


#: Optional libraries a format writer may import (lazily, inside the writer).
FORMAT_LIBRARIES = {"pyarrow", "xlsxwriter"}


@pytest.mark.parametrize("path", modules("formats"), ids=lambda p: p.name)
def test_formats_import_only_protocol_stdlib_and_their_writers(path: Path) -> None:
    for name, at_top in imports(path):
        root = name.split(".")[0]
        allowed = (
            root in STDLIB
            or within(name, "jditem.protocol", "jditem.formats")
            or (root in FORMAT_LIBRARIES and not at_top)
        )
        assert allowed, f"{path.relative_to(SRC)} imports {name}"


@pytest.mark.parametrize("module", ["wording.py", "redaction.py", "private_files.py"])
def test_shared_helpers_import_only_the_standard_library(module: str) -> None:
    """Modules every part may use (the client, the CLI and the server alike)."""
    for name, _ in imports(SRC / module):
        assert name.split(".")[0] in STDLIB, f"{module} imports {name}"


RELAY = "server/collectors/relay.py"


def test_exactly_one_server_module_imports_the_client() -> None:
    users = {
        path.relative_to(SRC).as_posix()
        for path in modules("server")
        if any(within(name, "jditem.client") for name, _ in imports(path))
    }
    assert users == {RELAY}


@pytest.mark.parametrize("path", modules("server"), ids=lambda p: str(p.relative_to(SRC)))
def test_server_never_imports_client_or_batch(path: Path) -> None:
    if path.relative_to(SRC).as_posix() == RELAY:
        for name, _ in imports(path):
            assert not within(name, "jditem.batch", "jditem.cli"), f"{RELAY} imports {name}"
            assert name != "jditem", f"{RELAY} imports the package root"
        return
    for name, _ in imports(path):
        assert not within(name, "jditem.client", "jditem.batch"), (
            f"{path.relative_to(SRC)} imports {name}"
        )
        assert name != "jditem", f"{path.relative_to(SRC)} imports the package root (the client)"


@pytest.mark.parametrize(
    "path", modules("client") + modules("errors"), ids=lambda p: str(p.relative_to(SRC))
)
def test_client_never_imports_server_batch_or_cli(path: Path) -> None:
    for name, _ in imports(path):
        assert not within(name, "jditem.server", "jditem.batch", "jditem.cli"), (
            f"{path.relative_to(SRC)} imports {name}"
        )


def test_webhooks_import_only_the_standard_library_and_errors() -> None:
    for name, _ in imports(SRC / "webhooks.py"):
        allowed = name.split(".")[0] in STDLIB or name == "jditem.errors"
        assert allowed, f"webhooks.py imports {name}"


@pytest.mark.parametrize("path", modules("mcp"), ids=lambda p: str(p.relative_to(SRC)))
def test_mcp_adapts_the_client_library_only(path: Path) -> None:
    for name, _ in imports(path):
        assert not within(name, "jditem.server", "jditem.batch", "jditem.cli"), (
            f"{path.relative_to(SRC)} imports {name}"
        )
