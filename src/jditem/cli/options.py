"""Group options that may also be given after a subcommand.

``jditem admin --db URL token list`` is how click parses a group's option; users also
type ``jditem admin token list --db URL``. :class:`OptionAnywhereGroup` accepts both:
before parsing, it moves its own value-taking options (``--db URL`` / ``--db=URL``)
found after the subcommand to the front, where the group's callback reads them.
Everything after a ``--`` is left alone.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

#: The group options that may appear anywhere after the group's name.
HOISTED = ("--db",)


def hoist_options(args: list[str], names: tuple[str, ...] = HOISTED) -> list[str]:
    """``args`` with ``NAME VALUE`` / ``NAME=VALUE`` pairs moved to the front (in order)."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in names and "=" in arg:
            front.append(arg)
        elif arg in names and index + 1 < len(args):
            front.extend((arg, args[index + 1]))
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


class OptionAnywhereGroup(TyperGroup):
    """A typer group whose ``--db`` may also follow its subcommands (module docstring)."""

    # ctx: click's Context (vendored inside typer by newer typer releases)
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Hoist the group's options, then parse as usual."""
        return super().parse_args(ctx, hoist_options(list(args)))
