"""The whole ``jditem`` command tree: every command and group documents itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from jditem._version import __version__
from jditem.cli.app import build_app


# typer ships its own click-like classes: walk groups by their ``commands`` mapping.
def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def _lookup(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(build_app())
    for name in path:
        command = command.commands[name]
    return command


PATHS = list(_walk(typer.main.get_command(build_app())))


def test_the_tree_has_every_documented_command() -> None:
    names = {" ".join(p) for p in PATHS}
    for expected in ("get", "probe", "batch", "export", "serve", "admin token create"):
        assert expected in names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "jditem")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    command = _lookup(path)
    assert (command.help or "").strip(), f"jditem {' '.join(path)} has no help text"
    result = CliRunner().invoke(build_app(), [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_version() -> None:
    result = CliRunner().invoke(build_app(), ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
