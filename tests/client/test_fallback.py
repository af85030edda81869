"""EndpointFallback: only an instruction message moves on, in the configured order."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from jditem import errors
from jditem.cli.app import build_app
from jditem.client import CallInfo
from jditem.client.base import BaseClient
from jditem.client.config import ClientConfig
from jditem.client.fallback import EndpointFallback, parse_endpoints
from tests.client.conftest import SKU, TOKEN, TwinFactory
from tests.support.fault_server import FaultServer, Reply

INSTRUCTION = b'{"code": 0, "message": "use the dashboard", "data": "Task Management"}'
PENDING = b'{"code": 102, "message": "pending", "data": {"taskStatus": "queued"}}'


def classify(body: bytes) -> object:
    core = BaseClient(ClientConfig.build("tok", base_url="http://127.0.0.1:1"))
    return core.classify_response("1", 200, {}, body)


def test_instruction_moves_on_until_none_left() -> None:
    fallback = EndpointFallback(("v2", "v1"))
    assert fallback.current == "v2"
    assert fallback.advance(classify(PENDING)) is None  # type: ignore[arg-type]
    assert fallback.advance(classify(INSTRUCTION)) == "v1"  # type: ignore[arg-type]
    assert fallback.current == "v1"
    assert fallback.advance(classify(INSTRUCTION)) is None  # type: ignore[arg-type]
    assert fallback.switches == [("v2", "v2 answered an instruction message")]


@pytest.mark.parametrize("bad", ["", "v4", "v2,v2", "v2,,x"])
def test_bad_lists_are_refused_with_advice(bad: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=r"use e\.g\. v2,v1"):
        parse_endpoints(bad)


def test_parse_accepts_strings_and_tuples() -> None:
    assert parse_endpoints(" v2, v1 ") == ("v2", "v1")
    assert parse_endpoints(("v3",)) == ("v3",)


# -- the client's get flow with the fallback on (real HTTP on loopback, both twins) ---------


async def test_client_falls_back_from_v2_to_v1_when_opted_in(
    twin: TwinFactory, product_data: dict[str, Any]
) -> None:
    script = [Reply.envelope(0, "use the Task Management page"), Reply.envelope(0, product_data)]
    with FaultServer(script) as server:
        calls: list[CallInfo] = []
        client = twin(base_url=server.base_url, endpoints=("v2", "v1"))
        product = await client.get(SKU, on_call=calls.append)
        assert product.sku_id == SKU
        assert [r.path for r in server.requests] == [
            "/api/jd/get-item-detail/v2",
            "/api/jd/get-item-detail/v1",
        ]
        assert [c.outcome for c in calls] == ["not_serving_data", "ready"]


async def test_without_endpoints_an_instruction_is_not_serving_data(twin: TwinFactory) -> None:
    with FaultServer([Reply.envelope(0, "use the Task Management page")]) as server:
        client = twin(base_url=server.base_url)
        with pytest.raises(errors.NotServingDataError):
            await client.get(SKU)
        assert len(server.requests) == 1


async def test_every_endpoint_answering_an_instruction_raises(twin: TwinFactory) -> None:
    with FaultServer([Reply.envelope(0, "use the dashboard")]) as server:
        client = twin(base_url=server.base_url, endpoints="v2,v1,v3")
        with pytest.raises(errors.NotServingDataError):
            await client.get(SKU)
        assert [r.path.rsplit("/", 1)[1] for r in server.requests] == ["v2", "v1", "v3"]


def test_cli_get_endpoints_option(product_data: dict[str, Any]) -> None:
    script = [Reply.envelope(0, "use the Task Management page"), Reply.envelope(0, product_data)]
    with FaultServer(script) as server:
        result = CliRunner().invoke(
            build_app(),
            ["get", SKU, "--base-url", server.base_url, "--token", TOKEN,
             "--endpoints", "v2,v1", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert [r.path.rsplit("/", 1)[1] for r in server.requests] == ["v2", "v1"]


def test_endpoints_option_refuses_a_bad_list() -> None:
    with pytest.raises(errors.ConfigurationError, match=r"use e\.g\. v2,v1"):
        ClientConfig.build("tok", base_url="http://127.0.0.1:1", endpoints="v2,v7")
    config = ClientConfig.build("tok", base_url="http://127.0.0.1:1", endpoints=("v1", "v2"))
    assert config.endpoint == "v1"
    assert config.endpoints == ("v1", "v2")
