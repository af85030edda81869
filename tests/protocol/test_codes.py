"""The codes table of SPEC §2.2, exactly."""

import pytest

from jditem.protocol import Code, RetryClass

SPEC_TABLE = [
    # code, http, charged, retry class
    (0, 200, True, RetryClass.OK),
    (102, 202, False, RetryClass.POLL),
    (100, 401, False, RetryClass.FATAL),
    (202, 200, False, RetryClass.DROP),
    (301, 503, False, RetryClass.RETRY),
    (302, 429, False, RetryClass.THROTTLE),
    (303, 429, False, RetryClass.FATAL),
    (400, 400, False, RetryClass.DROP),
    (500, 500, False, RetryClass.RETRY),
    (600, 403, False, RetryClass.FATAL),
    (601, 402, False, RetryClass.FATAL),
    (602, 402, False, RetryClass.FATAL),
]


@pytest.mark.parametrize(("value", "http", "charged", "retry"), SPEC_TABLE)
def test_code_table(value: int, http: int, charged: bool, retry: RetryClass) -> None:
    code = Code(value)
    assert int(code) == value
    assert code.http_status == http
    assert code.charged is charged
    assert code.retry is retry
    assert code.default_message


def test_only_success_is_charged() -> None:
    assert [c for c in Code if c.charged] == [Code.SUCCESS]


def test_fatal_codes_stop_a_batch() -> None:
    assert {int(c) for c in Code if c.fatal} == {100, 303, 600, 601, 602}


def test_lookup_unknown_code() -> None:
    assert Code.lookup(999) is None
    assert Code.lookup(302) is Code.RATE_LIMITED
