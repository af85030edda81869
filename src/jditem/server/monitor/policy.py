"""The adaptive re-check policy (SPEC §6.4): an item's check record in, its next check out.

Pure: no I/O, no clock reads, no randomness; every time is a float in seconds passed in,
so the scheduler, a test and a :mod:`.replay` get the same answer. Three steps: estimate
each item's change rate (:class:`ChangeStats`, :func:`prior`), allocate a list's checks
by the square-root rule (:func:`plan`), schedule the next check (:func:`next_check`,
pulled into sale days). The model and its derivation: ``docs/models.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

DAY = 86_400.0
#: Default half-life of an item's change record (seconds): 14 days.
HALF_LIFE = 14 * DAY
#: The estimate never exceeds one change a second (a record with no quiet time at all).
MAX_RATE = 1.0
#: A planned check rate may sit this far below the budget, never above it.
_BUDGET_MARGIN = 1e-9


class InfeasibleBudget(ValueError):
    """The budget cannot check every item of the list even once per ``max_interval``."""


@dataclass(frozen=True, slots=True)
class ChangeStats:
    """An item's decayed check record: the three numbers the rate estimate needs."""

    changed: float
    """C: checks that found a change (decayed count)."""
    changed_seconds: float
    """S: the intervals of those checks, summed (decayed seconds)."""
    quiet_seconds: float
    """U: the intervals of the checks that found nothing, summed (decayed seconds)."""


def prior(rate_per_second: float = 1 / DAY, checks: float = 2.0) -> ChangeStats:
    """The record of a new item: ``checks`` imaginary checks, one mean period apart each.

    The numbers are what such checks yield on average at ``rate_per_second``, so
    :func:`rate` of the prior is that rate. A scheduler may pass the list's mean rate.
    """
    if not (rate_per_second > 0 and math.isfinite(rate_per_second)):
        raise ValueError(f"prior rate must be a positive number, got {rate_per_second!r}")
    if not checks > 0:
        raise ValueError(f"prior weight must be positive, got {checks!r}")
    changed = checks * (1 - math.exp(-1))
    return ChangeStats(changed, changed / rate_per_second, checks * math.exp(-1) / rate_per_second)


def update(
    stats: ChangeStats, interval_seconds: float, changed: bool, *, half_life: float = HALF_LIFE
) -> ChangeStats:
    """``stats`` after a check that came ``interval_seconds`` after the previous one.

    The old record decays by 2^(−interval/half_life) first; ``half_life=math.inf`` keeps
    it whole.
    """
    if not (interval_seconds >= 0 and math.isfinite(interval_seconds)):
        raise ValueError(f"interval must be a finite number ≥ 0, got {interval_seconds!r}")
    if not half_life > 0:
        raise ValueError(f"half_life must be positive, got {half_life!r}")
    keep = 2.0 ** (-interval_seconds / half_life)
    c, s, u = stats.changed * keep, stats.changed_seconds * keep, stats.quiet_seconds * keep
    if changed:
        return ChangeStats(c + 1.0, s + interval_seconds, u)
    return ChangeStats(c, s, u + interval_seconds)


def rate(stats: ChangeStats) -> float:
    """The estimated change rate, changes per second: (C/S) · ln(1 + S/U)."""
    c, s, u = stats.changed, stats.changed_seconds, stats.quiet_seconds
    if c <= 0:
        return 0.0
    if s <= 0:  # changes seen at zero intervals only: the small-interval limit C/U
        return MAX_RATE if u <= 0 else min(MAX_RATE, c / u)
    return min(MAX_RATE, (c / s) * math.log1p(s / max(u, s * 1e-9)))


@dataclass(frozen=True, slots=True)
class Bounds:
    """A list's limits on one item's interval, seconds: always respected."""

    min_interval: float
    max_interval: float

    def __post_init__(self) -> None:
        if not (0 < self.min_interval <= self.max_interval < math.inf):
            raise ValueError(
                "bounds need 0 < min_interval ≤ max_interval (seconds), got "
                f"{self.min_interval!r} and {self.max_interval!r}"
            )


@dataclass(frozen=True, slots=True)
class SaleDays:
    """Sale windows around each listed (month, day), in Asia/Shanghai local days.

    The default is JD's 618 and 11.11, each from three days before to two after, as
    the sandbox's drift moves. China keeps UTC+8 without daylight saving since 1991.
    """

    days: tuple[tuple[int, int], ...] = ((6, 18), (11, 11))
    factor: float = 4.0
    """How much sooner changes should be noticed inside a window (lag target ÷ factor)."""
    before: float = 3 * DAY
    """Seconds a window opens before the sale day's local midnight."""
    after: float = 2 * DAY
    """Seconds a window stays open after the sale day ends."""
    utc_offset: float = 8 * 3600.0

    def __post_init__(self) -> None:
        for month, day in self.days:
            try:
                datetime(2001, month, day, tzinfo=UTC)
            except (TypeError, ValueError):
                raise ValueError(f"sale day (month, day) {(month, day)!r} is no date") from None
        if not (self.factor >= 1 and math.isfinite(self.factor)):
            raise ValueError(f"sale-day factor must be ≥ 1, got {self.factor!r}")
        if not (0 <= self.before <= 60 * DAY and 0 <= self.after <= 60 * DAY):
            raise ValueError("sale-day before/after must be 0 to 60 days (in seconds)")

    def _windows(self, t: float) -> Iterator[tuple[float, float]]:
        year = datetime.fromtimestamp(t + self.utc_offset, UTC).year
        for y in (year - 1, year, year + 1):
            for month, day in self.days:
                midnight = datetime(y, month, day, tzinfo=UTC).timestamp() - self.utc_offset
                yield midnight - self.before, midnight + DAY + self.after

    def window_at(self, t: float) -> tuple[float, float] | None:
        """The window (start, end) holding ``t``, if any."""
        return next(((s, e) for s, e in sorted(self._windows(t)) if s <= t < e), None)

    def next_window(self, t: float) -> tuple[float, float]:
        """The first window that opens after ``t``."""
        return min((s, e) for s, e in self._windows(t) if s > t)

    def next_boundary(self, t: float) -> float:
        """The next instant after ``t`` a window opens or closes: replan a list then."""
        return min(x for w in self._windows(t) for x in w if x > t)


@dataclass(frozen=True, slots=True)
class Target:
    """What the user asked for, in their terms; set ``within``, ``checks_per_day`` or both.

    ``within``: notice a change within about this many seconds — the list's changes wait
    on average ``within / 2``, as a fixed interval of ``within`` would make them wait.
    ``checks_per_day``: a budget; a money budget converts through :func:`affordable`.
    """

    within: float | None = None
    checks_per_day: float | None = None
    max_checks_per_change: float = 24.0
    """K: an item is checked at most K times per change it is expected to make."""
    sale_days: SaleDays | None = None
    sale_day_checks_per_day: float | None = None
    """The budget on sale days, when boosts may spend more; ``None`` keeps the budget."""

    def __post_init__(self) -> None:
        if self.within is None and self.checks_per_day is None:
            raise ValueError("a target needs `within` (seconds), `checks_per_day`, or both")
        for name in ("within", "checks_per_day", "max_checks_per_change"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        extra = self.sale_day_checks_per_day
        if extra is not None and (
            self.sale_days is None
            or self.checks_per_day is None
            or not extra >= self.checks_per_day
        ):
            raise ValueError(
                "sale_day_checks_per_day needs sale_days and checks_per_day, and must be ≥ "
                f"checks_per_day; got {extra!r} with checks_per_day={self.checks_per_day!r}"
            )


def affordable(budget_minor_per_day: int, price_minor: int) -> int:
    """Checks a day a money budget pays for (integer minor units, rounded down)."""
    if price_minor <= 0 or budget_minor_per_day < 0:
        raise ValueError(
            f"need a price > 0 and a budget ≥ 0, got {price_minor!r} and {budget_minor_per_day!r}"
        )
    return budget_minor_per_day // price_minor


def min_checks_per_day(items: int, bounds: Bounds) -> float:
    """The smallest budget that checks ``items`` items once per ``max_interval`` each."""
    return items * DAY / bounds.max_interval


@dataclass(frozen=True, slots=True)
class Plan:
    """A list's allocation at one time: f_i = clip(scale · √(factor·λ_i)); see the module."""

    scale: float
    bounds: Bounds
    target: Target
    factor: float
    """The sale-day factor in force (1 outside sale days)."""
    checks_per_day: float
    """Planned checks a day, summed over the list at the rates given."""
    mean_lag: float | None
    """Expected change-weighted mean detection lag, seconds (None: no change expected)."""


def interval(rate_per_second: float, plan: Plan) -> float:
    """Seconds between checks of an item with this estimated rate, within the bounds."""
    b, lam = plan.bounds, rate_per_second * plan.factor
    f = 1 / b.max_interval  # checks a second: clip(scale·√λ, 1/max_interval, ceiling)
    if lam > 0:
        ceiling = _ceiling(lam, b, plan.target.max_checks_per_change)
        f = max(f, min(plan.scale * math.sqrt(lam), ceiling))
    return min(b.max_interval, max(b.min_interval, 1 / f))


def _ceiling(lam: float, bounds: Bounds, per_change: float) -> float:
    """An item's most checks a second: 1/min_interval, and K per expected change."""
    return max(1 / bounds.max_interval, min(1 / bounds.min_interval, per_change * lam))


def plan(
    rates: Sequence[float],
    bounds: Bounds,
    target: Target,
    *,
    at: float | None = None,
    counts: Sequence[int] | None = None,
) -> Plan:
    """Allocate a list's checks for the time ``at`` (needed with sale days).

    ``rates`` are the items' estimated rates; with ``counts``, each rate stands for that
    many items. Raises :class:`InfeasibleBudget` when the budget cannot pay one check per
    ``max_interval`` for every item; a lag target out of reach gets the bounds' best.
    """
    counts = [1] * len(rates) if counts is None else counts
    if len(counts) != len(rates) or any(n < 0 for n in counts):
        raise ValueError("counts must be one non-negative count per rate")
    factor, budget, within = 1.0, target.checks_per_day, target.within
    if target.sale_days is not None:
        if at is None:
            raise ValueError("a target with sale days needs the plan's time `at`")
        if target.sale_days.window_at(at) is not None:
            factor = target.sale_days.factor
            within = None if within is None else within / factor
            budget = target.sale_day_checks_per_day or budget
    lams = [max(0.0, r) * factor for r in rates]
    segments = _segments(lams, counts, bounds, target.max_checks_per_change)
    scale = math.inf
    if budget is not None:
        items = sum(counts)
        if min_checks_per_day(items, bounds) > budget:
            raise InfeasibleBudget(
                f"a budget of {budget:g} checks a day cannot check {items} items even once "
                f"every {bounds.max_interval:g} s (that needs {min_checks_per_day(items, bounds):g}"
                " a day): raise the budget, lengthen max_interval or remove items"
            )
        scale = _budget_scale(segments, budget * (1 - _BUDGET_MARGIN) / DAY)
    changes = sum(n * lam for n, lam in zip(counts, lams, strict=True))
    if within is not None:
        scale = min(scale, _lag_scale(segments, changes * within / 2))
    draft = Plan(scale, bounds, target, 1.0, 0.0, None)  # lams carry the factor already
    spent = lag = 0.0
    for n, lam in zip(counts, lams, strict=True):
        tau = interval(lam, draft)
        spent += n * DAY / tau
        lag += n * lam * tau / 2
    return Plan(scale, bounds, target, factor, spent, lag / changes if changes > 0 else None)


def binned(rates: Iterable[float], per_octave: int = 16) -> tuple[list[float], list[int]]:
    """Rates grouped for :func:`plan`'s ``counts``: each rounded up to a log-spaced bin edge.

    A plan over the bins costs O(bins) however many items there are, and since an item's
    checks grow with its rate, rounding up over-counts spend: the items' real planned
    checks stay within the budget.
    """
    bins: dict[float, int] = {}
    for r in rates:
        edge = 2.0 ** (math.ceil(math.log2(r) * per_octave) / per_octave) if r > 0 else 0.0
        bins[edge] = bins.get(edge, 0) + 1
    return list(bins), list(bins.values())


# A segment (from, to, fixed_rate, slope, fixed_lag, lag_numerator) of the piecewise
# functions of c: on [from, to], the list's checks a second are fixed_rate + slope·c and
# its summed lag rate Σ n·λ/(2f) is fixed_lag + lag_numerator / c.
_Segment = tuple[float, float, float, float, float, float]


def _segments(
    lams: Sequence[float], counts: Sequence[int], bounds: Bounds, per_change: float
) -> list[_Segment]:
    lo = 1 / bounds.max_interval
    rate_fixed = lag_fixed = slope = lag_num = 0.0
    # (c, Δfixed_rate, Δslope, Δfixed_lag, Δlag_numerator, Δitems on the linear part)
    events: list[tuple[float, float, float, float, float, int]] = []
    for lam, n in zip(lams, counts, strict=True):
        rate_fixed += n * lo
        lag_fixed += n * lam / (2 * lo)
        if lam > 0:
            s, hi = math.sqrt(lam), _ceiling(lam, bounds, per_change)
            # at lo/s the item leaves the floor lo for c·s; at hi/s it stops at its ceiling
            events.append((lo / s, -n * lo, n * s, -n * lam / (2 * lo), n * s / 2, 1))
            events.append((hi / s, n * hi, -n * s, n * lam / (2 * hi), -n * s / 2, -1))
    events.sort()
    segments: list[_Segment] = []
    start, linear = 0.0, 0
    for c, d_rate, d_slope, d_lag, d_num, d_linear in events:
        if c > start:
            segments.append((start, c, rate_fixed, slope, lag_fixed, lag_num))
            start = c
        rate_fixed, slope, lag_fixed, lag_num = (
            rate_fixed + d_rate,
            slope + d_slope,
            lag_fixed + d_lag,
            lag_num + d_num,
        )
        linear += d_linear
        if linear == 0:  # exactly flat again, whatever the rounding
            slope = lag_num = 0.0
    segments.append((start, math.inf, rate_fixed, slope, lag_fixed, lag_num))
    return segments


def _budget_scale(segments: list[_Segment], per_s: float) -> float:
    """The largest c whose checks a second stay ≤ ``per_s`` (inf when none exceeds it)."""
    for start, end, fixed, slope, _, _ in segments:
        if fixed + (slope * end if slope > 0 else 0.0) > per_s:  # crosses in this segment
            return min(end, max(start, (per_s - fixed) / slope)) if slope > 0 else start
    return math.inf


def _lag_scale(segments: list[_Segment], total: float) -> float:
    """The smallest c whose summed lag rate is ≤ ``total`` (inf when out of reach)."""
    if total <= 0:
        return 0.0
    for start, end, _, _, fixed_lag, num in segments:
        if fixed_lag + num / end <= total:  # reached within this segment
            return start if num <= 0 else min(end, max(start, num / (total - fixed_lag)))
    return math.inf


def next_check(now: float, stats: ChangeStats, plan: Plan, *, phase: float = 0.5) -> float:
    """When to check an item next, given its record after the check made at ``now``.

    ``phase`` in [0, 1) (e.g. from a hash of the item id) spreads the items pulled into a
    sale-day window over its first 1/factor; the result is always within the bounds.
    """
    tau = interval(rate(stats), plan)
    due = now + tau
    sale = plan.target.sale_days
    if sale is not None and sale.window_at(now) is None:
        start, end = sale.next_window(now)
        if start < due:
            spread = start + phase * (end - start) / sale.factor
            due = min(due, max(now + plan.bounds.min_interval, spread))
    return due
