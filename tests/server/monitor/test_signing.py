"""Webhook signing on the server: our headers pass the reference verifier and ours, with
one secret or two during a rotation's overlap window."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from jditem.errors import WebhookVerificationError
from jditem.server.monitor.signing import (
    EndpointSecrets,
    new_secret,
    signature_headers,
)
from jditem.webhooks import verify

BODY = json.dumps({"type": "back_in_stock", "item": "100012043978"}).encode()
T0 = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)


def test_new_secrets_are_standard_and_never_shown_by_repr() -> None:
    secret = new_secret()
    text = secret.get_secret_value()
    assert text.startswith("whsec_")
    assert len(base64.b64decode(text.removeprefix("whsec_"))) == 32
    assert text not in repr(secret)
    assert text not in str(secret)
    state = EndpointSecrets(secret)
    assert text not in repr(state)
    assert new_secret().get_secret_value() != text


def test_our_headers_pass_the_reference_verifier_and_ours() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = signature_headers("msg_01J", BODY, [secret], timestamp=now)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_01J"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret.get_secret_value()).verify(BODY, headers) == json.loads(BODY)
    assert verify(BODY, headers, secret.get_secret_value()) == json.loads(BODY)


def test_a_naive_timestamp_is_utc() -> None:
    secret = new_secret()
    aware = signature_headers("m", BODY, [secret], timestamp=T0)
    naive = signature_headers("m", BODY, [secret], timestamp=T0.replace(tzinfo=None))
    assert aware == naive


def test_rotation_signs_with_both_secrets_until_the_overlap_ends() -> None:
    first = EndpointSecrets(new_secret())
    rotated, shown = first.rotate(T0, timedelta(hours=1))
    assert rotated.current is shown
    assert rotated.previous is first.current
    assert rotated.active(T0) == (shown, first.current)
    assert rotated.active(T0 + timedelta(minutes=59)) == (shown, first.current)
    assert rotated.active(T0 + timedelta(hours=1)) == (shown,)

    # a delivery inside the window (signed now, so the verifiers' clocks accept it)
    headers = signature_headers("msg_rot", BODY, rotated.active(T0), timestamp=datetime.now(UTC))
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (first.current, shown):  # a receiver on the old or on the new secret
        Webhook(secret.get_secret_value()).verify(BODY, headers)
        verify(BODY, headers, secret.get_secret_value())
    with pytest.raises(WebhookVerificationError):
        verify(BODY, headers, new_secret().get_secret_value())


def test_a_second_rotation_in_the_window_keeps_two_secrets_at_most() -> None:
    one = EndpointSecrets(new_secret())
    two, _ = one.rotate(T0)
    three, newest = two.rotate(T0 + timedelta(minutes=5))
    assert three.active(T0 + timedelta(minutes=6)) == (newest, two.current)
    assert one.current not in three.active(T0 + timedelta(minutes=6))
    immediate, only = three.rotate(T0, timedelta(0))
    assert immediate.active(T0) == (only,)
    with pytest.raises(ValueError, match="negative"):
        three.rotate(T0, timedelta(seconds=-1))


def test_signing_refuses_nothing_to_sign_with_and_odd_ids() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_headers("m", BODY, [], timestamp=T0)
    with pytest.raises(ValueError, match="without spaces"):
        signature_headers("m 1", BODY, [new_secret()], timestamp=T0)
    with pytest.raises(ValueError, match="without spaces"):
        signature_headers("m\n1", BODY, [new_secret()], timestamp=T0)


def test_signing_logs_nothing_of_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    secret: SecretStr = new_secret()
    with caplog.at_level(logging.DEBUG):
        signature_headers("m", BODY, [secret], timestamp=T0)
    assert secret.get_secret_value() not in caplog.text
