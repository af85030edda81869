"""Task and request ids: prefix, length, alphabet, time order, layout."""

from __future__ import annotations

import random
import re
import time

import pytest

from jditem.server.ids import new_request_id, new_task_id, new_ulid


def test_task_id_shape_and_uniqueness() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000
    for task_id in ids:
        assert re.fullmatch(r"t_[0-9A-HJKMNP-TV-Z]{26}", task_id)
        assert len(task_id) <= 40  # fits tasks.id


def test_task_ids_sort_by_time() -> None:
    earlier = new_task_id(ms=1_700_000_000_000)
    later = new_task_id(ms=1_700_000_000_001)
    assert earlier < later
    assert new_task_id(ms=0).startswith("t_0000000000")


def _crockford_value(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    return value


def test_request_ids_have_the_ulid_layout_of_their_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_request_id() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda rid: rid[:10])  # time order, to the millisecond
    for rid in ids:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", rid)
        value = _crockford_value(rid)
        assert value < 1 << 128
        assert before <= value >> 80 <= after
        # the time digits are exactly new_ulid's for that millisecond
        assert rid[:10] == new_ulid(value >> 80, randbits=lambda _bits: 0)[:10]
    # every digit appears in the random part (the pair table covers all 10-bit values)
    assert set("".join(rid[10:] for rid in ids)) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_request_id_random_part_encodes_its_80_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    for bits in (0, 1, (1 << 80) - 1, 0x123456789ABCDEF01234):
        expected = new_ulid(1_700_000_000_000, randbits=lambda _n, b=bits: b)[10:]
        assert _crockford_value(expected) == bits
        monkeypatch.setattr(random, "getrandbits", lambda _n, b=bits: b)
        assert new_request_id()[10:] == expected
