"""Observed spot reclaim rates: reclaimed instances per 1,000 spot instance-hours of a type. Pure.

One reclaim can end several attempts (every job on the instance), so the rate counts instances, and
the attempts and run-hours lost are shown beside it as the work it cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def reclaim_rates(reclaims: pd.DataFrame, hours: pd.DataFrame) -> pd.DataFrame:
    """`reclaims` from `queries.spot_reclaims` (per type and AZ); `hours` per type: instances, hours."""
    per_type = reclaims.groupby(["region", "instance_type"], as_index=False)[
        ["instances", "reclaimed_attempts", "hours_lost"]
    ].sum()
    per_type = per_type.rename(columns={"instances": "reclaimed_instances"})
    exposure = hours.rename(columns={"instances": "spot_instances", "hours": "spot_instance_hours"})
    out = per_type.merge(exposure, on=["region", "instance_type"], how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["reclaims_per_1000h"] = np.where(
            out["spot_instance_hours"] > 0,
            1000.0 * out["reclaimed_instances"] / out["spot_instance_hours"],
            np.nan,
        )
    return out.sort_values("reclaimed_instances", ascending=False).reset_index(drop=True)


def extend_steps(history: pd.DataFrame, until: object = None) -> pd.DataFrame:
    """Carry each AZ's last price to the newest sample of any AZ (or `until`, the newest sample of
    any type in the region, when later).

    A spot series lists price changes only, so an AZ whose price has not moved for a while would
    otherwise end (or, with a single sample, not show at all) where its last change was; a type
    whose only samples share one timestamp would be drawn on an axis a few milliseconds wide.
    """
    if history.empty:
        return history
    end = history["timestamp"].max()
    if until is not None and pd.Timestamp(until) > end:
        end = pd.Timestamp(until)
    last = history.sort_values("timestamp").groupby("availability_zone", as_index=False).last()
    tails = last[last["timestamp"] < end].assign(timestamp=end)
    return pd.concat([history, tails], ignore_index=True).sort_values(["availability_zone", "timestamp"])
