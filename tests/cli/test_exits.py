"""The CLI words the library's errors itself (``jditem.cli.exits``): advice names flags
and commands, never the Python arguments and methods the library's messages name.

Each error is made by the library itself (the core's classification, the ``get`` flow),
so the test follows the library's structured fields, not copies of its sentences.
"""

from __future__ import annotations

import json

import httpx
import pytest

from jditem import errors
from jditem.cli.exits import ExitCode, cli_message, error_json, exit_code_for
from jditem.cli.serve import UPSTREAM_INSECURE_ADVICE
from jditem.client.base import BaseClient
from jditem.client.calls import Classified
from jditem.client.config import ClientConfig, resolve_base_url, resolve_token
from jditem.client.flow import GetFlow, Send, drive_sync

ITEM = "100012043978"
CORE = BaseClient(ClientConfig.build("tok-cli-exits", base_url="http://127.0.0.1:1"))


def raised(flow: GetFlow, *replies: httpx.HTTPError | tuple[int, bytes]) -> errors.JditemError:
    """Drive ``flow`` with ``replies`` (no I/O, no waits); the error it ends with."""
    answers = iter(replies)

    def send(step: Send) -> Classified:
        reply = next(answers)
        if isinstance(reply, httpx.HTTPError):
            return CORE.classify_exception(ITEM, reply)
        return CORE.classify_response(ITEM, reply[0], {}, reply[1])

    try:
        drive_sync(flow.steps(), send, lambda _: None, None, None)
    except errors.JditemError as exc:
        return exc
    raise AssertionError("the flow ended without an error")


def test_a_missing_token_names_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(errors.ConfigurationError) as caught:
        resolve_token(None)
    text = cli_message(caught.value)
    assert (
        text
        == "no API token: pass --token, or set JDITEM_TOKEN or JUSTONEAPI_TOKEN in the environment"
    )
    assert "token=..." in str(caught.value)  # the library's own words, for Python callers


def test_plain_http_names_the_command_s_flag() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        resolve_base_url("http://example.com", allow_insecure_http=False)
    assert cli_message(caught.value).endswith("use https://, or pass --insecure if you accept that")
    upstream = cli_message(
        caught.value, option_advice={"allow_insecure_http": UPSTREAM_INSECURE_ADVICE}
    )
    assert "--upstream-allow-insecure-http" in upstream
    assert "allow_insecure_http=True" not in cli_message(caught.value) + upstream
    assert exit_code_for(caught.value) == ExitCode.USAGE


def test_a_pending_item_says_how_to_continue_from_the_shell() -> None:
    pending = json.dumps({"code": 102, "data": {"taskId": "t1", "retryAfter": 1}}).encode()
    flow = GetFlow(BaseClient(CORE.config.replace(max_calls_per_item=1)), ITEM)
    error = raised(flow, (200, pending))
    assert isinstance(error, errors.PendingTimeoutError)
    text = cli_message(error)
    assert "resume()" not in text
    assert "the server keeps working on it" in text
    assert "\nContinue waiting with: jditem get --resume '" in text
    assert error_json(error)["error"]["continuation"] == error.continuation


def test_a_lost_answer_names_the_timeout_flags_and_running_again() -> None:
    flow = GetFlow(CORE, ITEM, idempotency_key="job-1-0-" + ITEM)
    error = raised(flow, httpx.ReadTimeout("slow"))
    assert isinstance(error, errors.ReadTimeoutError)
    assert error.not_resent is not None
    text = cli_message(error, timeout=2)
    assert "raise --timeout (now 2 s) or --deadline for the whole item" in text
    assert "run the command again if paying twice is acceptable" in text
    assert "may have been charged" in text
    for python in ("idempotency_key=", "ask again yourself", "raise the timeout"):
        assert python not in text
        assert python in str(error)


def test_a_timeout_before_sending_and_the_deadline() -> None:
    flow = GetFlow(BaseClient(CORE.config.replace(max_calls_per_item=1)), ITEM)
    error = raised(flow, httpx.ConnectTimeout("no route"))
    text = cli_message(error, timeout=5)
    assert "retry later or raise --timeout (now 5 s) or --deadline for the whole item" in text
    assert "gave up after 1 call(s)" in text
    deadline = errors.RequestTimeoutError(
        "the deadline passed: raise deadline= or retry later",
        problem="the deadline passed",
        phase="deadline",
    )
    assert cli_message(deadline) == "the deadline passed: raise --deadline or retry later"


def test_an_endpoint_serving_no_data_names_the_flag() -> None:
    body = json.dumps({"code": 0, "message": "use the app", "data": "text"}).encode()
    error = CORE.classify_response(ITEM, 200, {}, body).error
    assert isinstance(error, errors.NotServingDataError)
    text = cli_message(error)
    assert "(--endpoint v1)" in text
    assert "endpoint='v1'" not in text
    assert exit_code_for(error) == ExitCode.NOT_SERVING_DATA


def test_other_errors_keep_the_library_s_message() -> None:
    error = errors.InternalServerError("boom; retry later", code=500, item_id=ITEM)
    assert cli_message(error) == str(error)
    assert cli_message(ValueError("plain")) == "plain"
