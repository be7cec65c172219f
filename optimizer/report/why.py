"""Why spend moved: the week-over-week change split into job volume, price, mix and idle.

Method (exact, no residual). The week's cost rows (the daily aggregate the rest of the report
reads) split into idle rows (queue "(idle)": capacity no job used) and work rows. Idle is its own
part: `idle = idle_now - idle_before`.

Work cost is written per cell c = (instance type, capacity type) as

    work = V * sum_c s_c * p_c

with V the work vCPU-hours of the week (what jobs requested: the job volume), s_c the share of V
run on cell c (the mix: which instance types, how much on spot) and p_c the cost per vCPU-hour on
that cell (the price, including how well the instances were packed). The change of `work` between
the two weeks is split among the three factors with the Shapley value: each factor's part is its
marginal effect averaged over the 3! orders of switching the factors from last week's value to
this week's, so the parts add up exactly to the change whatever the order, and none is favoured.

Edge cases keep the sum exact: a cell that ran in one week only takes the other week's price from
itself (entering or leaving the mix is a mix effect, not a price one); a week with no work at all
takes the other week's shares and prices (all of the change is volume); cost booked on rows with no
vCPU-hours (zero-length attempts) cannot be expressed per vCPU-hour and counts as price.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations

import pandas as pd

from optimizer.analysis.cost import IDLE
from optimizer.analysis.rollup import SPOT_SHARES, spot_share
from optimizer.report.model import Driver, SpendChange
from optimizer.report.spend import full_weeks, week_slice
from optimizer.report.weeks import IsoWeek

CELL = ("instance_type", "capacity_type")

Factors = tuple[float, dict[tuple[str, str], float], dict[tuple[str, str], float]]


def _is_idle(rows: pd.DataFrame) -> pd.Series:
    return rows["queue"].astype(object) == IDLE


def _cells(work: pd.DataFrame) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """vCPU-hours and USD per (instance type, capacity type) of the work rows."""
    if work.empty:
        return {}, {}
    keyed = work.assign(**{c: work[c].astype(object).astype(str) for c in CELL})
    sums = keyed.groupby(list(CELL))[["vcpu_hours", "total_usd"]].sum()
    hours = {(str(k[0]), str(k[1])): float(v) for k, v in sums["vcpu_hours"].items()}
    usd = {(str(k[0]), str(k[1])): float(v) for k, v in sums["total_usd"].items()}
    return hours, usd


def _factors(
    hours: dict[tuple[str, str], float], usd: dict[tuple[str, str], float]
) -> tuple[float, dict[tuple[str, str], float], dict[tuple[str, str], float], float]:
    """(V, shares, prices, unmeasured USD) of one week; cells with no vCPU-hours are unmeasured."""
    volume = sum(h for h in hours.values() if h > 0)
    shares = {c: h / volume for c, h in hours.items() if h > 0}
    prices = {c: usd[c] / h for c, h in hours.items() if h > 0}
    unmeasured = sum(usd[c] for c, h in hours.items() if h <= 0)
    return volume, shares, prices, unmeasured


def _cost(volume: float, shares: dict[tuple[str, str], float], prices: dict[tuple[str, str], float]) -> float:
    return volume * sum(share * prices[c] for c, share in shares.items())


def shapley(before: Factors, after: Factors, cost: Callable[..., float]) -> tuple[float, float, float]:
    """Each factor's average marginal effect over the orders of switching them from before to after."""
    parts = [0.0, 0.0, 0.0]
    orders = list(permutations(range(3)))
    for order in orders:
        current = list(before)
        value = cost(*current)
        for i in order:
            current[i] = after[i]
            moved = cost(*current)
            parts[i] += moved - value
            value = moved
    n = len(orders)
    return parts[0] / n, parts[1] / n, parts[2] / n


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def _types(hours: dict[tuple[str, str], float]) -> str:
    by_type: dict[str, float] = {}
    for (itype, _), h in hours.items():
        by_type[itype] = by_type.get(itype, 0.0) + h
    total = sum(by_type.values())
    if total <= 0:
        return "none"
    top = sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return ", ".join(f"{t} {h / total:.0%}" for t, h in top)


def spend_change(daily: pd.DataFrame, week: IsoWeek) -> SpendChange | None:
    """The change against the previous week, split by driver; None when either week has no data."""
    previous_week = week.shifted(-1)
    current, previous = week_slice(daily, week), week_slice(daily, previous_week)
    if current.empty or previous.empty:
        return None
    idle_now = float(current.loc[_is_idle(current), "total_usd"].sum())
    idle_before = float(previous.loc[_is_idle(previous), "total_usd"].sum())
    hours_now, usd_now = _cells(current[~_is_idle(current)])
    hours_before, usd_before = _cells(previous[~_is_idle(previous)])
    v1, s1, p1, u1 = _factors(hours_now, usd_now)
    v0, s0, p0, u0 = _factors(hours_before, usd_before)
    if v0 <= 0:
        s0, p0 = s1, p1
    if v1 <= 0:
        s1, p1 = s0, p0
    p0 = {**{c: p for c, p in p1.items() if c not in p0}, **p0}
    p1 = {**{c: p for c, p in p0.items() if c not in p1}, **p1}
    volume, mix, price = shapley((v0, s0, p0), (v1, s1, p1), lambda v, s, p: _cost(v, s, p))
    price += u1 - u0
    work_now = float(current["total_usd"].sum()) - idle_now
    work_before = float(previous["total_usd"].sum()) - idle_before
    rate_now = work_now / v1 if v1 > 0 else None
    rate_before = work_before / v0 if v0 > 0 else None
    spot_before, spot_now = spot_share(previous, "job_vcpu_hours"), spot_share(current, "job_vcpu_hours")
    attempts_before = int(previous.loc[~_is_idle(previous), "attempts"].sum())
    attempts_now = int(current.loc[~_is_idle(current), "attempts"].sum())
    drivers = (
        Driver(
            "volume",
            volume,
            v0,
            v1,
            "work vCPU-hours",
            f"{v0:,.1f} → {v1:,.1f} vCPU-hours requested by jobs "
            f"({attempts_before:,} → {attempts_now:,} attempts)",
        ),
        Driver(
            "price",
            price,
            rate_before,
            rate_now,
            "USD per work vCPU-hour",
            f"average {_rate(rate_before)} → {_rate(rate_now)} per work vCPU-hour; this part holds "
            "instance type and capacity type fixed (prices and packing)",
        ),
        Driver(
            "mix",
            mix,
            spot_before,
            spot_now,
            "spot share of job vCPU-hours",
            f"{SPOT_SHARES['job_vcpu_hours']} {_pct(spot_before)} → {_pct(spot_now)}; "
            f"types {_types(hours_before)} → {_types(hours_now)}",
        ),
        Driver(
            "idle",
            idle_now - idle_before,
            idle_before,
            idle_now,
            "idle USD",
            f"${idle_before:,.2f} → ${idle_now:,.2f} of instances no job used",
        ),
    )
    return SpendChange(
        previous_usd=float(previous["total_usd"].sum()),
        current_usd=float(current["total_usd"].sum()),
        drivers=drivers,
        previous_partial=previous_week.label not in full_weeks(daily),
    )
