"""Malformed inputs answer 400 with a message that says what is wrong (SPEC §2)."""

from __future__ import annotations

import pytest

from tests.support.live_server import V2_PATH, LiveServer

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"itemId": "9" * 5000}, "too long"),
        ({"itemId": "1" * 21}, "too long"),
        ({"itemId": "١٢٣"}, "ASCII digits"),  # Arabic-Indic digits
        ({"itemId": "１２３"}, "ASCII digits"),  # full-width digits
        ({"itemId": "+123"}, "ASCII digits"),
        ({"itemId": " 123"}, "ASCII digits"),
        ({"itemId": "12.5"}, "ASCII digits"),
        ({"itemId": ""}, "required"),
        ({}, "required"),
        ([("itemId", "1"), ("itemId", "2")], "more than once"),
    ],
)
def test_bad_item_id(live: LiveServer, params: object, expect: str) -> None:
    token = live.make_token()
    response = live.http.get(
        V2_PATH,
        params=params,
        headers={"Authorization": f"Bearer {token}"},  # type: ignore[arg-type]
    )
    body = response.json()
    assert (response.status_code, body["code"]) == (400, 400), body
    assert "itemId" in body["message"], body["message"]
    assert expect in body["message"], body["message"]


def test_token_given_twice_is_refused(live: LiveServer) -> None:
    token = live.make_token()
    response = live.http.get(V2_PATH, params=[("itemId", "1"), ("token", token), ("token", token)])
    body = response.json()
    assert body["code"] == 100
    assert "more than once" in body["message"]


def test_query_token_and_header_disagree(live: LiveServer) -> None:
    token = live.make_token()
    response = live.http.get(
        V2_PATH, params={"itemId": "1", "token": token}, headers={"Authorization": "Bearer other"}
    )
    assert response.json()["code"] == 100


def test_query_token_works(live: LiveServer) -> None:
    token = live.make_token()
    body = live.http.get(V2_PATH, params={"itemId": "100012043978", "token": token}).json()
    assert body["code"] in (0, 102)
