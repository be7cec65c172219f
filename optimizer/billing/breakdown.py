"""Billed, effective and modelled cost of a billing month side by side, per dimension, and the
residual's causes. `reconcile` puts these in its output; they are computed here once.

Dimensions and where each side comes from:

- day, account, region: billed from `bill_daily` (every line item); modelled from the
  attribution's lines.
- instance: billed from `bill_instances` (its instance-hours and their SP negation); modelled from
  the attribution's instances.
- compute environment: billed from `bill_instances` of the instances the store places there;
  modelled from the attribution's lines.
- queue, job definition: billed from the per-job bill (`optimizer.billing.jobs`, allocated part);
  modelled from the attribution's lines; idle capacity is its own "(idle)" row on both sides.

The model side is `optimizer.analysis.cost.attribute_costs` over the month (the same code
`batchopt analyze` runs), so every modelled figure here is that attribution's.

Residual causes (billed minus modelled, each in USD, largest first), which add up to the residual:
EBS, data transfer, discounts and credits, commitment fees, tax, other services, EC2 instance rows
without an instance id, instances the collectors missed (billed instance ids absent from the
store), and the remainder: what the bill charged for the instances the store knows minus what the
model says they cost (prices, hours, commitments).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from optimizer.analysis.cost import IDLE, NONE, CostAttribution
from optimizer.billing.queries import EC2_INSTANCE_KINDS
from optimizer.store.tables.billing import bill_daily, bill_instances, bill_job_costs
from optimizer.store.tables.instances import instances
from optimizer.store.tables.jobs import job_attempts, jobs

DIMENSIONS = ("day", "account", "region", "queue", "compute_environment", "job_definition", "instance")
TOP_INSTANCES = 25
#: The residual's remainder: the store's instances as billed against the model.
KNOWN_INSTANCES_CAUSE = "known instances: billed (net of Savings Plan negation) minus modelled at list"
RESIDUAL_KINDS = {
    "ebs": "EBS",
    "data_transfer": "data transfer",
    "discount": "discounts",
    "credit": "credits and refunds",
    "commitment_fee": "commitment fees",
    "tax": "tax",
}


def _money(value: Any) -> float:
    return round(float(value or 0.0), 6)


def _rows(billed: pd.DataFrame, modelled: pd.Series | None, key: str) -> list[dict[str, Any]]:
    """Rows {key, billed_usd, effective_usd, modelled_usd, residual_usd}, largest billed first."""
    frame = billed.set_index(key)[["billed_usd", "effective_usd"]] if not billed.empty else None
    keys = list(frame.index) if frame is not None else []
    if modelled is not None:
        keys += [k for k in modelled.index if k not in set(keys)]
    out = []
    for k in keys:
        b = float(frame.at[k, "billed_usd"]) if frame is not None and k in frame.index else 0.0
        e = float(frame.at[k, "effective_usd"]) if frame is not None and k in frame.index else 0.0
        m = None if modelled is None else float(modelled.get(k, 0.0))
        row = {key: str(k.date()) if isinstance(k, pd.Timestamp) else k, "billed_usd": _money(b)}
        row |= {"effective_usd": _money(e), "modelled_usd": None if m is None else _money(m)}
        row["residual_usd"] = None if m is None else _money(b - m)
        out.append(row)
    return sorted(out, key=lambda r: (-r["billed_usd"], str(r[key])))


def _modelled_by(attribution: CostAttribution | None, column: str) -> pd.Series | None:
    if attribution is None:
        return None
    lines = attribution.lines
    if lines.empty:
        return pd.Series(dtype=float)
    key = pd.to_datetime(lines["day"]).dt.normalize() if column == "day" else lines[column].astype(object)
    return lines["total_usd"].groupby(key.to_numpy()).sum()


def breakdowns(
    engine: Engine, start: Any, attribution: CostAttribution | None, dataset: str
) -> dict[str, list[dict[str, Any]]]:
    """Billed, effective, modelled and residual per dimension of `DIMENSIONS` (the per-job bill as
    `bill_job_costs` holds it for the month)."""
    d = bill_daily.c
    sums = (func.sum(d.billed_usd).label("billed_usd"), func.sum(d.effective_usd).label("effective_usd"))
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name, column in (("day", d.day), ("account", d.account_id), ("region", d.region)):
            query = select(column.label(name), *sums).where(d.billing_period == start).group_by(column)
            rows = conn.execute(query)
            frame = pd.DataFrame(rows.fetchall(), columns=[name, "billed_usd", "effective_usd"])
            if name == "day":
                frame["day"] = pd.to_datetime(frame["day"])
            model_col = {"day": "day", "account": "account_id", "region": "region"}[name]
            out[f"by_{name}"] = _rows(frame, _modelled_by(attribution, model_col), name)
    out |= _by_job_dims(engine, start, attribution, dataset)
    out["by_instance"] = _by_instance(engine, start, attribution, dataset)[:TOP_INSTANCES]
    return out


UNKNOWN_INSTANCE = "(instances not in the store)"


def _by_job_dims(
    engine: Engine, start: Any, attribution: CostAttribution | None, dataset: str
) -> dict[str, list[dict[str, Any]]]:
    """Per queue, compute environment and job definition, like for like with the model:

    - compute environment: the bill of the instances the store places in it (`bill_instances`
      joined with `instances`: every instance-hour, tasks or not, as the model counts it); the
      instances the store does not know as one row;
    - queue and job definition: the jobs' allocated part of the per-job bill (`bill_job_costs`
      without the idle share AWS spreads over the tasks), and one "(idle)" row holding the rest of
      the bill of the instances the store knows or a billed job ran on (their idle capacity, hours
      without tasks, tasks of no known attempt), as the model shows its idle cost."""
    c, a, j = bill_job_costs.c, job_attempts.c, jobs.c
    b, i = bill_instances.c, instances.c
    base = bill_job_costs.join(jobs, j.job_id == c.job_id, isouter=True).join(
        job_attempts, (a.job_id == c.job_id) & (a.attempt == c.attempt), isouter=True
    )
    idle_part = case((c.effective_usd != 0, c.unused_usd / c.effective_usd), else_=0.0)
    allocated = (func.sum(c.billed_usd * (1.0 - idle_part)), func.sum(c.effective_usd - c.unused_usd))
    placed = bill_instances.join(
        instances, (i.instance_id == b.instance_id) & (i.dataset == dataset), isouter=True
    )
    ce = case(
        (i.instance_id.is_(None), UNKNOWN_INSTANCE), else_=func.coalesce(i.compute_environment_arn, NONE)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(ce, func.sum(b.billed_usd), func.sum(b.effective_usd))
            .select_from(placed)
            .where(b.billing_period == start)
            .group_by(ce)
        ).fetchall()
        frame = pd.DataFrame(rows, columns=["compute_environment", "billed_usd", "effective_usd"])
        # the instances the jobs' bill can come from: the store's, and any a billed job ran on
        hosts = select(c.instance_id).where(c.billing_period == start, c.instance_id.is_not(None))
        in_scope = i.instance_id.is_not(None) | b.instance_id.in_(hosts)
        known_row = conn.execute(
            select(func.sum(b.billed_usd), func.sum(b.effective_usd))
            .select_from(placed)
            .where(b.billing_period == start, in_scope)
        ).one()
        known = pd.Series(
            {"billed_usd": float(known_row[0] or 0.0), "effective_usd": float(known_row[1] or 0.0)}
        )
        out["by_compute_environment"] = _rows(
            frame, _modelled_by(attribution, "compute_environment_arn"), "compute_environment"
        )
        for name, column, model_col in (
            ("queue", j.queue, "queue"),
            ("job_definition", j.job_definition_name, "job_definition_name"),
        ):
            key = func.coalesce(column, NONE)
            query = select(key, *allocated).select_from(base).where(c.billing_period == start).group_by(key)
            rows = conn.execute(query).fetchall()
            billed = pd.DataFrame(rows, columns=[name, "billed_usd", "effective_usd"])
            rest = known - billed[["billed_usd", "effective_usd"]].sum()
            if abs(rest["billed_usd"]) > 1e-9 or abs(rest["effective_usd"]) > 1e-9:
                idle = pd.DataFrame(
                    [[IDLE, rest["billed_usd"], rest["effective_usd"]]], columns=billed.columns
                )
                billed = pd.concat([billed, idle], ignore_index=True) if not billed.empty else idle
            out[f"by_{name}"] = _rows(billed, _modelled_by(attribution, model_col), name)
    return out


def instance_bill(
    engine: Engine,
    dataset: str,
    *,
    period: Any = None,
    since: Any = None,
    until: Any = None,
) -> pd.DataFrame:
    """The bill per instance id over a billing month (`period`) or the usage days [since, until),
    with whether the store knows the instance (`in_store`)."""
    b = bill_instances.c
    query = select(
        b.instance_id,
        func.max(b.instance_type).label("instance_type"),
        func.max(b.purchase_option).label("purchase_option"),
        func.sum(b.billed_usd).label("billed_usd"),
        func.sum(b.effective_usd).label("effective_usd"),
        func.sum(b.instance_hours).label("instance_hours"),
    ).group_by(b.instance_id)
    if period is not None:
        query = query.where(b.billing_period == period)
    if since is not None:
        query = query.where(b.day >= since)
    if until is not None:
        query = query.where(b.day < until)
    known = select(instances.c.instance_id).where(instances.c.dataset == dataset)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all())
        ids = {row[0] for row in conn.execute(known)}
    if frame.empty:
        return pd.DataFrame(
            columns=[
                *("instance_id", "instance_type", "purchase_option", "billed_usd", "effective_usd"),
                *("instance_hours", "in_store"),
            ]
        )
    return frame.assign(in_store=frame["instance_id"].isin(ids))


def _by_instance(
    engine: Engine, start: Any, attribution: CostAttribution | None, dataset: str
) -> list[dict[str, Any]]:
    bill = instance_bill(engine, dataset, period=start)
    modelled = None
    if attribution is not None:
        modelled = attribution.instances.groupby("instance_id")["total_usd"].sum()
    frame = bill[["instance_id", "billed_usd", "effective_usd"]].rename(columns={"instance_id": "instance"})
    rows = _rows(frame, modelled, "instance")
    extra = bill.set_index("instance_id") if not bill.empty else None
    for row in rows:
        known = extra is not None and row["instance"] in extra.index
        row["instance_type"] = extra.at[row["instance"], "instance_type"] if known else None
        row["purchase_option"] = extra.at[row["instance"], "purchase_option"] if known else None
        row["instance_hours"] = _money(extra.at[row["instance"], "instance_hours"]) if known else 0.0
        row["in_store"] = bool(extra.at[row["instance"], "in_store"]) if known else True
    return rows


def residual_causes(
    by_kind: dict[str, float], bill: pd.DataFrame, residual: float | None
) -> list[dict[str, Any]]:
    """The residual split into its causes (see the module docstring), largest first; they add up to
    the residual. `by_kind` is billed USD per usage kind and `bill` the `instance_bill` of the same
    days. Empty when there is no modelled cost."""
    if residual is None:
        return []
    causes: dict[str, float] = {}
    for kind, label in RESIDUAL_KINDS.items():
        causes[label] = by_kind.get(kind, 0.0)
    instance_kinds = (*EC2_INSTANCE_KINDS, "savings_plan_negation")
    accounted = set(RESIDUAL_KINDS) | set(instance_kinds)
    causes["other services"] = sum(v for k, v in by_kind.items() if k not in accounted)
    instance_rows = sum(by_kind.get(k, 0.0) for k in instance_kinds)
    billed_instances = float(bill["billed_usd"].sum()) if not bill.empty else 0.0
    causes["EC2 instance rows without an instance id"] = instance_rows - billed_instances
    missed = float(bill.loc[~bill["in_store"].astype(bool), "billed_usd"].sum()) if not bill.empty else 0.0
    causes["instances the collectors missed"] = missed
    # (the instances' billed rows include the Savings Plan negation of their covered hours, while the
    # model prices them at list: with a Savings Plan this cause is mostly that negation, which read
    # as the model overstating its instances' cost when the label did not say so)
    causes[KNOWN_INSTANCES_CAUSE] = residual - sum(causes.values())
    rows = [{"cause": name, "usd": _money(value)} for name, value in causes.items()]
    return sorted(rows, key=lambda r: -abs(r["usd"]))


def missed_instances(bill: pd.DataFrame) -> dict[str, Any]:
    """Billed instance ids absent from the store (in an `instance_bill`): how many, and what the
    bill charged for them."""
    missed = bill[~bill["in_store"].astype(bool)] if not bill.empty else bill
    return {
        "count": len(missed),
        "billed_usd": _money(missed["billed_usd"].sum() if not missed.empty else 0.0),
        "effective_usd": _money(missed["effective_usd"].sum() if not missed.empty else 0.0),
        "instance_hours": _money(missed["instance_hours"].sum() if not missed.empty else 0.0),
    }
