"""``jditem serve --processes`` and ``jditem worker``: refusals are one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app


@pytest.fixture(autouse=True)
def _no_redis_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JDITEM_REDIS_URL", raising=False)
    monkeypatch.setenv("JDITEM_HOME", str(tmp_path))


def test_several_processes_without_redis_is_refused_with_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["serve", "--processes", "2", "--db", str(tmp_path / "s.db")]
    )
    assert result.exit_code == 2
    assert "--processes 2 needs --redis URL" in result.output
    assert "Traceback" not in result.output


def test_worker_needs_at_least_one_worker(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["worker", "--workers", "0"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_roles_are_listed_in_help() -> None:
    out = CliRunner().invoke(build_app(), ["serve", "--help"]).output
    assert "--processes" in out
    assert "--redis" in out
    assert "Collect only" in CliRunner().invoke(build_app(), ["worker", "--help"]).output
