"""``deploy/``: the real-deployment shape stays true to the code.

Docker cannot run here, so the compose file is checked as far as it can be without it:
it parses, has PostgreSQL, Redis, API and worker services, and every ``jditem`` command
and ``JDITEM_*`` variable in it (and in the systemd units and their environment file)
is one the CLI and settings accept, with URLs our validators accept. The systemd units
go through ``systemd-analyze verify`` (with ExecStart pointed at this venv's jditem).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from jditem.cli.app import build_app
from jditem.server.settings import Settings
from jditem.server.shared.redis_url import normalize_redis_url
from jditem.server.store.urls import normalize_database_url

DEPLOY = Path(__file__).parents[1] / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
SYSTEMD = DEPLOY / "systemd"
#: Variables the deploy files define for themselves (used in command lines only).
DEPLOY_ONLY = {"JDITEM_API_PROCESSES", "JDITEM_WORKER_TASKS"}
#: Values the placeholders stand for in these checks.
EXAMPLE = {"JDITEM_API_PROCESSES": "2", "JDITEM_WORKER_TASKS": "16", "POSTGRES_PASSWORD": "pw"}


def substitute(text: str) -> str:
    """``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}`` as compose and systemd
    expand them, with :data:`EXAMPLE` values."""

    def value(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in EXAMPLE:
            return EXAMPLE[name]
        return rest if op == ":-" else f"<{name}>"

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", value, text)


def parses(argv: list[str]) -> None:
    """``jditem ARGV`` is accepted by the real CLI's parser (nothing runs)."""
    assert argv[0].endswith("jditem"), argv
    group = typer.main.get_command(build_app())
    with group.make_context("jditem", list(argv[1:2])) as context:
        command = group.get_command(context, argv[1])
        assert command is not None, argv
        command.make_context(argv[1], list(argv[2:]), parent=context)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_has_the_scale_out_shape() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "api", "worker"}
    api, worker = services["api"], services["worker"]
    assert api["command"][:2] == ["jditem", "serve"]
    assert "--processes" in api["command"]
    assert worker["command"][:2] == ["jditem", "worker"]
    assert worker["deploy"]["replicas"] >= 2
    for service in (api, worker):
        assert set(service["depends_on"]) == {"postgres", "redis"}


def test_compose_commands_parse_with_the_real_cli() -> None:
    for name in ("api", "worker"):
        command = [substitute(str(part)) for part in compose()["services"][name]["command"]]
        parses(command)


def test_compose_settings_are_real_settings_with_valid_urls() -> None:
    environment = compose()["services"]["api"]["environment"]
    for name in environment:
        assert name.removeprefix("JDITEM_").lower() in Settings.model_fields, name
    normalize_database_url(substitute(environment["JDITEM_DATABASE_URL"]))
    normalize_redis_url(substitute(environment["JDITEM_REDIS_URL"]))


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


@pytest.mark.parametrize(
    "path", [SYSTEMD / "jditem.env", DEPLOY / "compose" / "example.env"], ids=lambda p: p.name
)
def test_environment_files_name_real_settings(path: Path) -> None:
    for name, value in _env_file(path).items():
        if name.startswith("JDITEM_") and name not in DEPLOY_ONLY:
            assert name.removeprefix("JDITEM_").lower() in Settings.model_fields, name
        if name == "JDITEM_DATABASE_URL":
            normalize_database_url(value)
        if name == "JDITEM_REDIS_URL":
            normalize_redis_url(value)


def _exec_start(unit: Path) -> str:
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit
    return lines[0].removeprefix("ExecStart=")


@pytest.mark.parametrize(
    "unit", ["jditem-api.service", "jditem-worker@.service"], ids=lambda name: name
)
def test_systemd_commands_parse_with_the_real_cli(unit: str) -> None:
    parses(substitute(_exec_start(SYSTEMD / unit)).split())


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    here = str(Path(sys.executable).with_name("jditem"))
    for unit in SYSTEMD.iterdir():
        if unit.suffix in (".service", ".target"):
            text = unit.read_text().replace("/opt/jditem/venv/bin/jditem", here)
            (tmp_path / unit.name).write_text(text)
    worker = (tmp_path / "jditem-worker@.service").read_text()
    for instance in (1, 2):  # the target wants two instances
        (tmp_path / f"jditem-worker@{instance}.service").write_text(worker)
    units = ["jditem-api.service", "jditem-worker@1.service", "jditem.target"]
    done = subprocess.run(
        [analyze, "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    ours = [line for line in done.stderr.splitlines() if "jditem" in line]
    assert done.returncode == 0, done.stderr
    assert ours == [], ours
