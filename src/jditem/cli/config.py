"""The CLI's config file: ``JDITEM_HOME/config.toml`` (``~/.jditem/config.toml``),
moved with ``JDITEM_CONFIG``, with named profiles (``--profile`` / ``JDITEM_PROFILE``).

Precedence, highest first: **command-line flag > environment variable > config file >
built-in default**. Example::

    base_url = "https://jd.example.com"     # below JDITEM_BASE_URL and --base-url
    token_command = "pass show jditem"       # run when neither --token nor JDITEM_TOKEN /
                                             # JUSTONEAPI_TOKEN is set; or token_env = "NAME"
    timezone = "Asia/Shanghai"               # times the CLI shows (default: local zone)

    [defaults.batch]                         # any option of a command, by its long name
    concurrency = 4
    max_age = "1h"

    [profiles.staging]                       # jditem --profile staging …
    base_url = "http://127.0.0.1:8000"
    [profiles.staging.defaults.get]
    deadline = 60

The token itself is never stored in the file: ``token_command`` prints it (a password
manager), ``token_env`` names the environment variable holding it. jditem never writes
this file; a ``token_command`` in a file other users can write (group/other-writable, or
owned by someone else) is refused rather than run.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jditem.errors import ConfigurationError

CONFIG_ENV_VAR = "JDITEM_CONFIG"
PROFILE_ENV_VAR = "JDITEM_PROFILE"
_TOKEN_ENV_VARS = ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN")
_KEYS = {"base_url", "token_command", "token_env", "timezone", "defaults", "profiles"}
_TOKEN_COMMAND_TIMEOUT_S = 30.0


class ConfigFileError(ConfigurationError):
    """The config file cannot be used (the message says where and what to fix)."""


@dataclass
class CliConfig:
    """The settings of one profile of the config file."""

    path: Path
    profile: str | None = None
    base_url: str | None = None
    token_command: str | None = None
    token_env: str | None = None
    timezone: str | None = None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The table each ``defaults`` entry came from (``defaults.batch`` or
    #: ``profiles.NAME.defaults.batch``), keyed by (command, option), for messages.
    defaults_table: dict[tuple[str, str], str] = field(default_factory=dict)

    def table_of(self, command: str, key: str | None = None) -> str:
        """Where ``[defaults.COMMAND]`` (or its ``key``) was set, as ``PATH: [TABLE]``."""
        table = self.defaults_table.get((command, key or ""), f"defaults.{command}")
        return f"{self.path}: [{table}]"


def config_path() -> Path:
    """``JDITEM_CONFIG``, else ``JDITEM_HOME/config.toml``, else ``~/.jditem/config.toml``."""
    explicit = os.environ.get(CONFIG_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("JDITEM_HOME") or "~/.jditem"
    return Path(home).expanduser() / "config.toml"


def _section(data: dict[str, Any], where: str, config: CliConfig) -> None:
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigFileError(
            f"{config.path}: unknown key(s) {', '.join(sorted(unknown))} in {where}; "
            f"known: {', '.join(sorted(_KEYS))}"
        )
    for key in ("base_url", "token_command", "token_env", "timezone"):
        if key in data:
            if not isinstance(data[key], str):
                raise ConfigFileError(f"{config.path}: {where}.{key} must be a string")
            setattr(config, key, data[key])
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or not all(isinstance(v, dict) for v in defaults.values()):
        raise ConfigFileError(
            f"{config.path}: {where}.defaults must hold tables like [defaults.batch]"
        )
    prefix = "" if where == "the top level" else f"{where}."
    for command, options in defaults.items():
        config.defaults.setdefault(command, {}).update(options)
        for key in options:
            config.defaults_table[(command, key)] = f"{prefix}defaults.{command}"
        config.defaults_table.setdefault((command, ""), f"{prefix}defaults.{command}")


def load_config(profile: str | None = None, path: Path | None = None) -> CliConfig:
    """The config file's settings for ``profile`` (``JDITEM_PROFILE`` when ``None``);
    an absent file gives an empty config."""
    path = path or config_path()
    profile = profile or os.environ.get(PROFILE_ENV_VAR) or None
    config = CliConfig(path=path, profile=profile)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(
            f"config file {path} is not valid TOML ({exc}); fix it or set {CONFIG_ENV_VAR} "
            "to another file"
        ) from None
    _section(data, "the top level", config)
    if profile is not None:
        profiles = data.get("profiles", {})
        if not isinstance(profiles, dict) or profile not in profiles:
            known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
            raise ConfigFileError(
                f"no profile {profile!r} in {path} (profiles: {known or 'none'}); "
                f"add a [profiles.{profile}] table or pick another --profile"
            )
        section = profiles[profile]
        if not isinstance(section, dict):
            raise ConfigFileError(f"{path}: profiles.{profile} must be a table")
        _section(section, f"profiles.{profile}", config)
    if config.timezone is not None:
        try:
            ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigFileError(
                f"{path}: unknown time zone {config.timezone!r}; use an IANA name like "
                "Asia/Shanghai or UTC"
            ) from None
    return config


_ACTIVE: ContextVar[CliConfig | None] = ContextVar("jditem_cli_config", default=None)


def activate(config: CliConfig) -> None:
    """Make ``config`` the one :func:`current_config` answers (the root command calls it)."""
    _ACTIVE.set(config)


def current_config() -> CliConfig:
    """The config the ``jditem`` root command loaded (or the default file's, outside it)."""
    active = _ACTIVE.get()
    return active if active is not None else load_config()


def display_zone() -> tzinfo | None:
    """The zone the CLI shows times in: the config's ``timezone``, else ``None`` (the
    machine's local zone)."""
    name = current_config().timezone
    return ZoneInfo(name) if name else None


def resolve_base_url(flag: str | None) -> str | None:
    """``--base-url``, else ``JDITEM_BASE_URL`` (read by the client), else the config's."""
    if flag:
        return flag
    if os.environ.get("JDITEM_BASE_URL"):
        return None
    return current_config().base_url


def _check_not_writable_by_others(path: Path) -> None:
    """Refuse to run the ``token_command`` of a config file other users may write (their
    command would run as you), as ssh refuses such a config."""
    if os.name != "posix":
        return
    try:
        info = path.stat()
    except OSError:
        return
    if info.st_mode & 0o022 or info.st_uid not in (os.getuid(), 0):
        raise ConfigFileError(
            f"token_command of {path} is not run: other users can change that file "
            f"(mode {stat.S_IMODE(info.st_mode):o}, owner uid {info.st_uid}); make it yours "
            f"and private (chmod 600 {path}), or pass --token / set JDITEM_TOKEN"
        )


def resolve_token(flag: str | None) -> str | None:
    """``--token``, else the token environment variables (read by the client), else the
    config's ``token_env`` / ``token_command``; ``None`` lets the client say what is missing.
    Raises :class:`ConfigFileError` when the configured command fails (never echoing
    its output)."""
    if flag is not None:
        return flag
    if any(os.environ.get(name, "").strip() for name in _TOKEN_ENV_VARS):
        return None
    config = current_config()
    if config.token_env:
        value = os.environ.get(config.token_env, "").strip()
        if value:
            return value
    if config.token_command:
        _check_not_writable_by_others(config.path)
        try:
            done = subprocess.run(  # noqa: S603 - the user's own configured command
                shlex.split(config.token_command),
                capture_output=True,
                text=True,
                timeout=_TOKEN_COMMAND_TIMEOUT_S,
                check=False,
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise ConfigFileError(
                f"token_command of {config.path} could not run ({type(exc).__name__}); "
                "fix it, or pass --token / set JDITEM_TOKEN"
            ) from None
        value = done.stdout.strip()
        if done.returncode != 0 or not value:
            raise ConfigFileError(
                f"token_command of {config.path} exited with {done.returncode} and "
                f"{'no output' if not value else 'output'}; fix it, or pass --token / set "
                "JDITEM_TOKEN"
            )
        return value.splitlines()[0].strip()
    return None
