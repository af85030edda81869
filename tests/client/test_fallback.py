"""EndpointFallback: only an instruction message moves on, in the configured order."""

from __future__ import annotations

import pytest

from jditem import errors
from jditem.client.base import BaseClient
from jditem.client.config import ClientConfig
from jditem.client.fallback import EndpointFallback, parse_endpoints

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
