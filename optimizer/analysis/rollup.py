"""Roll-ups of the cost books (`CostAttribution.lines`) by any dimension, day or week.

Public API::

    cost_by(lines, ["queue"], period="week")        # total/attributed/waste USD and vCPU-hours
    waste_by(lines, ["job_definition_name"])         # the waste classes only, largest first
    cost_by_tag(result, "team")                      # one tag key's values (untagged / idle rows kept)
    daily_aggregate(lines)                           # the rows of the persisted `cost_daily` table

Idle lines carry "(idle)" in the job dimensions (queue, job definition, job name), so every roll-up
still sums to the instances' total cost. Weeks start on Monday (ISO weeks), labelled by that Monday.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from optimizer.analysis.cost import IDLE, INSTANCE_DIMS, JOB_DIMS, MONEY_COLUMNS, NONE, CostAttribution

SUM_COLUMNS = (*MONEY_COLUMNS, "vcpu_hours")
DIMENSIONS = (*INSTANCE_DIMS, *JOB_DIMS, "outcome", "kind")
DAILY_DIMS = ("queue", "compute_environment_arn", "job_definition_name", "instance_type", "capacity_type")
UNTAGGED = "(untagged)"
Period = Literal["day", "week"]


def _period_column(lines: pd.DataFrame, period: Period) -> pd.Series:
    day = pd.to_datetime(lines["day"])
    if period == "day":
        return day
    if period == "week":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    raise ValueError(f"period {period!r}: must be 'day' or 'week'")


def cost_by(lines: pd.DataFrame, dims: Sequence[str] = (), period: Period | None = None) -> pd.DataFrame:
    """Sum the money columns and vCPU-hours by `dims` (and the period), largest total first."""
    unknown = [d for d in dims if d not in lines.columns]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; known: {', '.join(DIMENSIONS)}")
    keys: list[str | pd.Series] = list(dims)
    frame = lines
    if period is not None:
        frame = lines.assign(**{period: _period_column(lines, period)})
        keys = [period, *dims]
    if not keys:
        total = frame[list(SUM_COLUMNS)].sum().to_frame().T
        return total.reset_index(drop=True)
    out = frame.groupby(keys, observed=True, sort=False)[list(SUM_COLUMNS)].sum().reset_index()
    for d in dims:
        if isinstance(out[d].dtype, pd.CategoricalDtype):
            out[d] = out[d].astype(object)
    order = [period] if period else []
    out = out.sort_values([*order, "total_usd"], ascending=[True] * len(order) + [False])
    return out.reset_index(drop=True)


def waste_by(lines: pd.DataFrame, dims: Sequence[str] = (), period: Period | None = None) -> pd.DataFrame:
    """The waste classes by `dims`, with their sum and its share of the total, most wasteful first."""
    out = cost_by(lines, dims, period)
    waste_cols = ["idle_usd", "over_requested_usd", "spot_reclaim_usd", "failed_usd", "oom_usd"]
    out["waste_usd"] = out[waste_cols].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["waste_share"] = np.where(out["total_usd"] > 0, out["waste_usd"] / out["total_usd"], 0.0)
    cols = [c for c in out.columns if c not in ("attributed_usd", "vcpu_hours")]
    return out[cols].sort_values("waste_usd", ascending=False).reset_index(drop=True)


def cost_by_tag(result: CostAttribution, key: str, period: Period | None = None) -> pd.DataFrame:
    """Cost by the value of one job tag `key`; untagged attempts and idle lines keep their own rows."""
    lines = result.lines
    tags = result.attempts["tags"] if "tags" in result.attempts.columns else None
    values = np.full(len(result.attempts), UNTAGGED, dtype=object)
    if tags is not None:
        values = np.array(
            [str(t[key]) if isinstance(t, dict) and t.get(key) is not None else UNTAGGED for t in tags],
            dtype=object,
        )
    arow = lines["attempt_row"].to_numpy()
    column = np.where(arow >= 0, values[np.maximum(arow, 0)] if len(values) else UNTAGGED, IDLE)
    tag_col = f"tag:{key}"
    frame = lines.assign(**{tag_col: pd.Categorical(column)})
    return cost_by(frame, [tag_col], period)


def daily_aggregate(lines: pd.DataFrame) -> pd.DataFrame:
    """Rows for the `cost_daily` table: per UTC day and (queue, CE, job definition, type, capacity).

    `attempts` counts the attempts that ran in that group on that day (one spanning midnight counts
    on both days). Missing dimension values are "(none)" so they can be part of the primary key.
    """
    frame = lines.assign(attempts=(lines["kind"] == "attempt").astype(np.int64))
    keys = ["day", *DAILY_DIMS]
    out = frame.groupby(keys, observed=True, sort=True)[[*SUM_COLUMNS, "attempts"]].sum().reset_index()
    for d in DAILY_DIMS:
        out[d] = out[d].astype(object).fillna(NONE)
    out["day"] = pd.to_datetime(out["day"])
    return out


def allocated_share(frame: pd.DataFrame) -> float | None:
    """vCPU-hours requested by jobs over all vCPU-hours paid for (the vCPU utilization the report
    and the Overview show), from cost rows with `queue` and `vcpu_hours` (idle capacity is the
    `IDLE` queue); None when nothing was paid for."""
    total = float(frame["vcpu_hours"].sum()) if not frame.empty else 0.0
    if total <= 0:
        return None
    busy = float(frame.loc[frame["queue"].astype(object) != IDLE, "vcpu_hours"].sum())
    return busy / total


def idle_share(frame: pd.DataFrame) -> float | None:
    """Idle capacity's share of spend, from cost rows with `idle_usd` and `total_usd`; None when
    nothing was spent."""
    total = float(frame["total_usd"].sum()) if not frame.empty else 0.0
    if total <= 0:
        return None
    return float(frame["idle_usd"].sum()) / total


SpotMeasure = Literal["spend", "instance_vcpu_hours", "job_vcpu_hours"]
SPOT_SHARE_NAMES: dict[str, str] = {
    "spend": "Spot share of spend",
    "instance_vcpu_hours": "Spot share of instance vCPU-hours",
    "job_vcpu_hours": "Spot share of job vCPU-hours",
}
SPOT_SHARE_DEFINITIONS: dict[str, str] = {
    "spend": "spot / spot + on-demand instance cost",
    "instance_vcpu_hours": "all running instances, idle included",
    "job_vcpu_hours": "what jobs requested; the fleet policy's limit",
}
SPOT_SHARES = {k: f"{name} ({SPOT_SHARE_DEFINITIONS[k]})" for k, name in SPOT_SHARE_NAMES.items()}
"""The three spot shares, each labelled with what it measures; every surface (report summary, its
"why" mix driver, Slack, the dashboard's metrics with the definition as help, the What-if limit)
prints these names with `spot_share`'s figure. They differ
on purpose: idle spot capacity raises the instance share but not the job share, and spot's lower
price makes its share of spend smaller than its share of hours."""

VCPU_ALLOCATION = "vCPU allocation (requested / instance vCPU-hours)"
"""What the Overview calls "vCPU allocation" (vCPU-hours jobs requested over the vCPU-hours of the
instances paid for), labelled the same on the report and the What-if replay table: the report once
called the same measure "vCPU utilization"."""


def spot_share(frame: pd.DataFrame, measure: SpotMeasure) -> float | None:
    """Spot's share of spot + on-demand, by `measure` (`SPOT_SHARES`), from cost rows with
    `capacity_type`, `queue`, `total_usd` and `vcpu_hours`; None when neither ran. Job vCPU-hours
    leave out the idle rows (the `IDLE` queue), whose vCPU-hours are capacity no job requested."""
    if frame.empty:
        return None
    rows = frame[frame["queue"].astype(object) != IDLE] if measure == "job_vcpu_hours" else frame
    column = "total_usd" if measure == "spend" else "vcpu_hours"
    capacity = rows["capacity_type"].astype(object).astype(str).str.upper()
    spot = float(rows.loc[capacity == "SPOT", column].sum())
    on_demand = float(rows.loc[capacity == "ON_DEMAND", column].sum())
    return spot / (spot + on_demand) if spot + on_demand > 0 else None
