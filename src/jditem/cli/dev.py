"""``jditem dev``: helpers for trying jditem on this machine.

``jditem dev services`` starts a throwaway PostgreSQL + Redis (unix sockets in a
``mktemp -d`` under /tmp; see :mod:`jditem.server.devservices`) for trying the scale-out
profile. Its stdout is only shell ``export`` lines, so ``eval "$(jditem dev services
--detach)"`` sets ``JDITEM_DATABASE_URL`` and ``JDITEM_REDIS_URL`` for the ``jditem
serve`` / ``jditem worker`` that follow; what to run next goes to stderr.
"""

from __future__ import annotations

import shlex
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from jditem.server.devservices import DevServices

#: Set by the printed exports: where the services live (``jditem dev stop`` reads it).
DIR_VARIABLE = "JDITEM_DEV_SERVICES"

dev_app = typer.Typer(help="Helpers for trying jditem on this machine.", no_args_is_help=True)


def _exports(services: DevServices) -> str:
    return "\n".join(
        f"export {name}={shlex.quote(value)}"
        for name, value in (
            ("JDITEM_DATABASE_URL", services.database_url),
            ("JDITEM_REDIS_URL", services.redis_url),
            (DIR_VARIABLE, str(services.root)),
        )
    )


def _next_steps(services: DevServices, detached: bool) -> str:
    stop = (
        f"jditem dev stop {shlex.quote(str(services.root))}   (or: jditem dev stop, "
        f"with ${DIR_VARIABLE} set)"
        if detached
        else "Ctrl-C here (stops both and deletes their data)"
    )
    return (
        f"PostgreSQL and Redis are running on unix sockets in {services.root} "
        "(throwaway: fsync off, data deleted when stopped).\n"
        f"  --db    {services.database_url}\n"
        f"  --redis {services.redis_url}\n"
        "Then, where JDITEM_DATABASE_URL and JDITEM_REDIS_URL are set (the export lines on "
        "stdout) or with those --db / --redis options:\n"
        "  jditem serve --processes 2 --workers 0     # API processes on port 8000\n"
        "  jditem worker                              # collects; start as many as you like\n"
        f"Stop: {stop}"
    )


def _wait_for_a_stop_signal() -> None:
    """Block until SIGINT, SIGTERM or SIGHUP (Ctrl-C, kill, the terminal closing)."""
    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        signal.sigwait(stops)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@dev_app.command("services")
def services(
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Leave them running and exit (stop later with `jditem dev stop`).",
        ),
    ] = False,
) -> None:
    """Start a throwaway PostgreSQL and Redis for trying scale-out on this machine.

    Unix sockets only (no TCP port), in a new directory under /tmp; as root, PostgreSQL
    runs as the postgres user. Prints `export …` lines for JDITEM_DATABASE_URL and
    JDITEM_REDIS_URL on stdout, so `eval "$(jditem dev services --detach)"` sets them.
    Needs the PostgreSQL server (initdb, pg_ctl) and redis-server installed, e.g.
    `apt-get install postgresql redis-server`. Not for production: see deploy/.
    """
    from jditem.server import devservices

    try:
        started = devservices.start()
    except devservices.DevServicesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        typer.echo(_exports(started))
        typer.echo(_next_steps(started, detach), err=True)
        if detach:
            return
        _wait_for_a_stop_signal()
        typer.echo("stopping…", err=True)
    except BaseException:
        started.stop()
        raise
    started.stop()
    typer.echo(f"stopped; deleted {started.root}", err=True)


@dev_app.command("stop")
def stop(
    directory: Annotated[
        Path,
        typer.Argument(
            envvar=DIR_VARIABLE,
            show_envvar=True,
            help="The directory `jditem dev services --detach` printed.",
        ),
    ],
) -> None:
    """Stop services started with `jditem dev services --detach` and delete their data."""
    from jditem.server import devservices

    try:
        running = devservices.attach(directory)
    except devservices.DevServicesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    running.stop()
    typer.echo(f"stopped; deleted {directory}", err=True)


def register(app: typer.Typer) -> None:
    """Register ``jditem dev``."""
    app.add_typer(dev_app, name="dev")
