"""What an instance cost per second of its life: on-demand list price or the spot price series.

A spot price series (DescribeSpotPriceHistory) lists only price *changes*, so the price at time t is
the last record at or before t: a step function. Its integral F(t) is precomputed per
(availability zone, instance type) so the cost of any interval is F(b) - F(a), for a million
intervals at once. Where the data has holes the cost still comes out, with a flag saying how:

- `on-demand`: the latest on-demand price of the type in the instance's region.
- `spot-series`: the spot step function in the instance's AZ, covering its whole life.
- `spot-series-extrapolated`: the series starts after the instance launched; the first known price
  is used for the time before it.
- `spot-latest-region`: no series in that AZ; the latest known spot price of the type in any AZ of
  the region is used as a flat rate.
- `on-demand-for-spot`: no spot price known at all; the on-demand price is an upper bound.
- `missing`: no price at all; the instance costs 0 and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.analysis.intervals import to_seconds

PRICE_SOURCES = (
    "on-demand",
    "spot-series",
    "spot-series-extrapolated",
    "spot-latest-region",
    "on-demand-for-spot",
    "missing",
)
_KEY_SCALE = 10**10  # seconds since epoch stay below 1e10 until the year 2286


def latest_ondemand(prices: pd.DataFrame) -> pd.DataFrame:
    """(region, instance_type, price_per_hour): the latest effective price of each type.

    Accepts the `ondemand_prices` table (with `effective_date`) or an already-latest frame such as
    `catalog_frame` returns.
    """
    if prices.empty:
        return pd.DataFrame(columns=["region", "instance_type", "price_per_hour"])
    frame = prices.dropna(subset=["price_per_hour"])
    if "effective_date" in frame.columns:
        frame = frame.sort_values("effective_date")
    frame = frame.drop_duplicates(["region", "instance_type"], keep="last")
    return frame[["region", "instance_type", "price_per_hour"]].reset_index(drop=True)


@dataclass(frozen=True)
class RateBook:
    """Per instance: either a flat hourly rate or a spot step-function group to integrate."""

    rate: np.ndarray  # USD per hour, used where group < 0
    group: np.ndarray  # index into the spot series groups, -1 for a flat rate
    source: np.ndarray  # price source label per instance (see module docstring)
    _keys: np.ndarray  # sorted composite keys group * 1e10 + t of every price change
    _times: np.ndarray
    _prices: np.ndarray  # USD per hour from that change on
    _cumulative: np.ndarray  # USD accumulated from the group's first change to this change
    _group_first: np.ndarray  # index of each group's first change

    def integral(self, instance: np.ndarray, t: np.ndarray) -> np.ndarray:
        """F(t) in USD for the rate function of each instance (only differences are meaningful)."""
        instance = np.asarray(instance, dtype=np.int64)
        t = np.asarray(t, dtype=np.float64)
        out = self.rate[instance] * t / 3600.0
        grp = self.group[instance]
        spot = grp >= 0
        if spot.any() and len(self._keys):
            g = grp[spot]
            ts = t[spot]
            keys = g * float(_KEY_SCALE) + ts
            idx = np.searchsorted(self._keys, keys, side="right") - 1
            first = self._group_first[g]
            before = idx < first  # t earlier than the group's first change: extrapolate backwards
            idx = np.where(before, first, idx)
            value = self._cumulative[idx] + self._prices[idx] * (ts - self._times[idx]) / 3600.0
            out[spot] = value
        return out

    def cost(self, instance: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """USD spent by each instance over [start, end) (seconds since the epoch)."""
        return self.integral(instance, end) - self.integral(instance, start)


def build_rate_book(
    instances: pd.DataFrame,
    start_s: np.ndarray,
    ondemand: pd.DataFrame,
    spot_prices: pd.DataFrame,
) -> RateBook:
    """Choose each instance's price function; `instances` needs region, AZ, type and capacity type."""
    n = len(instances)
    od = latest_ondemand(ondemand)
    keyed = (
        instances[["region", "instance_type"]]
        .astype(object)
        .merge(od, on=["region", "instance_type"], how="left")
    )
    od_rate = keyed["price_per_hour"].to_numpy(dtype=np.float64)
    is_spot = instances["capacity_type"].astype(str).str.upper().eq("SPOT").to_numpy()

    rate = np.where(np.isnan(od_rate), 0.0, od_rate)
    source = np.where(np.isnan(od_rate), "missing", "on-demand").astype(object)
    group = np.full(n, -1, dtype=np.int64)

    sp = spot_prices.dropna(subset=["price"]) if not spot_prices.empty else spot_prices
    empty = np.array([], dtype=np.float64)
    if sp.empty or not is_spot.any():
        if is_spot.any():
            source[is_spot] = np.where(np.isnan(od_rate[is_spot]), "missing", "on-demand-for-spot")
        return RateBook(rate, group, source, empty, empty, empty, empty, np.array([], dtype=np.int64))

    sp = sp.assign(t=to_seconds(sp["timestamp"])).sort_values(["availability_zone", "instance_type", "t"])
    sp = sp.drop_duplicates(["availability_zone", "instance_type", "t"], keep="last")
    pairs = sp[["availability_zone", "instance_type"]].drop_duplicates().reset_index(drop=True)
    pairs["group"] = np.arange(len(pairs))
    sp = sp.merge(pairs, on=["availability_zone", "instance_type"])
    sp = sp.sort_values(["group", "t"]).reset_index(drop=True)
    g = sp["group"].to_numpy(dtype=np.int64)
    t = sp["t"].to_numpy(dtype=np.float64)
    p = sp["price"].to_numpy(dtype=np.float64)
    same_next = np.r_[g[1:] == g[:-1], False]
    step_cost = np.where(same_next, p * (np.r_[t[1:], 0.0] - t) / 3600.0, 0.0)
    # cumulative within each group: running sum minus the running sum at the group's start
    running = np.r_[0.0, np.cumsum(step_cost)[:-1]]
    group_first = np.searchsorted(g, np.arange(len(pairs)), side="left")
    cumulative = running - running[group_first[g]]

    inst_pairs = instances[["availability_zone", "instance_type"]].astype(object)
    inst_group = inst_pairs.merge(pairs, on=["availability_zone", "instance_type"], how="left")["group"]
    inst_group = inst_group.to_numpy(dtype=np.float64)
    has_series = is_spot & ~np.isnan(inst_group)
    group[has_series] = inst_group[has_series].astype(np.int64)
    first_t = t[group_first]
    extrapolated = has_series & (start_s < first_t[np.maximum(group, 0)])
    source[has_series] = "spot-series"
    source[extrapolated] = "spot-series-extrapolated"

    if "region" not in sp.columns:  # an AZ name is its region plus one letter
        sp = sp.assign(region=sp["availability_zone"].astype(str).str[:-1])
    latest = sp.sort_values("t").drop_duplicates(["region", "instance_type"], keep="last")
    no_series = is_spot & ~has_series
    if no_series.any():
        fallback = (
            instances.loc[no_series, ["region", "instance_type"]]
            .astype(object)
            .merge(latest[["region", "instance_type", "price"]], on=["region", "instance_type"], how="left")
        )["price"].to_numpy(dtype=np.float64)
        idx = np.flatnonzero(no_series)
        found = ~np.isnan(fallback)
        rate[idx[found]] = fallback[found]
        source[idx[found]] = "spot-latest-region"
        od_missing = np.isnan(od_rate[idx[~found]])
        source[idx[~found]] = np.where(od_missing, "missing", "on-demand-for-spot")

    keys = g * float(_KEY_SCALE) + t
    return RateBook(rate, group, source, keys, t, p, cumulative, group_first)
