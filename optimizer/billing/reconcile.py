"""Billed, effective and modelled cost of one billing month, side by side, with the residual.

Everything is read from the store: the bill's daily aggregates (`bill_daily`, written by
`import_bill`) and the model's cost attribution (`cost_daily`, written by `batchopt analyze`, read
through `optimizer.analysis.stored`, the same reader the dashboard and the report use). When no
analysis run covers the whole month, the attribution is computed now with the same code
`batchopt analyze` runs, as the weekly report does.

- `billed_usd`: unblended cost summed over every line item of the month (the invoice view).
- `effective_usd`: amortised cost, AWS's rule (see `optimizer.billing.sources.CUR_LINE_ITEMS`).
- `ec2_instances`: EC2 instance usage (on-demand, spot, RI- and SP-covered), with instance-hours.
- `unused_commitment_usd`: the unused part of Savings Plan and RI fees, its own line inside
  `effective_usd` (covered usage is at the commitment's rate, negation rows count 0).
- `modelled_usd`: the model's cost of the Batch estate that month; None without Batch history.
- `residual_usd`: billed minus modelled (None when modelled is); `by_usage_kind` shows its causes
  (EBS, data transfer, commitment fees, other services...) and `residual_causes` splits it so
  the causes add up to it, instances the collectors missed included (`optimizer.billing.breakdown`).
- `breakdowns`: billed, effective, modelled and residual per day, account, region, queue, compute
  environment, job definition and instance (the largest instances).
- `jobs`: per-job billed cost (`optimizer.billing.jobs`), which reconcile also writes to the
  store's `bill_job_costs` (so it follows the attempts collected since the import).
- `commitment_use`: utilization and coverage (`optimizer.billing.commitments`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from optimizer.analysis.cost import CostAttribution
from optimizer.billing.breakdown import breakdowns, instance_bill, missed_instances, residual_causes
from optimizer.billing.commitments import load_commitments
from optimizer.billing.jobs import JobCosts, compute_job_costs, store_job_costs
from optimizer.billing.queries import EC2_INSTANCE_KINDS
from optimizer.errors import InputError
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_months

PURCHASE_OPTIONS = {kind: kind.removeprefix("ec2_") for kind in EC2_INSTANCE_KINDS}
#: EC2's service in the bill: CUR's product code, FOCUS's ServiceName where x_ServiceCode is absent.
EC2_SERVICES = ("AmazonEC2", "Amazon Elastic Compute Cloud")


def parse_month(text: str) -> datetime:
    """`YYYY-MM` -> the month's first instant, or InputError."""
    if not re.fullmatch(r"\d{4}-\d{2}", text or ""):
        raise InputError(f"--month {text!r}: expected YYYY-MM")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise InputError(f"--month {text!r}: month must be 01..12")
    return datetime(year, month, 1)


def month_end(start: datetime) -> datetime:
    """The first instant of the next month."""
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)


def _money(value: Any) -> float:
    return round(float(value or 0.0), 6)


def month_attribution(
    engine: Engine, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> CostAttribution | None:
    """The model's cost attribution over [since, until) (what `batchopt analyze` computes), or None
    when the store holds no instances for the window."""
    from optimizer.analysis import stored
    from optimizer.store.tables.instances import instances

    alive = select(instances.c.instance_id).where(
        instances.c.dataset == dataset,
        func.coalesce(instances.c.launch_time, instances.c.first_seen) < until,
        func.coalesce(instances.c.terminated_at, instances.c.last_seen) >= since,
    )
    with engine.connect() as conn:
        if conn.execute(alive.limit(1)).first() is None:
            return None  # no instance, nothing to attribute: the attempts need not be read
    inputs = stored.load_analysis_inputs(engine, dataset=dataset, since=since, until=until)
    if inputs.instances.empty:
        return None
    return stored.attribute(inputs, since, until)


def day_of(value: Any) -> datetime:
    """A stored day (date, datetime or text, by backend) as a naive midnight datetime."""
    return pd.Timestamp(value).normalize().to_pydatetime().replace(tzinfo=None)


NOT_COMPUTED: Any = object()
"""`attribution` not given: `modelled_daily` computes it (None, given, means there is none)."""


def modelled_daily(
    engine: Engine,
    since: datetime,
    until: datetime,
    dataset: str = COLLECTED_DATASET,
    attribution: CostAttribution | None = NOT_COMPUTED,
) -> tuple[pd.Series | None, str | None]:
    """The model's cost of each UTC day of [since, until) (a Series indexed by day, days without
    cost absent) and where it came from ("analysis" or "computed"), or (None, None) when the store
    holds no Batch history for the window. `modelled_cost` is its sum."""
    from optimizer.analysis import stored
    from optimizer.analysis.rollup import daily_aggregate

    if stored.persisted_is_current(engine, dataset, since, until):
        frame = stored.read_cost_daily(engine, (), period="day", dataset=dataset, since=since, until=until)
        if not frame.empty:
            return _per_day(frame), "analysis"
    given = attribution is not NOT_COMPUTED
    result = attribution if given else month_attribution(engine, since, until, dataset)
    if result is None:
        return None, None
    return _per_day(daily_aggregate(result.lines)), "computed"


def _per_day(frame: pd.DataFrame) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], name="day"), name="total_usd")
    days = pd.to_datetime(frame["day"]).dt.normalize()
    return frame["total_usd"].astype(float).groupby(days.rename("day")).sum().rename("total_usd")


def modelled_cost(
    engine: Engine,
    since: datetime,
    until: datetime,
    dataset: str = COLLECTED_DATASET,
    attribution: CostAttribution | None = NOT_COMPUTED,
) -> tuple[float | None, str | None]:
    """The model's cost of [since, until) and where it came from ("analysis" or "computed"),
    or (None, None) when the store holds no Batch history for the window."""
    daily, source = modelled_daily(engine, since, until, dataset, attribution)
    return (None, None) if daily is None else (float(daily.sum()), source)


def reconcile(engine: Engine, month: str, *, dataset: str = COLLECTED_DATASET) -> dict[str, Any]:
    """The reconciliation of billing month `month` (YYYY-MM) as a JSON-ready dict."""
    start = parse_month(month)
    until = month_end(start)
    d = bill_daily.c
    with engine.connect() as conn:
        imported = (
            conn.execute(select(bill_months).where(bill_months.c.billing_period == start)).mappings().first()
        )
        if imported is None:
            raise InputError(f"no bill imported for {month}: run `batchopt import-bill --format ... FILE`")
        in_month = d.billing_period == start
        sums = (func.sum(d.billed_usd), func.sum(d.effective_usd))
        by_service = conn.execute(select(d.service, *sums).where(in_month).group_by(d.service)).fetchall()
        by_kind = conn.execute(
            select(d.usage_kind, *sums, func.sum(d.usage_amount)).where(in_month).group_by(d.usage_kind)
        ).fetchall()
        # A Savings Plan bills covered EC2 hours at on-demand and cancels that with negation rows:
        # the instances' billed cost is net of them (FOCUS exports carry no such rows).
        ec2_negation = float(
            conn.execute(
                select(func.coalesce(func.sum(d.billed_usd), 0.0)).where(
                    in_month, d.usage_kind == "savings_plan_negation", d.service.in_(EC2_SERVICES)
                )
            ).scalar()
            or 0.0
        )
        last_day = conn.execute(select(func.max(d.day)).where(in_month)).scalar()
        commitments = conn.execute(
            select(bill_commitments.c.arn, bill_commitments.c.kind)
            .where(bill_commitments.c.first_seen < until, bill_commitments.c.last_seen >= start)
            .order_by(bill_commitments.c.arn)
        ).fetchall()
    billed = sum(float(row[1] or 0) for row in by_service)
    effective = sum(float(row[2] or 0) for row in by_service)
    kinds = {row[0]: row for row in by_kind}
    instances = [kinds[k] for k in EC2_INSTANCE_KINDS if k in kinds]
    # The model over the days the bill covers (`window.covered_days`' rule: the month's first day
    # through the last day a line item was used), as the Overview and the report set them side by
    # side: a bill a day behind collection read as a residual of a whole day's model (the demo's
    # December with its last billed day left out: -$629.83 here, -$174.28 on the Overview).
    model_until = until if last_day is None else min(until, day_of(last_day) + timedelta(days=1))
    attribution = month_attribution(engine, start, model_until, dataset)
    modelled, source = modelled_cost(engine, start, model_until, dataset, attribution)
    job_costs = compute_job_costs(engine, start, model_until, attribution, dataset=dataset)
    store_job_costs(engine, start, job_costs)
    residual = None if modelled is None else billed - modelled
    by_kind_billed = {row[0]: float(row[1] or 0) for row in by_kind}
    result = {
        "month": month,
        "currency": "USD",
        "billed_usd": _money(billed),
        "effective_usd": _money(effective),
        "by_service": {
            row[0]: {"billed_usd": _money(row[1]), "effective_usd": _money(row[2])}
            for row in sorted(by_service, key=lambda r: -float(r[1] or 0))
        },
        "ec2_instances": {
            "billed_usd": _money(sum(float(r[1] or 0) for r in instances) + ec2_negation),
            "effective_usd": _money(sum(float(r[2] or 0) for r in instances)),
            "instance_hours": _money(sum(float(r[3] or 0) for r in instances)),
            # (the on-demand cost the negation rows cancelled: billed + this = at list prices)
            "savings_plan_covered_usd": _money(-ec2_negation),
            "by_purchase_option": {
                PURCHASE_OPTIONS[r[0]]: {
                    "billed_usd": _money(
                        float(r[1] or 0) + (ec2_negation if r[0] == "ec2_savings_plan" else 0)
                    ),
                    "effective_usd": _money(r[2]),
                    "instance_hours": _money(r[3]),
                }
                for r in instances
            },
        },
        "unused_commitment_usd": _money(sum(float(r[2] or 0) for r in by_kind if r[0] == "commitment_fee")),
        "by_usage_kind": {
            row[0]: {"billed_usd": _money(row[1]), "effective_usd": _money(row[2])}
            for row in sorted(by_kind, key=lambda r: -abs(float(r[1] or 0)))
        },
        "commitments": [{"arn": arn, "kind": kind} for arn, kind in commitments],
        "modelled_usd": None if modelled is None else _money(modelled),
        "modelled_source": source,
        # [month start, this): the days the bill covers, over which the model is taken
        "modelled_until": model_until.isoformat(),
        "residual_usd": None if modelled is None else _money(billed - modelled),
        "bill": {
            "format": imported["format"],
            "line_items": int(imported["line_items"]),
            "files": [s["name"] for s in imported["sources"]],
            "imported_at": imported["imported_at"].isoformat()
            if hasattr(imported["imported_at"], "isoformat")
            else str(imported["imported_at"]),
        },
    }
    result["breakdowns"] = breakdowns(engine, start, attribution, dataset)
    per_instance = instance_bill(engine, dataset, period=start)
    result["residual_causes"] = residual_causes(by_kind_billed, per_instance, residual)
    result["missed_instances"] = missed_instances(per_instance)
    result["jobs"] = _jobs_summary(job_costs)
    result["breakdown_notes"] = breakdown_notes(result, attribution)
    result["commitment_use"] = _commitment_use(engine, start, until)
    return result


COVERED_NOTE = (
    "billed is unblended: hours a Savings Plan or RI covered are billed $0 to the instance (the plan's"
    " fee and negation rows carry them), so a queue's residual (billed - modelled at list) runs"
    " negative by their list cost; hold effective (amortised) against modelled"
)
GPU_NOTE = (
    "per queue and job definition, the bill is AWS's split cost allocation: each task's share of its"
    " instance by vCPU and memory, the rest to (idle); the model also weighs GPUs (8 per GPU,"
    " `optimizer.analysis.cost`), so on GPU instances it charges GPU jobs more and (idle) less than"
    " the split does; per compute environment both count whole instances"
)


def breakdown_notes(result: dict[str, Any], attribution: CostAttribution | None) -> list[str]:
    """Why a queue's residual can be large while the month's is small, said where it applies: the
    demo's gpu-training read "-$4,180.86" beside a month's "-$791.78", with no word of the Savings
    Plan's $0 billed hours or of the GPU weight the split allocation does not have."""
    notes = []
    kinds = result["by_usage_kind"]
    if any(
        float(kinds.get(k, {}).get("effective_usd") or 0) > 0 for k in ("ec2_savings_plan", "ec2_reserved")
    ):
        notes.append(COVERED_NOTE)
    split = result["jobs"]["by_source"].get("split", {}).get("attempts", 0)
    gpu_jobs = (
        attribution is not None
        and "gpus" in attribution.attempts
        and bool((attribution.attempts["gpus"].fillna(0) > 0).any())
    )
    if split and gpu_jobs:
        notes.append(GPU_NOTE)
    return notes


def _jobs_summary(costs: JobCosts) -> dict[str, Any]:
    """Per-job billed cost of the month: totals by source and the split-row tasks not matched."""
    frame = costs.frame
    by_source = {
        str(source): {
            "attempts": len(part),
            "billed_usd": _money(part["billed_usd"].sum()),
            "effective_usd": _money(part["effective_usd"].sum()),
            "unused_usd": _money(part["unused_usd"].sum()),
        }
        for source, part in frame.groupby("source", sort=True)
    }
    return {
        "attempts": len(frame),
        "billed_usd": _money(frame["billed_usd"].sum()),
        "effective_usd": _money(frame["effective_usd"].sum()),
        "unused_usd": _money(frame["unused_usd"].sum()),
        "by_source": by_source,
        "unmatched_tasks": {
            "count": costs.unmatched_tasks,
            "billed_usd": _money(costs.unmatched_billed_usd),
            "effective_usd": _money(costs.unmatched_effective_usd),
        },
    }


def _commitment_use(engine: Engine, start: datetime, until: datetime) -> dict[str, Any]:
    """Utilization and coverage of the month's commitments (`optimizer.billing.commitments`)."""
    use = load_commitments(engine, since=start, until=until)
    return {
        "utilization": None if use.utilization is None else round(use.utilization, 6),
        "coverage": None if use.coverage_ratio is None else round(use.coverage_ratio, 6),
        "commitments": [
            {
                "arn": c.arn,
                "kind": c.kind,
                "used_usd": _money(c.used_usd),
                "unused_usd": _money(c.unused_usd),
                "utilization": None if c.utilization is None else round(c.utilization, 6),
            }
            for c in use.commitments
        ],
    }
