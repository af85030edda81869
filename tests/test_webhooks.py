"""``jditem.webhooks.verify``: what receivers run, checked against the Standard Webhooks
reference library (``standardwebhooks``) in both directions."""

from __future__ import annotations

import base64
import email.message
import json
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError as ReferenceError

from jditem.errors import ConfigurationError, JditemError, WebhookVerificationError
from jditem.webhooks import DEFAULT_TOLERANCE, signing_key, verify

EVENT = {"id": "evt_01J0000000000000000000000", "type": "price_drop", "data": {"price": "¥5,499"}}
BODY = json.dumps(EVENT, ensure_ascii=False).encode()
NOW = 1_760_000_000


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def reference_headers(
    secrets_: list[str], body: bytes = BODY, *, at: int = NOW, msg_id: str = "msg_1"
) -> dict[str, str]:
    """Headers as the reference library signs them (one signature per secret)."""
    when = datetime.fromtimestamp(at, tz=UTC)
    signatures = [Webhook(s).sign(msg_id, when, body) for s in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": " ".join(signatures),
    }


def our_headers(
    secret: str, body: bytes = BODY, *, at: int, msg_id: str = "msg_1"
) -> dict[str, str]:
    """Headers signed by the definition (the HMAC of "id.timestamp.body"), by hand."""
    import hashlib
    import hmac

    key = signing_key(secret)
    digest = hmac.new(key, f"{msg_id}.{at}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_reference_signature_verifies_with_bytes_or_text_and_any_header_mapping() -> None:
    secret = new_secret()
    headers = reference_headers([secret])
    mixed_case = {name.title(): value for name, value in headers.items()}
    message = email.message.Message()
    for name, value in headers.items():
        message[name.upper()] = value
    for given in (headers, mixed_case, httpx.Headers(headers), message):
        assert verify(BODY, given, secret, now=NOW) == EVENT
    assert verify(BODY.decode(), headers, secret, now=NOW) == EVENT
    assert verify(BODY, headers, secret.removeprefix("whsec_"), now=NOW) == EVENT  # bare base64
    assert verify(BODY, headers, signing_key(secret), now=NOW) == EVENT  # raw key bytes


def test_what_verify_accepts_the_reference_verifier_accepts() -> None:
    """Our headers (signed by the definition) pass the reference library's verify."""
    secret = new_secret()
    now = int(time.time())
    headers = our_headers(secret, at=now)
    assert Webhook(secret).verify(BODY, headers) == EVENT
    assert verify(BODY, headers, secret) == EVENT
    tampered = BODY.replace(b"5,499", b"4,499")
    with pytest.raises(ReferenceError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        verify(tampered, headers, secret)


def test_rotation_two_signatures_either_secret_verifies() -> None:
    old, new, stranger = new_secret(), new_secret(), new_secret()
    headers = reference_headers([new, old])
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(BODY, headers, old, now=NOW) == EVENT
    assert verify(BODY, headers, new, now=NOW) == EVENT
    assert verify(BODY, headers, [stranger, new], now=NOW) == EVENT  # a receiver with both
    with pytest.raises(WebhookVerificationError) as refused:
        verify(BODY, headers, stranger, now=NOW)
    assert refused.value.reason == "no_matching_signature"
    # and the reference library reads the same header the same way
    for secret in (old, new):
        Webhook(secret).verify(BODY, reference_headers([new, old], at=int(time.time())))


@pytest.mark.parametrize(
    ("offset", "tolerance", "reason"),
    [
        (0, DEFAULT_TOLERANCE, None),
        (-300, DEFAULT_TOLERANCE, None),  # exactly as old as allowed
        (300, DEFAULT_TOLERANCE, None),  # exactly as far ahead as allowed
        (-301, DEFAULT_TOLERANCE, "timestamp_too_old"),
        (301, DEFAULT_TOLERANCE, "timestamp_too_new"),
        (-10, 5, "timestamp_too_old"),
        (10, 5, "timestamp_too_new"),
        (-86_400, 100_000, None),  # a receiver that accepts day-old messages
        (0, 0, None),
        (-1, 0, "timestamp_too_old"),
    ],
)
def test_timestamp_tolerance_edges(offset: int, tolerance: float, reason: str | None) -> None:
    secret = new_secret()
    headers = reference_headers([secret], at=NOW + offset)
    if reason is None:
        assert verify(BODY, headers, secret, tolerance, now=NOW) == EVENT
        return
    with pytest.raises(WebhookVerificationError) as refused:
        verify(BODY, headers, secret, tolerance, now=NOW)
    assert refused.value.reason == reason
    assert f"{tolerance:g} s tolerance" in refused.value.message


def test_the_reference_verifier_agrees_on_the_default_tolerance() -> None:
    secret = new_secret()
    now = int(time.time())
    for offset, ok in ((-290, True), (290, True), (-330, False), (330, False)):
        headers = reference_headers([secret], at=now + offset)
        if ok:
            Webhook(secret).verify(BODY, headers)
            verify(BODY, headers, secret)
        else:
            with pytest.raises(ReferenceError):
                Webhook(secret).verify(BODY, headers)
            with pytest.raises(WebhookVerificationError):
                verify(BODY, headers, secret)


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("change", "reason", "phrase"),
    [
        (lambda h: _without(h, "webhook-id"), "missing_header", "webhook-id"),
        (lambda h: _without(h, "webhook-timestamp"), "missing_header", "webhook-timestamp"),
        (lambda h: _without(h, "webhook-signature"), "missing_header", "webhook-signature"),
        (lambda h: {}, "missing_header", "webhook-id, webhook-timestamp, webhook-signature"),
        (lambda h: {**h, "webhook-signature": "  "}, "missing_header", "webhook-signature"),
        (lambda h: {**h, "webhook-timestamp": "soon"}, "bad_timestamp", "whole seconds"),
        (lambda h: {**h, "webhook-timestamp": "1.5e9"}, "bad_timestamp", "whole seconds"),
        (lambda h: {**h, "webhook-signature": "v1a,abc"}, "no_signature", "no v1 signature"),
        (lambda h: {**h, "webhook-signature": "v1,AAAA"}, "no_matching_signature", "no signature"),
        (lambda h: {**h, "webhook-id": "msg_2"}, "no_matching_signature", "'msg_2'"),
    ],
)
def test_refusals_name_the_check(change: Any, reason: str, phrase: str) -> None:
    secret = new_secret()
    with pytest.raises(WebhookVerificationError) as refused:
        verify(BODY, change(reference_headers([secret])), secret, now=NOW)
    assert refused.value.reason == reason
    assert phrase in refused.value.message
    assert isinstance(refused.value, JditemError)
    assert secret not in str(refused.value)
    assert secret not in repr(refused.value)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    secret = new_secret()
    for body in (b"[1, 2]", b"not json", b"\xff\xfe"):
        with pytest.raises(WebhookVerificationError) as refused:
            verify(body, reference_headers([secret], body), secret, now=NOW)
        assert refused.value.reason == "bad_payload"


def test_a_signature_among_unknown_versions_still_counts() -> None:
    secret = new_secret()
    headers = reference_headers([secret])
    headers["webhook-signature"] = "v1a,c29tZQ== " + headers["webhook-signature"]
    assert verify(BODY, headers, secret, now=NOW) == EVENT


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_not base64!", "whsec_A"])
def test_a_bad_secret_is_a_configuration_error_that_does_not_quote_it(bad: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        verify(BODY, reference_headers([new_secret()]), bad, now=NOW)
    assert "whsec_ followed by base64" in refused.value.message
    if bad.removeprefix("whsec_"):
        assert bad.removeprefix("whsec_") not in refused.value.message
    with pytest.raises(ConfigurationError):
        verify(BODY, reference_headers([new_secret()]), [], now=NOW)
    with pytest.raises(ConfigurationError, match="tolerance"):
        verify(BODY, reference_headers([new_secret()]), new_secret(), -1, now=NOW)


README = Path(__file__).parents[1] / "README.md"


def readme_receiver() -> str:
    """The Python receiver of the README's "Change alerts — receiving webhooks" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Change alerts — receiving webhooks") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the section has no python example"
    return found.group(1)


async def test_the_readme_receiver_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's example, run as written (in-process ASGI), against signed requests."""
    secret = new_secret()
    monkeypatch.setenv("JDITEM_WEBHOOK_SECRET", secret)
    namespace: dict[str, Any] = {}
    exec(compile(readme_receiver(), str(README), "exec"), namespace)
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        now = int(time.time())
        headers = reference_headers([secret], at=now, msg_id="msg_readme")
        first = await client.post("/jditem-events", content=BODY, headers=headers)
        retry = await client.post("/jditem-events", content=BODY, headers=headers)
        forged = await client.post(
            "/jditem-events", content=BODY, headers=reference_headers([new_secret()], at=now)
        )
        stale = await client.post(
            "/jditem-events", content=BODY, headers=reference_headers([secret], at=now - 3600)
        )
    assert first.status_code == retry.status_code == 204
    assert forged.status_code == 400
    assert forged.text.startswith("no_matching_signature: ")
    assert stale.status_code == 400
    assert stale.text.startswith("timestamp_too_old: ")
    assert capsys.readouterr().out.count("change: ") == 1  # the retry was recognised
