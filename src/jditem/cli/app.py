"""The ``jditem`` command: one typer app; each command group lives in its own module.

Heavy imports (server, pyarrow) happen inside the commands, so ``jditem get`` works
with only the ``cli`` extra installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import typer

from jditem._version import __version__

if TYPE_CHECKING:
    from jditem.cli.config import CliConfig

#: Modules that each expose ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "jditem.cli.get",
    "jditem.cli.history",
    "jditem.cli.batch",
    "jditem.cli.export",
    "jditem.cli.jobs",
    "jditem.cli.serve",
    "jditem.cli.worker",
    "jditem.cli.admin",
    "jditem.cli.dev",
    "jditem.cli.webhooks",
    "jditem.cli.watch",
    "jditem.cli.changes",
    "jditem.cli.mcp",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jditem {__version__}")
        raise typer.Exit()


def option_defaults(group: Any, ctx: Any, config: CliConfig) -> dict[str, Any]:
    """``[defaults.COMMAND]`` tables of ``config`` keyed the way click looks them up: by
    command, then by parameter name (``json`` → ``as_json``, ``max-age`` → ``max_age``).
    A wrong entry is an error naming the file and the table it is in."""
    from jditem.cli.config import ConfigFileError

    mapped: dict[str, Any] = {}
    for command_name, options in config.defaults.items():
        get_command = getattr(group, "get_command", None)
        command = get_command(ctx, command_name) if get_command is not None else None
        if command is None:
            raise ConfigFileError(f"{config.table_of(command_name)} names no jditem command")
        by_flag: dict[str, str] = {}
        for param in command.params:
            for flag in getattr(param, "opts", []):
                by_flag[flag.lstrip("-").replace("-", "_")] = str(param.name)
            by_flag.setdefault(str(param.name), str(param.name))
        table: dict[str, Any] = {}
        for key, value in options.items():
            name = by_flag.get(key.replace("-", "_"))
            if name is None:
                raise ConfigFileError(
                    f"{config.table_of(command_name, key)} has {key!r}, which is not an "
                    f"option of jditem {command_name} (see jditem {command_name} -h)"
                )
            table[name] = value
        mapped[command_name] = table
    return mapped


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
        from jditem.cli.config import ConfigFileError, activate, load_config

        try:
            config = load_config(profile)
        except ConfigFileError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from None
        activate(config)
        try:
            defaults = option_defaults(ctx.command, ctx, config)
        except ConfigFileError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from None
        ctx.default_map = {**defaults, **(ctx.default_map or {})}

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
