"""After discounts: one place that turns a saving at list (public on-demand) prices into what the
bill would show, given the bill's effective/list ratio for the affected usage.

The model prices instance-hours at list prices; the bill pays less where Savings Plans, RIs and
private rates apply. A saving of $100 a month at list on usage the bill pays at 62% of list saves
$62 of effective cost (as AWS Compute Optimizer's "after discounts" mode states it). The ratio is
the bill's own: effective cost over the on-demand value (`pricing_public_on_demand_cost`) of the
same EC2 instance usage, from the imported bill's daily aggregates.

    ratio = discount_ratio(engine, since, until, purchase_options=("on_demand", "savings_plan"))
    ratio = instance_discount_ratio(engine, since, until, instance_ids=ce_instances)  # or per instance
    after = after_discount(saving_at_list_usd, ratio)   # ratio None (no bill): the list saving
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select

from optimizer.billing.queries import EC2_INSTANCE_KINDS
from optimizer.store.tables.billing import bill_daily, bill_instances

PURCHASE_OPTIONS = tuple(kind.removeprefix("ec2_") for kind in EC2_INSTANCE_KINDS)


@dataclass(frozen=True)
class DiscountRatio:
    """effective / list for the usage asked about, and the money it was measured on."""

    ratio: float
    effective_usd: float
    list_usd: float


def after_discount(saving_at_list_usd: float, ratio: DiscountRatio | float | None) -> float:
    """The saving after discounts: `saving_at_list_usd` x the bill's effective/list ratio. Without a
    ratio (no bill for the usage) the list saving is returned unchanged."""
    if ratio is None:
        return saving_at_list_usd
    value = ratio.ratio if isinstance(ratio, DiscountRatio) else float(ratio)
    return saving_at_list_usd * value


def discount_ratio(
    engine: Engine,
    since: datetime,
    until: datetime,
    *,
    purchase_options: Sequence[str] = PURCHASE_OPTIONS,
    regions: Sequence[str] | None = None,
    accounts: Sequence[str] | None = None,
) -> DiscountRatio | None:
    """The bill's effective/list ratio for EC2 instance usage of [since, until) paid as
    `purchase_options` (on_demand, spot, reserved, savings_plan), optionally in `regions` /
    `accounts`. None when the bill has no such usage with a list price."""
    unknown = set(purchase_options) - set(PURCHASE_OPTIONS)
    if unknown:
        raise ValueError(f"purchase options {sorted(unknown)}: must be among {PURCHASE_OPTIONS}")
    d = bill_daily.c
    query = select(func.sum(d.effective_usd), func.sum(d.list_usd)).where(
        d.day >= since, d.day < until, d.usage_kind.in_([f"ec2_{p}" for p in purchase_options])
    )
    if regions is not None:
        query = query.where(d.region.in_(list(regions)))
    if accounts is not None:
        query = query.where(d.account_id.in_(list(accounts)))
    return _ratio(engine, query)


def instance_discount_ratio(
    engine: Engine,
    since: datetime,
    until: datetime,
    *,
    instance_ids: Sequence[str] | None = None,
    instance_types: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> DiscountRatio | None:
    """The bill's effective/list ratio for the instance-hours of given EC2 instances (e.g. the ones a
    compute environment ran, from the store) or instance types, over the usage days [since, until)
    (`bill_instances`). None when the bill has none of them with a list price."""
    b = bill_instances.c
    query = select(func.sum(b.effective_usd), func.sum(b.list_usd)).where(b.day >= since, b.day < until)
    if instance_ids is not None:
        query = query.where(b.instance_id.in_(list(instance_ids)))
    if instance_types is not None:
        query = query.where(b.instance_type.in_(list(instance_types)))
    if regions is not None:
        query = query.where(b.region.in_(list(regions)))
    return _ratio(engine, query)


def _ratio(engine: Engine, query: Select[tuple[Any, Any]]) -> DiscountRatio | None:
    """Run a `select(sum(effective), sum(list))` and make it a ratio; None without a list price."""
    with engine.connect() as conn:
        effective, list_usd = conn.execute(query).one()
    if not list_usd or float(list_usd) <= 0:
        return None
    return DiscountRatio(float(effective or 0.0) / float(list_usd), float(effective or 0.0), float(list_usd))
