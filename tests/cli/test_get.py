"""``jditem get`` and ``jditem probe`` against the real server and the fault server."""

from __future__ import annotations

import json

import pytest
from tests.support.fault_server import FaultServer, Reply
from tests.support.live_server import LiveServer
from typer.testing import CliRunner

from jditem import errors
from jditem.cli.app import build_app
from jditem.cli.exits import exit_code_for

ITEM = "100012043978"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def invoke(runner: CliRunner, token: str | None, *args: str) -> tuple[int, str, str]:
    env = {"JDITEM_TOKEN": token} if token else {}
    result = runner.invoke(build_app(), list(args), env=env)
    if token:
        assert token not in result.stdout, "token leaked to stdout"
        assert token not in result.stderr, "token leaked to stderr"
    return result.exit_code, result.stdout, result.stderr


def test_get_prints_a_summary(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token()
    code, out, err = invoke(runner, token, "get", ITEM, "--base-url", server.base_url)
    assert code == 0, err
    for label in ("Title", "Brand", "Price", "Stock", "Shop", "URL"):
        assert label in out
    assert "masked by JD" in out
    assert f"https://item.jd.com/{ITEM}.html" in out


def test_get_json_and_raw_are_valid_json(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token()
    url = f"https://item.jd.com/{ITEM}.html"
    code, out, err = invoke(runner, token, "get", url, "--json", "--base-url", server.base_url)
    assert code == 0, err
    product = json.loads(out)
    assert product["sku_id"] == ITEM
    assert "raw" not in product
    code, out, err = invoke(runner, token, "get", ITEM, "--raw", "--base-url", server.base_url)
    assert code == 0, err
    assert "product" in json.loads(out)


def test_get_header_auth_and_endpoint_option(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token()
    args = ("get", ITEM, "--json", "--auth", "header", "--endpoint", "v2")
    code, out, _ = invoke(runner, token, *args, "--base-url", server.base_url)
    assert code == 0
    assert json.loads(out)["sku_id"] == ITEM


@pytest.mark.parametrize(
    ("token_kwargs", "item", "exit_code"),
    [
        ({"account": "broke", "balance_yuan": "0"}, ITEM, 4),
        ({"budget_yuan": "0"}, ITEM, 4),
        ({"permissions": ["jd/other/v1"]}, ITEM, 4),
        ({}, "100000000202", 1),
    ],
    ids=["601", "602", "600", "202"],
)
def test_get_exit_codes(
    server: LiveServer, runner: CliRunner, token_kwargs: dict[str, str], item: str, exit_code: int
) -> None:
    token = server.make_token(**token_kwargs)  # type: ignore[arg-type]
    code, out, err = invoke(runner, token, "get", item, "--base-url", server.base_url)
    assert code == exit_code
    assert err.startswith("Error: ")
    assert out == ""


def test_get_quota_exit_code(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token(daily_quota=1)
    assert invoke(runner, token, "get", ITEM, "--base-url", server.base_url)[0] == 0
    code, _, err = invoke(runner, token, "get", ITEM, "--base-url", server.base_url)
    assert code == 3
    assert "quota" in err


def test_get_invalid_token_exit_code(server: LiveServer, runner: CliRunner) -> None:
    code, _, err = invoke(runner, "jdi_wrong_0000000", "get", ITEM, "--base-url", server.base_url)
    assert code == 4
    assert "token" in err


def test_not_serving_data_exit_code(runner: CliRunner) -> None:
    with FaultServer([Reply.envelope(0, "use the Task Management page")]) as fault:
        code, _, err = invoke(runner, "tok_fake_123456", "get", ITEM, "--base-url", fault.base_url)
    assert code == 5
    assert "v1" in err


def test_a_lost_answer_says_it_may_have_been_charged_in_the_cli_words(
    runner: CliRunner,
) -> None:
    """Sent, no answer, a server that never said it honours Idempotency-Key: one call,
    and the advice names the command, not the library's keyword."""
    with FaultServer([Reply.envelope(0, {}, delay=60.0)]) as fault:
        code, _, err = invoke(
            runner, "tok_fake_123456", "get", ITEM, "--base-url", fault.base_url,
            "--timeout", "0.3",
        )  # fmt: skip
        assert len(fault.requests) == 1
    assert code == 1
    assert "may have been charged" in err
    assert "not resent" in err
    assert "run the command again if paying twice is acceptable" in err
    assert "raise --timeout (now 0.3 s)" in err
    assert "idempotency_key" not in err


@pytest.mark.parametrize(
    "args",
    [
        ("get", "not-an-id"),
        ("get", ITEM, "--json", "--raw"),
        ("get", ITEM, "--base-url", "http://api.example.com"),
        ("get", ITEM, "--endpoint", "v7"),
    ],
    ids=["bad-id", "json-and-raw", "insecure-http", "bad-endpoint"],
)
def test_usage_errors_exit_2(runner: CliRunner, args: tuple[str, ...]) -> None:
    assert invoke(runner, "tok_fake_123456", *args)[0] == 2


def test_missing_token_is_a_usage_error(runner: CliRunner) -> None:
    code, _, err = invoke(runner, None, "get", ITEM, "--base-url", "http://127.0.0.1:9")
    assert code == 2
    assert "JDITEM_TOKEN" in err
    assert "JUSTONEAPI_TOKEN" in err


def test_probe_prints_redacted_raw_response(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token()
    code, out, err = invoke(runner, token, "probe", ITEM, "--base-url", server.base_url)
    assert code == 0, err
    assert "token=***" in out
    assert "HTTP 200" in out
    assert '"code": 0' in out
    assert "classification: ready" in out


def test_probe_shows_the_classification_of_errors(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token(budget_yuan="0")
    code, out, _ = invoke(runner, token, "probe", ITEM, "--base-url", server.base_url)
    assert code == 0
    assert "HTTP 402" in out
    assert "classification: fatal" in out


def test_probe_transport_error(runner: CliRunner) -> None:
    code, _, err = invoke(
        runner, "tok_fake_123456", "probe", ITEM, "--base-url", "http://127.0.0.1:9"
    )
    assert code == 1
    assert "could not connect" in err


@pytest.mark.parametrize("command", ["get", "probe"])
def test_commands_have_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(build_app(), [command, "--help"])
    assert result.exit_code == 0
    assert "--base-url" in result.stdout


def test_exit_code_mapping() -> None:
    assert exit_code_for(errors.ConfigurationError("x")) == 2
    assert exit_code_for(errors.QuotaExceededError("x")) == 3
    assert exit_code_for(errors.InsufficientBalanceError("x")) == 4
    assert exit_code_for(errors.NotServingDataError("x")) == 5
    assert exit_code_for(errors.PendingTimeoutError("x", continuation="{}")) == 1
