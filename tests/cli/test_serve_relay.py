"""``jditem serve --collector relay``: start problems are one line and exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        build_app(),
        ["serve", "--db", str(tmp_path / "s.db"), "--collector", "relay", *args],
        env={"JDITEM_UPSTREAM_TOKEN": "", **(env or {})},
    )
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {}, "needs an upstream token: set JDITEM_UPSTREAM_TOKEN"),
        (("--upstream-token-file", "/nonexistent/token"), {}, "cannot read the upstream token"),
        (
            ("--upstream", "cn"),
            {"JDITEM_UPSTREAM_TOKEN": "up-secret-123"},
            "--upstream-allow-insecure-http",
        ),
        (
            ("--upstream", "http://127.0.0.1:1"),
            {"JDITEM_UPSTREAM_TOKEN": "up-secret-123"},
            "is unreachable (ConnectError)",
        ),
    ],
)
def test_start_problems_are_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    code, err = serve(tmp_path, *args, env=env)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "up-secret-123" not in err


def test_a_bad_endpoint_list_is_an_invalid_setting(tmp_path: Path) -> None:
    code, err = serve(
        tmp_path, "--upstream-endpoints", "v2,v9", env={"JDITEM_UPSTREAM_TOKEN": "up-secret-123"}
    )
    assert code == 2
    assert "JDITEM_UPSTREAM_ENDPOINTS: upstream_endpoints must list v1, v2, v3" in err
    assert "Traceback" not in err
    assert "up-secret-123" not in err


def test_empty_token_file_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n  \n", encoding="utf-8")
    code, err = serve(tmp_path, "--upstream-token-file", str(token_file))
    assert code == 2
    assert "is empty" in err


def test_admin_upstream_on_a_database_without_relay_calls(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["admin", "--db", str(tmp_path / "a.db"), "upstream", "--days", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "Upstream calls and charges" in result.stdout
    assert "circuit: closed" in result.stdout
    assert "upstream health: no_data (0 calls)" in result.stdout
