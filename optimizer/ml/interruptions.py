"""Spot interruption rate per instance type and availability zone, shrunk to the Spot Advisor band.

Observed: reclaims per spot instance-hour, where an instance counts as reclaimed when any attempt on
it was stopped by a spot reclaim (`job_attempts.is_spot_reclaim`) and exposure is the instance's
spot lifetime. Few instance-hours give a noisy rate (0 reclaims in 30 hours says little), so the
estimate is the posterior mean of a Gamma-Poisson model whose prior is the Spot Instance Advisor
band for the type in that region, worth `prior_events` expected interruptions of evidence (so
`prior_hours = prior_events / prior_rate` instance-hours: a calm pool's band is worth more hours):

    rate = (reclaims + prior_events) / (instance_hours + prior_hours)

`weight` = instance_hours / (instance_hours + prior_hours) says how much is observation. The band
becomes an hourly rate by the catalogue's one conversion (`optimizer.catalog.interruptions`). Types
without a band take the median band of the region. `rate_p90` is the posterior's 90th percentile,
for risk-averse planning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import gamma

from optimizer.analysis.cost import instance_lifetimes
from optimizer.catalog.interruptions import HOURS_PER_MONTH, band_hourly_hazards

DEFAULT_PRIOR_EVENTS = 1.0


def observed_reclaims(instances: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Per (region, AZ, type): spot instance-hours and reclaimed instances."""
    inst = instances[instances["capacity_type"].astype(str).str.upper() == "SPOT"].reset_index(drop=True)
    cols = ["region", "availability_zone", "instance_type", "instance_hours", "reclaims", "instances"]
    if inst.empty:
        return pd.DataFrame(columns=cols)
    start, end = instance_lifetimes(inst)
    reclaimed_ids = set(
        attempts.loc[
            attempts.get("is_spot_reclaim", pd.Series(False, index=attempts.index))
            .fillna(False)
            .astype(bool),
            "instance_id",
        ].dropna()
    )
    frame = pd.DataFrame(
        {
            "region": inst["region"].astype(object).fillna("(none)"),
            "availability_zone": inst["availability_zone"].astype(object).fillna("(none)"),
            "instance_type": inst["instance_type"].astype(object),
            "instance_hours": (end - start) / 3600.0,
            "reclaims": inst["instance_id"].isin(reclaimed_ids).astype(int),
            "instances": 1,
        }
    )
    keys = ["region", "availability_zone", "instance_type"]
    return frame.groupby(keys, sort=True)[["instance_hours", "reclaims", "instances"]].sum().reset_index()


def interruption_rates(
    observed: pd.DataFrame, bands: pd.DataFrame, *, prior_events: float = DEFAULT_PRIOR_EVENTS
) -> pd.DataFrame:
    """Shrunk hourly interruption rate per (region, AZ, type); `bands` is the store's band table."""
    if observed.empty:
        return observed.assign(prior_rate=[], rate=[], weight=[], rate_p90=[], band=[], observed_rate=[])
    b = bands[["region", "instance_type", "band"]].drop_duplicates(["region", "instance_type"], keep="last")
    out = observed.merge(b, on=["region", "instance_type"], how="left")
    region_median = b.groupby("region")["band"].median()
    fallback = out["region"].map(region_median)
    out["band_known"] = out["band"].notna()
    out["band"] = out["band"].fillna(fallback).fillna(2).round().astype(int)
    out["prior_rate"] = band_hourly_hazards(out["band"])
    hours = out["instance_hours"].to_numpy(np.float64)
    reclaims = out["reclaims"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["observed_rate"] = np.where(hours > 0, reclaims / hours, np.nan)
    prior_hours = prior_events / out["prior_rate"].to_numpy()
    shape = reclaims + prior_events
    rate_param = hours + prior_hours
    out["rate"] = shape / rate_param
    out["weight"] = hours / rate_param
    out["rate_p90"] = gamma.ppf(0.9, a=np.maximum(shape, 1e-12), scale=1.0 / rate_param)
    out["monthly_probability"] = 1.0 - np.exp(-out["rate"] * HOURS_PER_MONTH)
    return out


def rates_by_type(rates: pd.DataFrame, bands: pd.DataFrame, region: str) -> dict[str, float]:
    """Hourly interruption rate per instance type in `region`, for the solver's offerings.

    Types observed in the estate: the exposure-weighted mean of their AZ pools' shrunk rates (a CE
    spreads a type over its subnets' AZs). Types never run: their band's prior rate, so a type the
    estate has not tried yet is neither free of risk nor excluded.
    """
    out: dict[str, float] = {}
    b = bands[bands["region"] == region]
    for instance_type, band in zip(b["instance_type"], b["band"], strict=True):
        out[str(instance_type)] = float(band_hourly_hazards(np.array([band]))[0])
    if not rates.empty:
        here = rates[rates["region"] == region]
        for instance_type, group in here.groupby("instance_type"):
            weights = group["instance_hours"].to_numpy(np.float64) + 1e-9
            out[str(instance_type)] = float(np.average(group["rate"].to_numpy(np.float64), weights=weights))
    return out
