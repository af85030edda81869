"""The pure part of writing history: which observations of a batch reach the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jditem.server.collectors.drift import drifted_payload
from jditem.server.monitor.history import Seen, _collapsed
from jditem.server.monitor.tracked import tracked_state

T0 = datetime(2026, 12, 1, tzinfo=UTC)
A = tracked_state(drifted_payload("100012043978", T0))
B = tracked_state({**drifted_payload("100012043978", T0), "priceFloor": {"price": "1.00"}})


def seen(account: int, item: str, state: object, minute: int) -> Seen:
    assert state in (A, B)
    return Seen(account, item, A if state is A else B, T0 + timedelta(minutes=minute))


def test_a_run_of_one_state_is_one_confirmation_at_its_latest_time() -> None:
    batch = [seen(1, "1", A, 0), seen(1, "1", A, 2), seen(1, "1", A, 1)]
    assert _collapsed(batch) == [seen(1, "1", A, 2)]


def test_a_change_in_between_keeps_every_step() -> None:
    batch = [seen(1, "1", A, 0), seen(1, "1", B, 1), seen(1, "1", A, 2), seen(1, "1", A, 3)]
    assert _collapsed(batch) == [seen(1, "1", A, 0), seen(1, "1", B, 1), seen(1, "1", A, 3)]


def test_accounts_and_items_are_kept_apart() -> None:
    batch = [seen(1, "1", A, 0), seen(2, "1", A, 1), seen(1, "2", A, 2), seen(1, "1", A, 3)]
    assert _collapsed(batch) == [seen(1, "1", A, 3), seen(2, "1", A, 1), seen(1, "2", A, 2)]
