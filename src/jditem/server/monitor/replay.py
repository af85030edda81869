"""Replay a re-check policy over a simulated world (SPEC §6.4): pure, no server, no clock.

A :class:`World` is, for each item, its tracked state at the start and the instants its
state changes (with the state after each change), in seconds. Where worlds come from:

* :func:`poisson_world`, built in: heterogeneous Poisson rates, heavy-tailed
  (:data:`RATE_CLASSES`), where a change undoes the one before it with probability
  :data:`REVERT` (a stock-out ending, a promotion ending);
* :func:`drift_world`, an adapter over the sandbox's deterministic drift
  (``jditem.server.collectors.drift``: ``change_times`` / ``state_at``), usable only in a
  version that has that module;
* any recorded history, by building :class:`World` and :class:`ItemHistory` directly.

:func:`replay` advances simulated time through a :class:`Scheduler`'s checks (a heap of
due times) and counts, in :class:`Metrics`:

* **charges**: checks made before the world's end. The state at the start is known for
  free (the list existed before), and checks after the end only close out changes still
  waiting, uncharged, so each policy's own next check decides their lag.
* **detected / missed**: within one gap between two checks, a change whose state is
  returned to before the check (a change reverted before any check saw it), and every
  change in between, is **missed**; the check cannot tell they happened. Every other
  change is **detected** by the check closing the gap, with lag = that check's time −
  the change's time, even when a later change replaced its state (the check shows the
  item changed since it).
"""

from __future__ import annotations

import importlib
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from heapq import heapify, heappop, heappush
from itertools import pairwise
from types import ModuleType
from typing import Any, Protocol

from jditem.server.monitor.adaptive import estimate, list_plan, next_due, observe
from jditem.server.monitor.policy import (
    DAY,
    HALF_LIFE,
    Bounds,
    ChangeStats,
    Plan,
    Target,
    interval,
    prior,
    rate,
)

HOUR = 3600.0
#: (share of items, shortest and longest mean interval between changes, seconds, drawn
#: log-uniformly; None = never changes). The sandbox drift's classes (SPEC §6.5).
RATE_CLASSES: tuple[tuple[float, tuple[float, float] | None], ...] = (
    (0.05, (20 * 60.0, 3 * HOUR)),
    (0.70, (DAY, 7 * DAY)),
    (0.15, (7 * DAY, 56 * DAY)),
    (0.10, None),
)
#: Probability that a change undoes the change before it (when that one was no undo).
REVERT = 0.25
#: Default start of a simulated world: Monday 2025-03-03 00:00 Asia/Shanghai.
START = datetime(2025, 3, 2, 16, tzinfo=UTC).timestamp()
DRIFT_MODULE = "jditem.server.collectors.drift"


@dataclass(frozen=True, slots=True)
class ItemHistory:
    """One item: its state at the world's start, then each change (time, state after)."""

    initial: Hashable
    times: tuple[float, ...]
    states: tuple[Hashable, ...]
    rate: float | None = None
    """The true change rate a built-in world drew (per second), when known."""


@dataclass(frozen=True, slots=True)
class World:
    """Items' change histories over [start, end), seconds."""

    start: float
    end: float
    items: tuple[ItemHistory, ...]

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"a world needs start < end, got {self.start!r}, {self.end!r}")
        for number, item in enumerate(self.items):
            times = item.times
            ordered = all(a <= b for a, b in pairwise(times))
            inside = not times or (self.start <= times[0] and times[-1] < self.end)
            if len(times) != len(item.states) or not (ordered and inside):
                raise ValueError(
                    f"item {number}: change times must be ordered, inside [start, end), "
                    "one state each"
                )

    @property
    def changes(self) -> int:
        """Changes in the world, all items."""
        return sum(len(item.times) for item in self.items)


def poisson_world(
    items: int = 1000,
    days: float = 30.0,
    *,
    seed: int = 0,
    start: float = START,
    revert: float = REVERT,
) -> World:
    """``items`` items with rates drawn from :data:`RATE_CLASSES`, ``days`` long."""
    rng = random.Random(seed)
    end = start + days * DAY
    periods: list[float | None] = []
    share_before = 0.0
    for share, span in RATE_CLASSES:  # cumulative rounding: the counts sum to ``items``
        count = round((share_before + share) * items) - round(share_before * items)
        share_before += share
        for _ in range(count):
            periods.append(None if span is None else span[0] * (span[1] / span[0]) ** rng.random())
    rng.shuffle(periods)
    return World(start, end, tuple(_poisson_item(rng, p, start, end, revert) for p in periods))


def _poisson_item(
    rng: random.Random, period: float | None, start: float, end: float, revert: float
) -> ItemHistory:
    if period is None:
        return ItemHistory(0, (), (), 0.0)
    times: list[float] = []
    states: list[int] = []
    t, state, before, fresh, undoable = start, 0, 0, 0, False
    while (t := t + rng.expovariate(1 / period)) < end:
        if undoable and rng.random() < revert:
            state, undoable = before, False
        else:
            fresh += 1
            before, state, undoable = state, fresh, True
        times.append(t)
        states.append(state)
    return ItemHistory(0, tuple(times), tuple(states), 1 / period)


ChangeTimes = Callable[[str, float, float, int], Iterable[datetime | float]]
StateAt = Callable[[str, float, int], Any]


def drift_world(
    item_ids: Sequence[str],
    start: float,
    end: float,
    seed: int = 0,
    *,
    change_times: ChangeTimes | None = None,
    state_at: StateAt | None = None,
) -> World:
    """A world from the sandbox drift: ``change_times(item, start, end, seed)`` gives the
    instants (datetimes or seconds) where ``state_at(item, t, seed)`` changes.

    Both default to ``jditem.server.collectors.drift``; without that module this raises
    :class:`RuntimeError` unless both are passed.
    """
    if change_times is None or state_at is None:
        module = _drift_module()
        change_times = change_times or module.change_times
        state_at = state_at or module.state_at
    histories = []
    for item in item_ids:
        initial = previous = _freeze(state_at(item, start, seed))
        times: list[float] = []
        states: list[Hashable] = []
        for instant in change_times(item, start, end, seed):
            t = instant.timestamp() if isinstance(instant, datetime) else float(instant)
            state = _freeze(state_at(item, t, seed)) if start < t < end else previous
            if state != previous:  # a change the tracked state shows
                times.append(t)
                states.append(state)
                previous = state
        histories.append(ItemHistory(initial, tuple(times), tuple(states)))
    return World(start, end, tuple(histories))


def _drift_module() -> ModuleType:
    try:
        return importlib.import_module(DRIFT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != DRIFT_MODULE:
            raise
        raise RuntimeError(
            f"drift_world needs the sandbox drift ({DRIFT_MODULE}), which this version of "
            "jditem does not have: use poisson_world, or pass change_times and state_at"
        ) from None


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in for a state (dicts and lists become tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if not isinstance(value, Hashable):
        raise TypeError(f"a state must be hashable or a dict/list, got {type(value).__name__}")
    return value


class Scheduler(Protocol):
    """What :func:`replay` drives: first check times, then one answer per check."""

    def begin(self, items: int, start: float) -> list[float]:
        """The first check time of each item."""
        ...

    def checked(self, item: int, now: float, interval: float, changed: bool) -> float:
        """Record a check of ``item`` at ``now``; return its next check time (> now)."""
        ...


class FixedInterval:
    """Every item every ``seconds``, first checks spread evenly over the first interval."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def begin(self, items: int, start: float) -> list[float]:
        return [start + self.seconds * (i + 0.5) / items for i in range(items)]

    def checked(self, item: int, now: float, interval: float, changed: bool) -> float:
        return now + self.seconds


class Adaptive:
    """The policy as the scheduler runs it (the decisions of :mod:`.adaptive`), in
    memory: a record per item, a plan replanned
    every ``replan_every`` seconds and at sale-window boundaries. With ``known_rates``
    the items' true rates stand in for the estimates: what the allocation would do
    without having to learn them."""

    def __init__(
        self,
        bounds: Bounds,
        target: Target,
        *,
        prior_rate: float = 1 / DAY,
        half_life: float = HALF_LIFE,
        replan_every: float = HOUR,
        known_rates: Sequence[float] | None = None,
    ) -> None:
        self.bounds, self.target, self.half_life = bounds, target, half_life
        self.prior, self.replan_every = prior(prior_rate), replan_every
        self.stats: list[ChangeStats] = []
        self.rates: list[float] = []
        self.plan: Plan | None = None
        self._replan_at = -math.inf
        self._known = None if known_rates is None else list(known_rates)

    def begin(self, items: int, start: float) -> list[float]:
        self.stats, self.rates = [self.prior] * items, [rate(self.prior)] * items
        if self._known is not None:
            if len(self._known) != items:
                raise ValueError(f"known_rates has {len(self._known)} rates for {items} items")
            self.rates = [*self._known]
        self._replan(start)
        return [start + self.interval(i) * (i + 0.5) / items for i in range(items)]

    def checked(self, item: int, now: float, interval: float, changed: bool) -> float:
        stats = self.stats[item] = observe(
            self.stats[item], interval, changed, half_life=self.half_life
        )
        if self._known is None:
            self.rates[item] = estimate(stats)
        if now >= self._replan_at:
            self._replan(now)
        assert self.plan is not None  # set by begin
        if self._known is not None:
            return now + self.interval(item)
        return next_due(now, stats, self.plan, phase=(item + 0.5) / len(self.stats))[1]

    def interval(self, item: int) -> float:
        """The item's current interval under the current plan (seconds)."""
        assert self.plan is not None, "begin() first"
        return interval(self.rates[item], self.plan)

    def _replan(self, now: float) -> None:
        self.plan = list_plan(self.rates, self.bounds, self.target, at=now)
        self._replan_at = now + self.replan_every
        if self.target.sale_days is not None:
            self._replan_at = min(self._replan_at, self.target.sale_days.next_boundary(now))


@dataclass(frozen=True, slots=True)
class Metrics:
    """What one replay cost and caught."""

    checks: int
    """Charged checks (before the world's end)."""
    changes: int
    detected: int
    superseded: int
    """Detected changes whose own state no check saw (a later change replaced it first)."""
    missed: int
    lag_seconds: float
    """Detection lag summed over the detected changes."""
    empty_checks: int
    """Charged checks that found nothing."""
    busiest_day: int
    """The most charged checks on one simulated day (from the world's start)."""

    @property
    def mean_lag(self) -> float:
        """Mean detection lag, seconds (nan when nothing was detected)."""
        return self.lag_seconds / self.detected if self.detected else math.nan

    @property
    def charges_per_detected(self) -> float:
        """Charges per detected change (inf when nothing was detected)."""
        return self.checks / self.detected if self.detected else math.inf

    @property
    def empty_share(self) -> float:
        """Share of the charged checks that found nothing."""
        return self.empty_checks / self.checks if self.checks else 0.0


def replay(world: World, scheduler: Scheduler, *, daily_cap: int | None = None) -> Metrics:
    """Run ``scheduler`` over ``world``; see the module for what is counted.

    ``daily_cap`` stands for the list's budget as the scheduler enforces it: a check due
    on a day (from the world's start) that has had that many waits for the next day.
    """
    items, start, end = world.items, world.start, world.end
    heap = [(t, i) for i, t in enumerate(scheduler.begin(len(items), start))]
    heapify(heap)
    last, seen, cursor = [start] * len(items), [it.initial for it in items], [0] * len(items)
    per_day = [0] * math.ceil((end - start) / DAY)
    checks = detected = superseded = empty = 0
    lag = 0.0
    while heap:
        now, i = heappop(heap)
        item, k0 = items[i], cursor[i]
        times = item.times
        if now >= end and k0 == len(times):
            continue  # nothing left to close out
        day = int((now - start) // DAY)
        if now < end and daily_cap is not None and per_day[day] >= daily_cap:
            heappush(heap, (start + (day + 1) * DAY, i))  # paused by its budget till then
            continue
        k1 = bisect_right(times, now, k0)
        found: list[int] = []
        if k1 > k0:
            found = _detected(seen[i], item.states, k0, k1)
            detected += len(found)
            superseded += max(0, len(found) - 1)  # the last one's state is what the check saw
            lag += sum(now - times[k] for k in found)
            seen[i], cursor[i] = item.states[k1 - 1], k1
        if now < end:
            checks += 1
            per_day[day] += 1
            empty += not found
        due = scheduler.checked(i, now, now - last[i], bool(found))
        if not due > now:
            raise ValueError(f"the scheduler planned item {i} at {due!r}, not after {now!r}")
        last[i] = now
        if due < end or cursor[i] < len(times):
            heappush(heap, (due, i))
    changes = world.changes
    missed = changes - detected
    return Metrics(checks, changes, detected, superseded, missed, lag, empty, max(per_day))


def _detected(seen: Hashable, states: Sequence[Hashable], k0: int, k1: int) -> list[int]:
    """Indices of the changes k0..k1-1 a check after them detects (loop erasure: a change
    whose state is returned to later in the gap, and all between, leave no trace)."""
    if k1 - k0 == 1:
        return [k0] if states[k0] != seen else []
    path: list[Hashable] = [seen]
    index: list[int] = [-1]
    where = {seen: 0}
    for k in range(k0, k1):
        state = states[k]
        back = where.get(state)
        if back is None:
            where[state] = len(path)
            path.append(state)
            index.append(k)
        else:
            for gone in path[back + 1 :]:
                del where[gone]
            del path[back + 1 :], index[back + 1 :]
    return index[1:]
