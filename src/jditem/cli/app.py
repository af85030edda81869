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
    "jditem.cli.jobs",
    "jditem.cli.serve",
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
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
        profile: str | None = typer.Option(
            None,
            "--profile",
            help="Profile of the config file to use (env: JDITEM_PROFILE).",
            show_default=False,
        ),
    ) -> None:
        """JD.com product details through a task-backed API.

        Settings come from, highest first: command-line flags, environment variables
        (JDITEM_TOKEN, JDITEM_BASE_URL, …), the config file (JDITEM_CONFIG, default
        ~/.jditem/config.toml), built-in defaults. Shell completion: --install-completion.
        """
        from jditem.cli.config import ConfigFileError, load_config

        try:
            config = load_config(profile)
        except ConfigFileError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from None
        ctx.obj = config
        ctx.default_map = {**config.default_map(), **(ctx.default_map or {})}

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
