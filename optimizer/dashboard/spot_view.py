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
