"""The ``jditem`` command: one typer app; each command group lives in its own module.

Heavy imports (server, pyarrow) happen inside the commands, so ``jditem get`` works
with only the ``cli`` extra installed.
"""

from __future__ import annotations

import importlib

import typer

from jditem._version import __version__

#: Modules that each expose ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "jditem.cli.get",
    "jditem.cli.batch",
    "jditem.cli.serve",
    "jditem.cli.worker",
    "jditem.cli.admin",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jditem {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """A fresh typer app with every command group registered."""
    app = typer.Typer(
        name="jditem",
        help="JD.com product details through a task-backed API: client, batch, and server.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        """JD.com product details through a task-backed API."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
