"""How large a new Compute Savings Plan should be: the hourly commitment that minimises expected cost.

Per hour t and demand scenario k, let D = the on-demand spend (at list price) a Savings Plan could
cover, d the plan's discount (rate = (1 - d) x on-demand) and E the Compute Savings Plans already in
force ($/h, applied first). With a new commitment C the hour costs

    cost(C) = E + C + max(0, D - (E + C) / (1 - d))

(both fees paid whatever runs; the usage beyond what E + C covers billed at list price). cost is
convex and piecewise linear in C, with slope 1 - 1/(1 - d) while E + C < (1 - d) D and 1 beyond, so
the expected cost over the weighted hour-scenarios is smallest at the C where the weighted share of
hour-scenarios with (1 - d) D > E + C equals 1 - d: the d-quantile of (1 - d) D - E (never below 0).
That is the usual Savings Plan sizing rule (commit to the level demand exceeds a (1 - d) share of the
time), computed here from the forecast instead of from the past.

Scenarios are the forecast's p10, p50 and p90 weighted 0.3 / 0.4 / 0.3 (Swanson's rule, the standard
three-point approximation of a distribution's mean from those quantiles).

Break-even: a plan costs C an hour and replaces C / (1 - d) of on-demand spend when fully used, so it
pays for itself above a utilization of 1 - d. Stranded-commitment risk: the commitment left unused
(dollars per month, utilization) in the low (p10) scenario, and the expected unused dollars.

Near the minimum the expected cost is flat: on the 30-day demo a commitment $1/h either side of the
best ($17.88/h) gives up 0.5 % of its saving, $1.8/h 2 %, and three demo runs an hour apart (the
forecast retrained on history shifted by under an hour) advised $16.60, $17.73 and $18.89/h. So the
advice also gives the range of commitments whose expected saving is within `NEAR_BEST_SHARE` of the
best one's (`Sizing.near_best`), and what the low end leaves unused in the low scenario: a buyer
who prefers less stranded risk gives up little by taking it, and a rerun that moves the point
inside the range has not changed the advice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from optimizer.per_month import HOURS_PER_MONTH

#: Swanson's rule: P10, P50, P90 weighted 0.3, 0.4, 0.3.
SCENARIO_WEIGHTS = {"p10": 0.3, "p50": 0.4, "p90": 0.3}
#: Commitments whose expected saving is within this share of the best one's form the near-best range.
NEAR_BEST_SHARE = 0.02
#: Bisection steps for each end of that range (the expected cost is convex in the commitment).
RANGE_STEPS = 60


@dataclass(frozen=True)
class Sizing:
    usd_per_hour: float  # the recommended new commitment C
    discount: float
    existing_usd_per_hour: float
    expected_cost_usd: float  # over the horizon, with C
    expected_cost_without_usd: float  # over the horizon, C = 0
    break_even_utilization: float  # 1 - d
    utilization: dict[str, float]  # per scenario, of the new commitment
    stranded_usd: dict[str, float]  # per scenario, unused new commitment over the horizon
    expected_stranded_usd: float
    horizon_hours: int
    #: (low, high) new commitments whose expected saving is within `NEAR_BEST_SHARE` of this one's.
    near_best: tuple[float, float] = (0.0, 0.0)
    #: Unused new commitment over the horizon in the p10 scenario at the range's low end.
    near_best_low_stranded_p10_usd: float = 0.0

    @property
    def monthly_savings_usd(self) -> float:
        saved = self.expected_cost_without_usd - self.expected_cost_usd
        return saved * HOURS_PER_MONTH / self.horizon_hours if self.horizon_hours else 0.0

    @property
    def stranded_monthly_usd_p10(self) -> float:
        return self._per_month(self.stranded_usd.get("p10", 0.0))

    @property
    def near_best_low_stranded_monthly_usd_p10(self) -> float:
        return self._per_month(self.near_best_low_stranded_p10_usd)

    def _per_month(self, usd: float) -> float:
        return usd * HOURS_PER_MONTH / self.horizon_hours if self.horizon_hours else 0.0


def hourly_cost(demand: np.ndarray, commitment: float, discount: float, existing: float) -> np.ndarray:
    """cost(C) per hour for on-demand-eligible spend `demand` (see the module docstring)."""
    covered = (existing + commitment) / (1.0 - discount)
    return existing + commitment + np.maximum(0.0, demand - covered)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) / w.sum()
    return float(v[min(int(np.searchsorted(cum, q, side="left")), len(v) - 1)])


def size_compute_savings_plan(
    scenarios: Mapping[str, np.ndarray], *, discount: float, existing_usd_per_hour: float = 0.0
) -> Sizing:
    """The expected-cost-minimising new commitment for hourly on-demand spend `scenarios`
    (name -> series of equal length, names from `SCENARIO_WEIGHTS`)."""
    if not 0.0 < discount < 1.0:
        raise ValueError(f"discount must be in (0, 1), got {discount}")
    names = [n for n in SCENARIO_WEIGHTS if n in scenarios]
    hours = len(scenarios[names[0]])
    values = np.concatenate([(1.0 - discount) * np.asarray(scenarios[n], dtype=float) for n in names])
    weights = np.concatenate([np.full(hours, SCENARIO_WEIGHTS[n]) for n in names])
    commitment = max(0.0, _weighted_quantile(values - existing_usd_per_hour, weights, discount))
    total = sum(SCENARIO_WEIGHTS[n] for n in names)

    def expected(c: float) -> float:
        return sum(
            SCENARIO_WEIGHTS[n]
            / total
            * float(hourly_cost(np.asarray(scenarios[n]), c, discount, existing_usd_per_hour).sum())
            for n in names
        )

    def use(c: float) -> tuple[dict[str, float], dict[str, float]]:
        """Per scenario, the new commitment's utilization and its unused dollars over the horizon."""
        utilization: dict[str, float] = {}
        stranded: dict[str, float] = {}
        for n in names:
            # Plan-rate spend left for the new plan after the existing ones, capped by its size.
            need = np.maximum(
                0.0, (1.0 - discount) * np.asarray(scenarios[n], dtype=float) - existing_usd_per_hour
            )
            used = np.minimum(need, c)
            paid = c * hours
            utilization[n] = float(used.sum() / paid) if paid > 0 else 0.0
            # used <= c every hour, so this is >= 0; summing can leave -1e-12 ("-0.0" shown)
            stranded[n] = max(0.0, float(paid - used.sum()))
        return utilization, stranded

    utilization, stranded = use(commitment)
    best, without = expected(commitment), expected(0.0)
    near = _near_best(expected, commitment, best + NEAR_BEST_SHARE * max(0.0, without - best))
    return Sizing(
        usd_per_hour=commitment,
        discount=discount,
        existing_usd_per_hour=existing_usd_per_hour,
        expected_cost_usd=best,
        expected_cost_without_usd=without,
        break_even_utilization=1.0 - discount,
        utilization=utilization,
        stranded_usd=stranded,
        expected_stranded_usd=sum(SCENARIO_WEIGHTS[n] / total * stranded[n] for n in names),
        horizon_hours=hours,
        near_best=near,
        near_best_low_stranded_p10_usd=use(near[0])[1].get("p10", 0.0),
    )


def _near_best(expected: Callable[[float], float], best: float, ceiling: float) -> tuple[float, float]:
    """The commitments either side of `best` whose expected cost stays at or under `ceiling`:
    `expected` is convex with its minimum at `best`, so each end is found by bisection."""
    if best <= 0.0:
        return 0.0, 0.0
    low_out, low_in = 0.0, best  # expected(low_in) <= ceiling
    if expected(0.0) <= ceiling:
        low_in = 0.0
    else:
        for _ in range(RANGE_STEPS):
            mid = 0.5 * (low_out + low_in)
            low_out, low_in = (low_out, mid) if expected(mid) <= ceiling else (mid, low_in)
    high_in, high_out = best, 2.0 * best
    while expected(high_out) <= ceiling:  # (beyond the largest hourly need the slope is 1 per hour)
        high_in, high_out = high_out, 2.0 * high_out
    for _ in range(RANGE_STEPS):
        mid = 0.5 * (high_in + high_out)
        high_in, high_out = (mid, high_out) if expected(mid) <= ceiling else (high_in, mid)
    return low_in, high_in
