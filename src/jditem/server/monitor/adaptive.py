"""The adaptive scheduler's decisions (SPEC §6.4), shared by the server and the replay.

Pure, like :mod:`.policy` (no I/O, no clock reads): the watch scheduler
(:mod:`jditem.server.jobs.watch_scheduler`) and :class:`.replay.Adaptive` make the same
three decisions through these functions:

* :func:`observe` — an item's change record after a check found a change or not;
* :func:`list_plan` — a list's allocation of its daily checks over its items' estimated
  rates (the square-root rule of :func:`.policy.plan`), within its bounds and its budget;
* :func:`next_due` — an item's interval and next check time under that plan;

and one the replay has no need of, since it never has more due checks than budget:
:func:`rank` — which due checks a list's remaining charges of the day go to (the highest
expected detected changes per charge first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from jditem.server.monitor.policy import (
    DAY,
    HALF_LIFE,
    Bounds,
    ChangeStats,
    InfeasibleBudget,
    Plan,
    Target,
    binned,
    interval,
    min_checks_per_day,
    next_check,
    plan,
    prior,
    rate,
    update,
)

#: The record of an item no check has told anything yet: about one change a day.
PRIOR = prior(1 / DAY)
#: How often a list's plan is made again from its items' records (seconds).
REPLAN_EVERY = 3600.0

_T = TypeVar("_T")


def observe(
    record: ChangeStats | None,
    since_last: float | None,
    changed: bool,
    *,
    half_life: float = HALF_LIFE,
) -> ChangeStats:
    """The record after a check ``since_last`` seconds after the item's previous one.

    ``record`` None is the :data:`PRIOR`; ``since_last`` None (the item's first check,
    a baseline) teaches nothing, so the record stays as it was.
    """
    stats = PRIOR if record is None else record
    if since_last is None:
        return stats
    return update(stats, max(0.0, since_last), changed, half_life=half_life)


def estimate(record: ChangeStats | None) -> float:
    """The item's estimated change rate (per second); the :data:`PRIOR`'s when None."""
    return rate(PRIOR if record is None else record)


def list_plan(
    rates: Sequence[float],
    bounds: Bounds,
    target: Target,
    *,
    at: float | None = None,
) -> Plan:
    """The list's allocation at ``at`` over its items' estimated rates (:func:`estimate`).

    A budget too small to check every item once per ``max_interval`` cannot be planned
    within; the plan then checks each item once per ``max_interval`` (its bound), and the
    list's daily budget stops the checks when it is spent (:func:`rank` decides which).
    """
    grouped, counts = binned(rates)
    try:
        return plan(grouped, bounds, target, at=at, counts=counts)
    except InfeasibleBudget:
        floor = min_checks_per_day(len(rates), bounds) / (1 - 1e-6)
        lowest = Target(
            within=target.within,
            checks_per_day=floor,
            max_checks_per_change=target.max_checks_per_change,
            sale_days=target.sale_days,
        )
        return plan(grouped, bounds, lowest, at=at, counts=counts)


def next_due(
    now: float, record: ChangeStats | None, list_plan_now: Plan, *, phase: float = 0.5
) -> tuple[float, float]:
    """``(interval, next check time)`` of an item checked at ``now`` (seconds, in bounds)."""
    stats = PRIOR if record is None else record
    return interval(estimate(stats), list_plan_now), next_check(
        now, stats, list_plan_now, phase=phase
    )


def expected_changes(record: ChangeStats | None, elapsed: float) -> float:
    """Changes a check ``elapsed`` seconds after the last one is expected to detect: the
    probability that the item changed meanwhile, 1 − e^(−λ·elapsed)."""
    lam = estimate(record)
    return -math.expm1(-lam * max(0.0, elapsed))


@dataclass(frozen=True, slots=True)
class Candidate(Generic[_T]):
    """A due check competing for a list's remaining charges of the day."""

    key: _T
    record: ChangeStats | None
    elapsed: float
    """Seconds since the item's last check (its first check: ``math.inf``)."""


def rank(candidates: Sequence[Candidate[_T]], charges_left: int) -> tuple[list[_T], list[_T]]:
    """``(checked, left)``: the ``charges_left`` candidates with the most expected detected
    changes per charge (every check costs one charge), and the others. An item never
    checked goes first: its baseline is what every later change is seen against."""
    order = sorted(
        candidates,
        key=lambda c: -(2.0 if math.isinf(c.elapsed) else expected_changes(c.record, c.elapsed)),
    )
    keep = max(0, charges_left)
    return [c.key for c in order[:keep]], [c.key for c in order[keep:]]
