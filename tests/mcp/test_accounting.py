"""What a fetch cost, read from its calls (``CallTally``), and the continuation's form."""

from __future__ import annotations

import json

import httpx
import pytest

from jditem import errors
from jditem.client.base import BaseClient
from jditem.client.calls import CallInfo
from jditem.client.config import ClientConfig
from jditem.client.retry import Attempts
from jditem.mcp.results import decode_continuation, encode_continuation
from jditem.mcp.session import CallTally, item_id_of


def call(
    code: int | None,
    outcome: str,
    *,
    replayed: bool = False,
    error: errors.JditemError | None = None,
) -> CallInfo:
    return CallInfo(
        item_id="1",
        code=code,
        http_status=None if code is None else 200,
        request_id="r1" if code is not None else None,
        outcome=outcome,
        elapsed_s=0.01,
        retry_after=None,
        replayed=replayed,
        error=error,
    )


def tally_of(*calls: CallInfo, in_flight: bool = False) -> CallTally:
    tally = CallTally()
    for info in calls:
        tally.before()
        tally.after(info)
    if in_flight:
        tally.before()
    return tally


def test_an_answer_with_data_is_one_charge() -> None:
    tally = tally_of(call(102, "pending"), call(0, "ready"))
    assert (tally.charged, tally.uncertain, tally.calls) == (1, 0, 2)
    assert tally.request_id == "r1"


def test_pending_and_errors_cost_nothing() -> None:
    tally = tally_of(call(102, "pending"), call(202, "not_supported"))
    assert (tally.charged, tally.uncertain) == (0, 0)


#: The client's core, to classify calls exactly as the client does.
CORE = BaseClient(ClientConfig.build("t", base_url="http://127.0.0.1:1"))


def failed(exc: httpx.HTTPError) -> CallInfo:
    """The ``CallInfo`` the client reports for a call that failed with ``exc``."""
    return Attempts(CORE.config, "1").record(CORE.classify_exception("1", exc))


def answered(status: int, body: bytes) -> CallInfo:
    """The ``CallInfo`` the client reports for an answer ``status`` with ``body``."""
    return Attempts(CORE.config, "1").record(CORE.classify_response("1", status, {}, body))


def test_a_lost_answer_may_have_been_charged() -> None:
    """The client's rule (``CallInfo.possibly_charged``): sent, no complete answer."""
    for info in (
        failed(httpx.ReadError("reset")),
        failed(httpx.ReadTimeout("slow")),
        answered(200, b"<html>gateway</html>"),
        answered(200, b'{"code": 0, "da'),
    ):
        assert info.possibly_charged, info
        assert tally_of(info).uncertain == 1


def test_a_call_never_sent_cannot_have_been_charged() -> None:
    for exc in (httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")):
        assert tally_of(failed(exc)).uncertain == 0


def test_an_answer_without_a_body_code_charges_nothing() -> None:
    """HTTP 429 / 503 without an envelope are complete answers of the 302 / 301 kind
    (SPEC §4): nothing was charged (the adapter's own rule counted them as uncertain)."""
    for status in (429, 503):
        info = answered(status, b"")
        assert info.code is None
        assert not info.possibly_charged
        assert tally_of(info).uncertain == 0


def test_a_replay_after_a_lost_answer_is_the_one_charge() -> None:
    """Same Idempotency-Key: the lost call was the charged one, the replay is free."""
    lost = failed(httpx.ReadError("reset"))
    tally = tally_of(lost, call(0, "ready", replayed=True))
    assert (tally.charged, tally.uncertain, tally.replayed) == (1, 0, True)


def test_a_call_on_the_wire_when_cancelled_may_have_been_charged() -> None:
    assert tally_of(call(102, "pending"), in_flight=True).uncertain == 1
    assert tally_of(call(0, "ready"), in_flight=True).uncertain == 0


def test_continuations_are_opaque_and_round_trip() -> None:
    raw = json.dumps({"v": 1, "itemId": "100012043978", "baseUrl": "http://127.0.0.1:1"})
    encoded = encode_continuation(raw)
    assert encoded.startswith("jdc1.")
    assert "{" not in encoded
    assert '"' not in encoded
    assert decode_continuation(encoded) == raw
    assert decode_continuation(f"  {encoded} ") == raw
    assert decode_continuation(raw) == raw  # the client's own form is accepted too
    for bad in ("", "jdc1.!!!", "nonsense", "jdc1.//8", encode_continuation("[1]"), "{}"):
        with pytest.raises(errors.ConfigurationError, match="unchanged"):
            decode_continuation(bad)


@pytest.mark.parametrize(
    ("ref", "item_id"),
    [
        ("100012043978", "100012043978"),
        ("https://item.jd.com/100012043978.html", "100012043978"),
        (" item.m.jd.com/product/42.html?x=1 ", "42"),
    ],
)
def test_item_refs(ref: str, item_id: str) -> None:
    assert item_id_of(ref) == item_id


@pytest.mark.parametrize("ref", ["", "12ab", "https://example.com/1.html", "1" * 21])
def test_bad_item_refs_say_what_to_pass(ref: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="100012043978"):
        item_id_of(ref)
