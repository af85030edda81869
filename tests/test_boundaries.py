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

Over the whole import graph of ``src/`` (every import, also inside functions; not those
under ``if TYPE_CHECKING``):

* no import cycle (strongly connected components of the graph, found by Tarjan's
  algorithm; a package's ``__init__`` importing its own modules is the package's face,
  not a cycle unless a module imports the face back);
* no import of a private module (``_name``) from another package;
* inside ``jditem.server`` the layers point one way (:data:`SERVER_LAYERS`, top first):
  the HTTP edge, the pages and routers, the wiring, bulk jobs, admission, the domain
  (accounts, tasks, collectors, upstream, monitor), the store, the shared state, and
  the foundation (settings, clock, ids). A module may import its own layer or a lower
  one; the few imports upward are listed with their reason in
  :data:`SERVER_LAYER_EXCEPTIONS`.

Over ``tests/``: no module imports a test module (``tests.….test_*``); helpers that tests
share live in ``tests/support/`` (fixtures in a ``conftest.py``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
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


# ------------------------------------------------------------------ the import graph


def module_name(path: Path) -> str:
    """``jditem.server.http.guard`` for ``src/jditem/server/http/guard.py``."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def source_modules() -> dict[str, Path]:
    """Every module of ``src/jditem`` (Alembic's migration scripts are no modules)."""
    return {module_name(path): path for path in SRC.rglob("*.py") if "migrations" not in path.parts}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes.update(id(sub) for sub in ast.walk(node))
    return nodes


def _imported(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    """The dotted names an import statement names (``from X import y``: ``X.y``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")[: None if is_package else -1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{alias.name}" for alias in node.names]


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ``src/jditem`` that ``name`` is, or defines ``name`` (``X.y`` is
    module ``X.y`` if there is one, else the module ``X`` that defines ``y``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_own_face(module: str, target: str, modules: dict[str, Path]) -> bool:
    """True when ``target`` is the ``__init__`` of a package ``module`` lives in: the
    package's own wiring (Python has run it already), not a dependency."""
    return modules[target].name == "__init__.py" and module.startswith(target + ".")


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the modules of ``src/jditem`` it imports (itself and the faces of its
    own packages excluded)."""
    modules = source_modules()
    graph: dict[str, frozenset[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = _type_checking_nodes(tree)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped or not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(module, node, path.name == "__init__.py"):
                target = _resolve(name, modules)
                if target and target != module and not _is_own_face(module, target, modules):
                    targets.add(target)
        graph[module] = frozenset(targets)
    return graph


def cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than
    one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a", "d"}),
        "d": frozenset({"e"}),
        "e": frozenset({"d"}),
        "f": frozenset({"a"}),
    }
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    graph = import_graph()
    # lazy (inside a function): the factory loads the Redis state only when configured
    assert "jditem.server.shared.state_redis" in graph["jditem.server.shared.factory"]
    assert "jditem.server.http.config" in graph["jditem.server.http.supervisor"]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


#: Private modules that every package may import.
SHARED_PRIVATE_MODULES = {"jditem._version"}


def test_no_private_module_is_imported_from_another_package() -> None:
    modules = source_modules()
    crossings = []
    for module, targets in import_graph().items():
        package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
        for target in targets:
            private = target.rpartition(".")[2].startswith("_")
            crossing = target.rpartition(".")[0] != package
            if private and crossing and target not in SHARED_PRIVATE_MODULES:
                crossings.append(f"{module} imports {target}")
    assert crossings == []


#: The layers of ``jditem.server``, top first: a module imports its own layer or lower.
SERVER_LAYERS: tuple[tuple[str, ...], ...] = (
    ("app",),  # create_app: the app and its lifespan
    ("http",),  # the HTTP edge: guard, middlewares, uvicorn, access log, supervisor
    ("api", "console"),  # routers and pages
    ("context",),  # wires the parts of one process together
    ("jobs",),  # bulk jobs: calls through admission
    ("admission",),  # the pipeline of SPEC §2.4
    ("accounts", "tasks", "collectors", "upstream", "monitor"),  # the domain
    ("store",),  # tables, sessions, migrations, the writer
    ("shared",),  # state shared by processes: limiter, notifier, broadcast, health, throttle
    ("settings", "clock", "ids", "devservices"),  # the foundation
)

#: Imports that point up a layer, each with its reason.
SERVER_LAYER_EXCEPTIONS = {
    # Settings check the two backing URLs with the code that lives beside each store.
    ("jditem.server.settings", "jditem.server.store.urls"),
    ("jditem.server.settings", "jditem.server.shared.redis_url"),
}


def server_layer(module: str) -> int | None:
    """The layer of a ``jditem.server`` module (0 = top), None outside the server."""
    parts = module.split(".")
    if parts[:2] != ["jditem", "server"] or len(parts) < 3:
        return None
    for rank, areas in enumerate(SERVER_LAYERS):
        if parts[2] in areas:
            return rank
    raise AssertionError(f"{module} is in no layer: add its folder to SERVER_LAYERS")


def test_server_layers_point_down() -> None:
    upward = []
    for module, targets in import_graph().items():
        rank = server_layer(module)
        if rank is None:
            continue
        for target in targets:
            target_rank = server_layer(target)
            if target_rank is None or target_rank >= rank:
                continue
            if (module, target) not in SERVER_LAYER_EXCEPTIONS:
                upward.append(f"{module} imports {target} (a higher layer)")
    assert upward == []


def test_every_server_folder_has_a_layer() -> None:
    folders = {path.parent.name for path in (SRC / "server").glob("*/__init__.py")}
    files = {path.stem for path in (SRC / "server").glob("*.py") if path.stem != "__init__"}
    placed = {area for areas in SERVER_LAYERS for area in areas}
    assert folders | files == placed


# ------------------------------------------------------------------ the tests' own imports

TESTS = Path(__file__).parent


def imported_test_modules(path: Path, root: Path = TESTS.parent) -> list[str]:
    """The test modules (``tests/…/test_*.py`` under ``root``) that ``path`` imports."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    module = ".".join(parts[:-1] if is_package else parts)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for name in _imported(module, node, is_package):
            dotted = name.split(".")
            for end in range(2, len(dotted) + 1):
                target = root.joinpath(*dotted[:end]).with_suffix(".py")
                if dotted[0] == "tests" and target.name.startswith("test_") and target.is_file():
                    found.add(".".join(dotted[:end]))
    return sorted(found)


def test_the_test_import_finder_finds_test_modules(tmp_path: Path) -> None:
    modules = ["cli/test_batch", "cli/test_outputs", "cli/test_webhooks", "mcp/test_agents"]
    for name in [*modules, "cli/conftest", "support/waiting"]:
        (tmp_path / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tests" / name).with_suffix(".py").write_text("", encoding="utf-8")
    probe = tmp_path / "tests" / "cli" / "test_probe.py"
    probe.write_text(
        "from tests.cli.test_batch import write_input\n"
        "import tests.mcp.test_agents\n"
        "from . import test_webhooks\n"
        "def later():\n"
        "    from .test_outputs import IDS\n"
        "from tests.support.waiting import wait_until\n"
        "from tests.cli.conftest import server\n",
        encoding="utf-8",
    )
    expected = ["tests." + name.replace("/", ".") for name in modules]
    assert imported_test_modules(probe, tmp_path) == expected


def test_no_module_of_the_tests_imports_a_test_module() -> None:
    """A helper that two test modules share belongs in tests/support/ (a fixture in the
    directory's conftest.py), never in one of them: a test module is no library."""
    crossings = [
        f"{path.relative_to(TESTS.parent)} imports {', '.join(found)}"
        for path in sorted(TESTS.rglob("*.py"))
        if (found := imported_test_modules(path))
    ]
    assert crossings == []
