"""Cost, tags, utilization, realized savings and the bill, as the pages read them.

Each is the analysis' or the bill's own reader (`analysis/stored.py`, `billing/window.py`) on the
page's store, cached: the dashboard defines no cost figure of its own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import select

from optimizer.analysis import stored
from optimizer.analysis.cost import WASTE_COLUMNS
from optimizer.analysis.rollup import DAILY_DIMS
from optimizer.billing import window as bill
from optimizer.dashboard.queries.cache import cached
from optimizer.dashboard.realized import Realized, window_start
from optimizer.dashboard.realized import realized_savings as sum_realized
from optimizer.dashboard.state import engine_for
from optimizer.store.schema import COLLECTED_DATASET
from optimizer.store.tables.billing import bill_months

COST_DIMS = DAILY_DIMS
COST_SUMS = ("total_usd", "attributed_usd", *WASTE_COLUMNS, "vcpu_hours")


@cached
def cost_datasets(url: str) -> list[str]:
    """Histories with attributed cost ("aws" for collected; imported traces by their name)."""
    return stored.cost_datasets(engine_for(url))


@cached
def mnp_figures(url: str, dataset: str = COLLECTED_DATASET) -> tuple[int, float, float] | None:
    """(MNP jobs, nodes' cost, gang-formation idle USD) of the latest analysis, None without MNP jobs."""
    return stored.latest_mnp_figures(engine_for(url), dataset)


@cached
def cost_day_range(url: str, dataset: str = COLLECTED_DATASET) -> tuple[datetime, datetime] | None:
    """First and last day in the cost aggregate, or None when `batchopt analyze` has not run."""
    return stored.cost_day_range(engine_for(url), dataset)


@cached
def cost_filter_values(url: str, dataset: str = COLLECTED_DATASET) -> dict[str, list[str]]:
    """Distinct values of each cost dimension, for the explorer's filters."""
    return stored.cost_dimension_values(engine_for(url), dataset)


@cached
def cost_summary(
    url: str,
    since: datetime,
    until: datetime,
    by: tuple[str, ...] = (),
    *,
    daily: bool = False,
    where: stored.CostFilter = (),
    dataset: str = COLLECTED_DATASET,
) -> pd.DataFrame:
    """`analysis.stored.read_cost_daily` over [since, until), grouped by `by` (and the day if `daily`)."""
    return stored.read_cost_daily(
        engine_for(url),
        by,
        period="day" if daily else None,
        dataset=dataset,
        since=since,
        until=until,
        where=where,
    )


def window_before(last_day: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) of the `days` days ending with `last_day` (inclusive)."""
    end = pd.Timestamp(last_day).normalize().to_pydatetime() + timedelta(days=1)
    return end - timedelta(days=days), end


def last_full_day(
    last_data_day: datetime, today: date, data_end: datetime | None = None
) -> tuple[datetime, datetime | None]:
    """The last complete UTC day with data, and the day left out as partial (None when none was):
    every page's "last N days" ends there (Overview, Fleet mix), so none draws a day's first few
    hours as a drop in spend and two pages' windows of the same length agree.

    With `data_end` (when the cost data stops: the last successful collection of its sources,
    `cost_data_end`) the last data day is also partial when the data stops before that day ends:
    opened the next day with no collection since, the Overview counted the demo's last day (13 h of
    data, $455.55 against about $780 a day) as full and showed a $1,571.79 drop. Today's date is
    always partial."""
    day = pd.Timestamp(last_data_day).normalize().to_pydatetime()
    if day.date() >= today:
        return datetime.combine(today - timedelta(days=1), datetime.min.time()), datetime.combine(
            today, datetime.min.time()
        )
    if data_end is not None and pd.Timestamp(data_end).to_pydatetime() < day + timedelta(days=1):
        return day - timedelta(days=1), day
    return day, None


@cached
def cost_data_end(url: str, dataset: str) -> datetime | None:
    """When the collected history's cost data stops: the last successful run of the sources costs
    are made of (`stored.COST_SOURCES`); None for an imported trace, whose history ends
    where it ends."""
    return stored.cost_data_end(engine_for(url)) if dataset == COLLECTED_DATASET else None


def prior_window(since: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) of the `days` whole days just before `since`, the comparison window of a
    `days`-long window starting at `since` (as many days, ending where it starts)."""
    return window_before(pd.Timestamp(since).to_pydatetime() - timedelta(days=1), days)


@cached
def tag_keys(url: str, dataset: str = COLLECTED_DATASET) -> list[str]:
    """Job tag keys the analysis aggregated cost by (its most common keys)."""
    return stored.cost_tag_keys(engine_for(url), dataset)


@cached
def cost_by_tag(
    url: str, key: str, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> pd.DataFrame:
    """Cost per value of one tag key over [since, until) (idle capacity keeps its own row)."""
    return stored.read_cost_by_tag(engine_for(url), key, dataset=dataset, since=since, until=until)


@cached
def utilization_totals(
    url: str, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> dict[str, float] | None:
    """Capacity, allocated and used vCPU- and GiB-hours over [since, until), with the analysis'
    ratios (`analysis.utilization.add_ratios`); None when no capacity was recorded."""
    return stored.read_utilization_totals(engine_for(url), dataset=dataset, since=since, until=until)


@cached
def realized_savings(url: str, dataset: str = COLLECTED_DATASET, today: date | None = None) -> Realized:
    """Measured savings of applied compute-environment changes (`analysis.realized`, summed by
    `dashboard.realized`) from the store's applies and those CEs' daily costs."""
    engine = engine_for(url)
    changes = stored.applied_compute_environment_changes(engine)
    start = window_start(list(pd.to_datetime(changes["applied_at"]))) if not changes.empty else None
    if start is None:
        return Realized(0.0, 0, len(changes), "No applied compute-environment change to measure yet.")
    arns = tuple(changes["compute_environment_arn"].tolist())
    days = stored.read_cost_daily(
        engine,
        ("compute_environment_arn", "queue"),
        dataset=dataset,
        since=start,
        where=(("compute_environment_arn", arns),),
    )
    # (after-windows stop at the last full day, as the Overview's other figures: a partial day of
    # data counted as a whole day of saving pace)
    span = cost_day_range(url, dataset) if today is not None else None
    until = None
    if span is not None and today is not None:
        last, _ = last_full_day(span[1], today, cost_data_end(url, dataset))
        until = last + timedelta(days=1)
    return sum_realized(changes, days, until)


@cached
def bill_imported(url: str) -> bool:
    """Whether any bill has been imported (`batchopt import-bill`): pages show nothing new if not."""
    with engine_for(url).connect() as conn:
        return conn.execute(select(bill_months.c.billing_period).limit(1)).first() is not None


@cached
def bill_window(
    url: str, since: datetime, until: datetime, dataset: str = COLLECTED_DATASET
) -> bill.BillWindow | None:
    """Billed, effective, modelled and residual per day of [since, until) the bill covers
    (`optimizer.billing.window.bill_window`, the reconciliation's figures), or None."""
    return bill.bill_window(engine_for(url), since, until, dataset=dataset)


@cached
def bill_month_to_date(url: str, today: date, dataset: str = COLLECTED_DATASET) -> bill.BillWindow | None:
    """`bill_window` of `today`'s calendar month through `today`, or None when no bill covers it."""
    return bill.month_to_date(engine_for(url), datetime.combine(today, datetime.min.time()), dataset=dataset)
