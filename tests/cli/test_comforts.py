"""CLI comforts of issue 11: ``-h``, completion, the config file and its precedence,
``admin balance``, permissions in ``token list``, times in the configured zone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.support.live_server import LiveServer
from typer.testing import CliRunner

from jditem.cli.app import build_app

ITEM = "100012043978"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL", "JDITEM_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JDITEM_HOME", str(tmp_path / "home"))
    config = tmp_path / "config.toml"
    monkeypatch.setenv("JDITEM_CONFIG", str(config))
    return config


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_dash_h_and_completion() -> None:
    code, out, _ = invoke("-h")
    assert code == 0
    assert "--install-completion" in out
    code, out, _ = invoke("batch", "-h")
    assert code == 0
    assert "--id-column" in out


def test_config_file_gives_base_url_token_command_and_defaults(
    server: LiveServer, clean_env: Path
) -> None:
    token = server.make_token()
    secret = clean_env.parent / "secret.txt"
    secret.write_text(token + "\n", encoding="utf-8")
    clean_env.write_text(
        f'base_url = "{server.base_url}"\n'
        f'token_command = "{sys.executable} -c \\"import sys; '
        f'print(open(sys.argv[1]).read())\\" {secret}"\n'
        "[defaults.get]\njson = true\n"
        '[profiles.broken]\nbase_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    clean_env.chmod(0o600)
    code, out, err = invoke("get", ITEM)
    assert code == 0, err
    assert json.loads(out)["sku_id"] == ITEM  # --json from [defaults.get]
    assert token not in out + err

    # flag > env > config: the profile's dead URL loses to the environment and to the flag
    code, out, _ = invoke("--profile", "broken", "get", ITEM, "--max-calls", "1")
    assert code == 1
    assert "127.0.0.1:9" in json.loads(out)["error"]["message"]  # --json errors are JSON
    code, out, _ = invoke(
        "--profile", "broken", "get", ITEM, env={"JDITEM_BASE_URL": server.base_url}
    )
    assert code == 0
    code, out, _ = invoke("--profile", "broken", "get", ITEM, "--base-url", server.base_url)
    assert code == 0

    code, _, err = invoke("--profile", "nope", "get", ITEM)
    assert code == 2
    assert "no profile 'nope'" in err

    # a token_command others could have written is not run (it would run as you)
    clean_env.chmod(0o666)
    code, out, err = invoke("get", ITEM)
    assert code == 2
    assert "other users can change that file" in out + err, (out, err)
    assert token not in out + err


def test_a_broken_config_file_is_one_clear_line(clean_env: Path) -> None:
    clean_env.write_text("base_url = \n", encoding="utf-8")
    code, _, err = invoke("get", ITEM)
    assert code == 2
    assert "is not valid TOML" in err
    assert str(clean_env) in err


def test_admin_balance_permissions_and_local_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "admin.db")
    monkeypatch.setenv("JDITEM_TIMEZONE", "Asia/Shanghai")
    assert invoke("admin", "--db", db, "account", "create", "acme", "--balance", "12.5")[0] == 0
    args = ("admin", "--db", db, "token", "create", "--account", "acme", "--permission", "jd/x")
    assert invoke(*args)[0] == 0
    code, out, err = invoke("admin", "--db", db, "balance")
    assert code == 0, err
    assert "acme" in out
    assert "12.5000" in out
    code, out, _ = invoke("admin", "--db", db, "token", "list")
    assert code == 0
    assert "jd/x" in out
    code, out, _ = invoke("admin", "--db", db, "account", "list")
    assert code == 0
    assert "+08:00" in out
    code, _, err = invoke("admin", "--db", db, "balance", "--account", "ghost")
    assert code == 1
    assert "no account named 'ghost'" in err


def test_config_timezone_is_used_for_times_and_checked(clean_env: Path) -> None:
    clean_env.write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    jobs = Path(clean_env.parent / "home" / "jobs")
    jobs.mkdir(parents=True)
    from jditem.batch.journal import Journal

    Journal(jobs / "j.sqlite").close()
    code, out, err = invoke("jobs", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["updated"].endswith("+08:00")
    clean_env.write_text('timezone = "Mars/Olympus"\n', encoding="utf-8")
    code, _, err = invoke("jobs")
    assert code == 2
    assert "unknown time zone 'Mars/Olympus'" in err


def test_a_bad_default_names_the_file_and_the_profile_table(clean_env: Path) -> None:
    """Main said ``[defaults.batch]`` for a key under ``[profiles.work.defaults.batch]``,
    without the file (issue 18 item 8)."""
    clean_env.write_text(
        "[defaults.batch]\nconcurrency = 4\n[profiles.work.defaults.batch]\nconcurency = 8\n",
        encoding="utf-8",
    )
    code, _, err = invoke("--profile", "work", "batch", "-h")
    assert code == 2
    assert f"{clean_env}: [profiles.work.defaults.batch] has 'concurency'" in err
    clean_env.write_text("[defaults.fetch]\njson = true\n", encoding="utf-8")
    code, _, err = invoke("get", "-h")
    assert code == 2
    assert f"{clean_env}: [defaults.fetch] names no jditem command" in err
