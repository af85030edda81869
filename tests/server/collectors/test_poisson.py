"""Hash-seeded Poisson processes: the events are a function of the key, with the right rate."""

from __future__ import annotations

import math

from jditem.server.collectors.poisson import HashProcess


def process(key: bytes = b"test|", bucket: int = 1000, mean: float = 1.0) -> HashProcess:
    return HashProcess(key, bucket, mean)


def test_the_count_per_bucket_is_poisson() -> None:
    counts = [len(process().in_bucket(k)) for k in range(20_000)]
    mean = sum(counts) / len(counts)
    assert 0.97 < mean < 1.03
    empty = counts.count(0) / len(counts)
    assert abs(empty - math.exp(-1)) < 0.015
    busy = [len(process(mean=6.0).in_bucket(k)) for k in range(5_000)]
    assert 5.85 < sum(busy) / len(busy) < 6.15
    assert max(busy) > 7  # more events than one digest holds: taken from further digests


def test_events_are_ordered_inside_their_bucket() -> None:
    for k in range(-50, 50):
        times = [event.time for event in process(mean=3.0).in_bucket(k)]
        assert times == sorted(times)
        assert all(k * 1000 <= t < (k + 1) * 1000 for t in times)


def test_last_and_between_agree_with_the_buckets() -> None:
    p = process()
    every = [event for k in range(-5, 105) for event in p.in_bucket(k)]
    for s in range(0, 100_000, 777):
        before = [event for event in every if event.time <= s]
        assert p.last(s) == before[-1]
    assert p.between(10_000, 60_000) == [e for e in every if 10_000 < e.time <= 60_000]


def test_the_key_decides_everything_and_asking_order_does_not() -> None:
    a, b = process(b"item-1|"), process(b"item-2|")
    forwards = [a.in_bucket(k) for k in range(200)]
    backwards = [a.in_bucket(k) for k in reversed(range(200))][::-1]
    assert forwards == backwards
    assert forwards != [b.in_bucket(k) for k in range(200)]
    event = forwards[0][0] if forwards[0] else a.last(200_000)
    assert event is not None
    assert a.uniforms(event) == a.uniforms(event)
    assert all(0 <= u < 1 for u in a.uniforms(event))
    assert a.uniforms(event) != b.uniforms(event)
