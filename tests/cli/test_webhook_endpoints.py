"""``jditem webhooks add|list|rotate|test|deliveries|replay|enable|remove`` against a
real server with a real receiver (loopback, allowed explicitly); and the async twin of
``client.webhooks``. Secrets are printed once, never in listings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver
from typer.testing import CliRunner

from jditem import AsyncClient, errors
from jditem.cli.app import build_app
from jditem.webhooks import verify


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(status=204) as running:
        yield running


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(watch_scheduler=False, webhook_allow_networks=["127.0.0.0/8"]) as live:
        yield live


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def hooks(runner: CliRunner, server: LiveServer, token: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        build_app(),
        ["webhooks", *args, "--base-url", server.base_url, "--insecure"],
        env={"JDITEM_TOKEN": token},
    )
    assert token not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_endpoint_commands_end_to_end(
    server: LiveServer, runner: CliRunner, receiver: WebhookReceiver
) -> None:
    token = server.make_token("cli-hooks")
    url = receiver.base_url + "/cli"
    code, out, err = hooks(runner, server, token, "add", url, "--kind", "price_drop")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("whsec_")
    assert "shown this once" in err
    code, out, _ = hooks(runner, server, token, "list")
    assert code == 0
    assert url in out
    assert "price_drop" in out
    assert "whsec_" not in out
    code, out, _ = hooks(runner, server, token, "list", "--json")
    (endpoint,) = json.loads(out)
    number = str(endpoint["id"])
    code, out, err = hooks(runner, server, token, "rotate", number, "--overlap", "1h")
    assert code == 0, err
    new_secret = out.strip()
    assert new_secret.startswith("whsec_")
    assert new_secret != secret
    assert "keeps signing too until" in err
    code, out, err = hooks(runner, server, token, "test", number)
    assert code == 0, err
    got = wait_until(
        lambda: [r for r in receiver.received if r.path == "/cli"], "the test event arrives"
    )
    verify(got[0].body, got[0].headers, secret)
    verify(got[0].body, got[0].headers, new_secret)

    def delivered() -> list[dict[str, object]]:
        listed = json.loads(hooks(runner, server, token, "deliveries", number, "--json")[1])
        return [d for d in listed if d["status"] == "delivered"]

    (done,) = wait_until(delivered, "the delivery is logged as delivered")
    code, out, _ = hooks(runner, server, token, "deliveries", number)
    assert "webhook.test" in out
    assert "204" in out
    code, out, err = hooks(runner, server, token, "replay", str(done["id"]))
    assert code == 0, err
    wait_until(lambda: len([r for r in receiver.received if r.path == "/cli"]) == 2, "replayed")
    code, out, err = hooks(runner, server, token, "enable", number)
    assert code == 0, err
    assert "enabled" in out
    code, _, err = hooks(runner, server, token, "remove", number)
    assert code == 0, err
    code, _, err = hooks(runner, server, token, "test", number)
    assert code != 0
    assert f"no webhook endpoint {number}" in err


def test_a_refused_url_is_one_clear_line(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token("cli-hooks-bad")
    code, out, err = hooks(runner, server, token, "add", "https://10.1.2.3/hook")
    assert code != 0
    assert out == ""
    assert "10.1.2.3 is a private address" in err
    code, _, err = hooks(runner, server, token, "add", "https://10.1.2.3/", "--kind", "cheap")
    assert code != 0


def test_the_async_twin(server: LiveServer, receiver: WebhookReceiver) -> None:
    token = server.make_token("async-hooks")

    async def scenario() -> None:
        async with AsyncClient(token, base_url=server.base_url, allow_insecure_http=True) as client:
            made = await client.webhooks.add(receiver.base_url + "/async", kinds=["new_low"])
            assert "whsec_" not in repr(made)
            assert [e.id for e in await client.webhooks.list()] == [made.id]
            assert (await client.webhooks.show(made.id)).kinds == ["new_low"]
            rotated = await client.webhooks.rotate(made.id, overlap_seconds=0)
            assert rotated.previous_secret_until is None
            await client.webhooks.test(made.id)
            await client.webhooks.remove(made.id)
            with pytest.raises(errors.APIError) as missing:
                await client.webhooks.show(made.id)
            assert missing.value.code == 404

    asyncio.run(scenario())
