"""The webhook retry schedule (SPEC §6.3): exponential slots, full jitter, ≥ 24 h, replayable."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jditem.server.monitor.backoff import MIN_TOTAL_SECONDS, RetrySchedule, jitter

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PROPERTY = settings(derandomize=True, max_examples=200, deadline=None)
DEFAULT = RetrySchedule()
seeds = st.text(min_size=1, max_size=40)


def timetable(schedule: RetrySchedule, seed: str, now: datetime = T0) -> list[datetime]:
    """Every attempt's time when each fails at once: the first at ``now``."""
    times, attempt = [now], 1
    while (nxt := schedule.next_attempt(attempt, times[-1], seed)) is not None:
        times.append(nxt)
        attempt += 1
    return times


def test_the_default_slots_grow_exponentially_to_the_cap() -> None:
    slots = [DEFAULT.slot(k) for k in range(1, DEFAULT.retries + 1)]
    assert slots[:7] == [5, 20, 80, 320, 1280, 5120, 20480]
    assert slots[7:] == [6 * 3600.0] * 4
    assert 24 * 3600 <= DEFAULT.shortest_total < DEFAULT.longest_total <= 32 * 3600


@PROPERTY
@given(seeds)
def test_a_delivery_is_tried_for_at_least_24_hours_then_given_up(seed: str) -> None:
    times = timetable(DEFAULT, seed)
    assert len(times) == DEFAULT.retries + 1
    total = (times[-1] - times[0]).total_seconds()
    assert MIN_TOTAL_SECONDS <= DEFAULT.shortest_total <= total <= DEFAULT.longest_total
    assert all(b >= a for a, b in itertools.pairwise(times))


@PROPERTY
@given(seeds)
def test_each_retry_falls_in_its_slot(seed: str) -> None:
    times = timetable(DEFAULT, seed)
    start = 0.0
    for k in range(1, DEFAULT.retries + 1):
        offset = (times[k] - times[0]).total_seconds()
        assert start - 1e-4 <= offset <= start + DEFAULT.slot(k) + 1e-4
        assert offset == pytest.approx(DEFAULT.offset(k + 1, seed), abs=1e-4)  # µs rounding
        start += DEFAULT.slot(k)
        wait = DEFAULT.delay(k, seed)
        assert wait is not None
        assert 0 <= wait <= DEFAULT.slot(k) + (DEFAULT.slot(k - 1) if k > 1 else 0)


@PROPERTY
@given(seeds, st.integers(1, 11), st.integers(0, 10**6))
def test_the_wait_depends_only_on_the_seed_and_attempt(seed: str, attempt: int, late: int) -> None:
    """Replayable: another process, or a restart, computes the same wait from the id alone;
    a late attempt (dispatcher down) shifts the rest without shortening them."""
    now = T0 + timedelta(seconds=late)
    first, again = (
        DEFAULT.next_attempt(attempt, now, seed),
        DEFAULT.next_attempt(attempt, now, seed),
    )
    assert first == again
    assert first is not None
    assert first - now == timedelta(seconds=DEFAULT.delay(attempt, seed) or 0)


def test_jitter_spreads_deliveries_that_failed_together() -> None:
    """Full jitter: 2,000 messages' third retries cover their slot evenly (fixed ids)."""
    draws = [jitter(f"msg_{n}", 3) for n in range(2000)]
    assert all(0 <= u < 1 for u in draws)
    assert mean(draws) == pytest.approx(0.5, abs=0.03)
    assert min(draws) < 0.01
    assert max(draws) > 0.99
    deciles = [sum(1 for u in draws if i / 10 <= u < (i + 1) / 10) for i in range(10)]
    assert min(deciles) > 150
    assert jitter(b"msg_1", 3) == jitter("msg_1", 3) != jitter("msg_1", 4)


@PROPERTY
@given(seeds, st.floats(1e-4, 1.0))
def test_the_multiplier_shortens_every_wait_in_proportion(seed: str, factor: float) -> None:
    short = RetrySchedule(multiplier=factor)
    for attempt in range(1, DEFAULT.retries + 1):
        full, scaled = DEFAULT.delay(attempt, seed), short.delay(attempt, seed)
        assert full is not None
        assert scaled is not None
        assert scaled == pytest.approx(full * factor, rel=1e-9, abs=1e-9)
    assert short.delay(DEFAULT.retries + 1, seed) is None
    assert short.shortest_total == pytest.approx(DEFAULT.shortest_total * factor)


def test_a_test_setting_runs_the_whole_schedule_in_seconds() -> None:
    fast = RetrySchedule(multiplier=0.0001)
    times = timetable(fast, "msg_01J")
    assert (times[-1] - times[0]).total_seconds() < 12
    assert len(times) == 12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": 5}, "could give up 0.1 h after the first attempt; it must keep trying"),
        ({"cap": 3600}, "must keep trying for at least 24 h"),
        ({"first": 0}, "0 < first ≤ cap"),
        ({"factor": 0.5}, "factor ≥ 1"),
        ({"retries": 0}, "retries must be 1 to 100"),
        ({"multiplier": 2.0}, "only shortens"),
        ({"multiplier": 0.0}, "must be > 0"),
    ],
)
def test_a_schedule_that_could_give_up_early_is_refused(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetrySchedule(**kwargs)  # type: ignore[arg-type]


def test_attempt_numbers_count_from_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        DEFAULT.delay(0, "m")
    with pytest.raises(ValueError, match="attempt_no must be 1 to 12"):
        DEFAULT.offset(13, "m")
    with pytest.raises(ValueError, match="slot must be 1 to 11"):
        DEFAULT.slot(12)
    assert DEFAULT.next_attempt(12, T0, "m") is None
    assert DEFAULT.offset(1, "m") == 0
