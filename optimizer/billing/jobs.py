"""Per-job billed cost: what the bill charged for each Batch job attempt of a billing month.

Two sources, never both for the same attempt:

- **Split cost allocation rows** (CUR 2.0 with `INCLUDE_SPLIT_COST_ALLOCATION_DATA`): each attempt
  runs as one ECS task, and the task's rows (`line_item_resource_id` = the task ARN the store keeps
  per attempt, `split_line_item_parent_resource_id` = its instance) give its share of the
  instance-hour's amortised cost: `split_cost` (allocated) + `unused_cost` (its share of the idle
  capacity), AWS's own split. Its billed cost is the instance-hour's billed cost shared in the same
  proportions (`queries.TASK_COSTS`). Fargate task rows carry their own charge.
- **The model's attribution rule** where the bill has no split rows for the instance-day: the
  instance's billed (and effective) cost of that UTC day (`bill_instances`) is shared among the
  attempts that ran on it in the proportions `optimizer.analysis.cost.attribute_costs` gives them
  (its weighted vCPU/memory/GPU share x time), and the instance's idle part is spread over those
  attempts in proportion to their share, as AWS spreads unused capacity. No second rule is written:
  the shares are the attribution's own per-(attempt, day) costs over the instance-day's total.

An attempt on an instance-day with split rows but without a task of its own in them gets nothing
from the bill (its cost sits in rows the store cannot name); such tasks are counted as unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, delete, select

from optimizer.analysis.cost import CostAttribution
from optimizer.billing import queries
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.tables.billing import bill_instances, bill_job_costs, bill_months
from optimizer.store.tables.jobs import job_attempts, jobs

JOB_COST_COLUMNS = (
    "billing_period",
    "job_id",
    "attempt",
    "source",
    "instance_id",
    "billed_usd",
    "effective_usd",
    "unused_usd",
)


@dataclass(frozen=True)
class JobCosts:
    """The month's per-attempt bill (`frame`, columns `JOB_COST_COLUMNS`) and the split-row tasks
    the store has no attempt for."""

    frame: pd.DataFrame
    unmatched_tasks: int
    unmatched_billed_usd: float
    unmatched_effective_usd: float


def _attempts_with_tasks(engine: Engine, start: datetime, until: datetime, dataset: str) -> pd.DataFrame:
    from optimizer.analysis.stored import ATTEMPT_LOOKBACK

    a = job_attempts.c
    query = (
        select(a.task_arn, a.job_id, a.attempt)
        .join(jobs, jobs.c.job_id == a.job_id)
        .where(
            jobs.c.dataset == dataset,
            a.task_arn.is_not(None),
            a.started_at < until,
            a.started_at >= start - ATTEMPT_LOOKBACK,
        )
    )
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return pd.DataFrame(rows, columns=["task_arn", "job_id", "attempt"])


def split_costs(parquet: Path, attempts: pd.DataFrame) -> tuple[pd.DataFrame, tuple[int, float, float]]:
    """Per attempt, from the month's split cost allocation (and Fargate task) rows
    (`queries.TASK_COSTS`); and the tasks the attempts do not name: (count, billed, effective).
    `frame.attrs["split_days"]` holds the instance-days the split rows cover."""
    from optimizer.billing.intake import _escape, connect

    con = connect()
    try:
        frame = attempts[["task_arn", "job_id", "attempt"]].drop_duplicates("task_arn")
        con.register("attempts", frame)
        relation = f"read_parquet('{_escape(parquet)}') AS line_items"
        per_attempt = con.execute(queries.TASK_COSTS.replace("FROM line_items", f"FROM {relation}")).df()
        split_days = con.execute(
            queries.SPLIT_INSTANCE_DAYS.replace("FROM line_items", f"FROM {relation}")
        ).df()
    finally:
        con.close()
    unknown = per_attempt["job_id"].isna()
    rest = per_attempt[unknown]
    unmatched = (
        int(rest["tasks"].sum()),
        float(rest["billed_usd"].sum()),
        float(rest["effective_usd"].sum()),
    )
    matched = per_attempt[~unknown].drop(columns="tasks").reset_index(drop=True)
    matched.attrs["split_days"] = split_days
    return matched, unmatched


def attributed_costs(
    attribution: CostAttribution,
    billed_days: pd.DataFrame,
    skip_days: pd.DataFrame,
    skip_attempts: pd.DataFrame,
) -> pd.DataFrame:
    """Per attempt: the instance-days' bill (`billed_days`: instance_id, day, billed_usd,
    effective_usd) shared by the attribution's per-(attempt, day) costs, leaving out the
    instance-days in `skip_days` (split rows cover them) and the attempts in `skip_attempts`."""
    lines = attribution.lines
    columns = ["job_id", "attempt", "instance_id", "billed_usd", "effective_usd", "unused_usd"]
    if lines.empty or billed_days.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(
        {
            "instance_id": lines["instance_id"].astype(object).to_numpy(),
            "day": pd.to_datetime(lines["day"]).dt.normalize().to_numpy(),
            "attempt_row": lines["attempt_row"].to_numpy(),
            "cost": lines["total_usd"].to_numpy(dtype=float),
        }
    )
    frame["is_attempt"] = frame["attempt_row"] >= 0
    frame["attempt_cost"] = frame["cost"].where(frame["is_attempt"], 0.0)
    keys = ["instance_id", "day"]
    per_day = frame.groupby(keys, sort=False)[["cost", "attempt_cost"]].sum()
    per_day.columns = ["total", "attributed"]
    bill = billed_days.assign(day=pd.to_datetime(billed_days["day"]).dt.normalize())
    bill = bill.groupby(keys)[["billed_usd", "effective_usd"]].sum()
    per_day = per_day.join(bill, how="inner")
    if not skip_days.empty:
        skip = pd.MultiIndex.from_frame(
            skip_days.assign(day=pd.to_datetime(skip_days["day"]).dt.normalize())[keys]
        )
        per_day = per_day[~per_day.index.isin(skip)]
    per_day = per_day[(per_day["total"] > 0) & (per_day["attributed"] > 0)]
    att = frame[frame["is_attempt"]].join(per_day, on=keys, how="inner")
    if att.empty:
        return pd.DataFrame(columns=columns)
    who = attribution.attempts[["job_id", "attempt"]].iloc[att["attempt_row"].to_numpy()]
    att = att.assign(job_id=who["job_id"].to_numpy(), attempt=who["attempt"].to_numpy())
    if not skip_attempts.empty:
        skip = skip_attempts[["job_id", "attempt"]].astype({"attempt": "int64"})
        skip_keys = pd.MultiIndex.from_frame(skip)
        mine = pd.MultiIndex.from_frame(att[["job_id", "attempt"]].astype({"attempt": "int64"}))
        att = att[~mine.isin(skip_keys)]
    share = att["cost"] / att["total"]  # the attempt's part of the instance-day's model cost
    idle_share = (att["total"] - att["attributed"]) / att["total"] * att["cost"] / att["attributed"]
    out = pd.DataFrame(
        {
            "job_id": att["job_id"],
            "attempt": att["attempt"].astype("int64"),
            "instance_id": att["instance_id"],
            "billed_usd": att["billed_usd"] * (share + idle_share),
            "effective_usd": att["effective_usd"] * (share + idle_share),
            "unused_usd": att["effective_usd"] * idle_share,
        }
    )
    return (
        out.groupby(["job_id", "attempt"], sort=True)
        .agg(
            instance_id=("instance_id", "first"),
            billed_usd=("billed_usd", "sum"),
            effective_usd=("effective_usd", "sum"),
            unused_usd=("unused_usd", "sum"),
        )
        .reset_index()
    )


def compute_job_costs(
    engine: Engine,
    start: datetime,
    until: datetime,
    attribution: CostAttribution | None,
    *,
    dataset: str = COLLECTED_DATASET,
) -> JobCosts:
    """The per-attempt bill of the billing month starting at `start` (see the module docstring).
    `attribution` is the model's attribution over [start, until) (None without Batch history)."""
    with engine.connect() as conn:
        path = conn.execute(select(bill_months.c.path).where(bill_months.c.billing_period == start)).scalar()
        billed_days = pd.DataFrame(
            conn.execute(
                select(
                    bill_instances.c.instance_id,
                    bill_instances.c.day,
                    bill_instances.c.billed_usd,
                    bill_instances.c.effective_usd,
                ).where(bill_instances.c.billing_period == start)
            ).fetchall(),
            columns=["instance_id", "day", "billed_usd", "effective_usd"],
        )
    attempts = _attempts_with_tasks(engine, start, until, dataset)
    parquet = Path(path) if path else None
    if parquet is not None and parquet.is_file():
        split, (n_unmatched, unmatched_billed, unmatched_effective) = split_costs(parquet, attempts)
        split_days = split.attrs.pop("split_days")
    else:  # a month aggregated in Athena: no line items here to read split rows from
        split = pd.DataFrame(columns=["job_id", "attempt", "source", "instance_id", *JOB_COST_COLUMNS[5:]])
        split_days = pd.DataFrame(columns=["instance_id", "day"])
        n_unmatched, unmatched_billed, unmatched_effective = 0, 0.0, 0.0
    parts = [split]
    if attribution is not None:
        fallback = attributed_costs(attribution, billed_days, split_days, split[["job_id", "attempt"]])
        parts.append(fallback.assign(source="attribution"))
    frame = (
        pd.concat([p for p in parts if not p.empty], ignore_index=True)
        if any(not p.empty for p in parts)
        else pd.DataFrame(columns=list(JOB_COST_COLUMNS))
    )
    frame["billing_period"] = start
    frame = frame[list(JOB_COST_COLUMNS)].reset_index(drop=True)
    frame["attempt"] = frame["attempt"].astype("int64")
    for column in ("billed_usd", "effective_usd", "unused_usd"):
        frame[column] = frame[column].astype(float)
    return JobCosts(frame, n_unmatched, unmatched_billed, unmatched_effective)


def store_job_costs(engine: Engine, start: datetime, costs: JobCosts) -> None:
    """Replace the month's `bill_job_costs` rows, in one transaction."""
    from optimizer.store.upsert import bulk_upsert

    with engine.begin() as conn:
        conn.execute(delete(bill_job_costs).where(bill_job_costs.c.billing_period == start))
        if not costs.frame.empty:
            bulk_upsert(conn, bill_job_costs, costs.frame)
