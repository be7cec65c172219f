"""Billed, effective and modelled cost per day of any window of days, with the residual: what the
dashboard and the weekly report show beside the model.

The figures are `reconcile`'s, per day instead of per month: billed and effective are sums of the
bill's daily aggregate (`bill_daily`: each line item counts on its usage day, so the days of a
month add up to `reconcile`'s month totals),
modelled is `reconcile.modelled_daily` (the same attribution the Cost explorer shows), and the
residual is billed minus modelled, split into its causes (`breakdown.residual_causes`, over the
bill's usage kinds and instances of the covered days). Commitment utilization and EC2 coverage
over the covered days are `commitments.load_commitments`'.

Only the days the bill covers count: for each imported billing month, its first day through the
last day any line item of the month was used (a month exported mid-way covers only its first days).
A window with no covered day has no `BillWindow` (None), so nothing is shown instead of zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, case, func, select

from optimizer.billing.breakdown import instance_bill, residual_causes
from optimizer.billing.commitments import load_commitments
from optimizer.billing.reconcile import day_of, modelled_daily, month_end
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.tables.billing import bill_commitments, bill_daily, bill_months


@dataclass(frozen=True)
class BillDay:
    day: date
    billed_usd: float  # unblended, as the invoice shows it
    effective_usd: float  # amortised, AWS's rule
    modelled_usd: float | None  # None when the store has no Batch history for the window
    unused_commitment_usd: float  # the unused part of Savings Plan and RI fees (in effective_usd)

    @property
    def residual_usd(self) -> float | None:
        return None if self.modelled_usd is None else self.billed_usd - self.modelled_usd


@dataclass(frozen=True)
class BillCommitment:
    """A Savings Plan or RI the bill names in the window; money is over every imported month."""

    arn: str
    kind: str  # savings_plan | reserved_instance
    offering_type: str | None
    hourly_commitment_usd: float | None
    count: float | None
    term: str | None
    payment_option: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    billed_usd: float
    effective_usd: float
    # in the window's covered days (`optimizer.billing.commitments`): used and unused commitment
    used_usd: float = 0.0
    unused_usd: float = 0.0

    @property
    def utilization(self) -> float | None:
        total = self.used_usd + self.unused_usd
        return self.used_usd / total if total > 0 else None


@dataclass(frozen=True)
class ResidualCause:
    """One cause of the residual over the window (`optimizer.billing.breakdown.residual_causes`)."""

    cause: str
    usd: float


@dataclass(frozen=True)
class BillWindow:
    since: datetime
    until: datetime
    days: tuple[BillDay, ...]  # the covered days of [since, until), oldest first
    commitments: tuple[BillCommitment, ...]
    modelled_source: str | None  # "analysis" | "computed" | None (no Batch history)
    causes: tuple[ResidualCause, ...] = ()  # add up to the residual; empty without a model
    commitment_utilization: float | None = None  # all commitments: used / (used + unused)
    commitment_coverage: float | None = None  # EC2: covered / (covered + on demand), on-demand value

    @property
    def covered_days(self) -> tuple[date, ...]:
        return tuple(d.day for d in self.days)

    @property
    def window_days(self) -> int:
        return (self.until - self.since).days

    @property
    def billed_usd(self) -> float:
        return sum(d.billed_usd for d in self.days)

    @property
    def effective_usd(self) -> float:
        return sum(d.effective_usd for d in self.days)

    @property
    def unused_commitment_usd(self) -> float:
        return sum(d.unused_commitment_usd for d in self.days)

    @property
    def modelled_usd(self) -> float | None:
        if self.modelled_source is None:
            return None
        return sum(d.modelled_usd or 0.0 for d in self.days)

    @property
    def residual_usd(self) -> float | None:
        modelled = self.modelled_usd
        return None if modelled is None else self.billed_usd - modelled

    def frame(self) -> pd.DataFrame:
        """One row per covered day: day, billed_usd, effective_usd, modelled_usd, residual_usd."""
        return pd.DataFrame(
            {
                "day": pd.to_datetime([d.day for d in self.days]),
                "billed_usd": [d.billed_usd for d in self.days],
                "effective_usd": [d.effective_usd for d in self.days],
                "modelled_usd": [d.modelled_usd for d in self.days],
                "residual_usd": [d.residual_usd for d in self.days],
            },
            columns=["day", "billed_usd", "effective_usd", "modelled_usd", "residual_usd"],
        )


def covered_days(engine: Engine, since: datetime, until: datetime) -> list[datetime]:
    """The UTC days of [since, until) an imported bill covers (see the module docstring)."""
    d = bill_daily.c
    query = (
        select(bill_months.c.billing_period, func.max(d.day))
        .select_from(bill_months.outerjoin(bill_daily, d.billing_period == bill_months.c.billing_period))
        .group_by(bill_months.c.billing_period)
    )
    with engine.connect() as conn:
        months = conn.execute(query).fetchall()
    first, end = day_of(since), until
    days: set[datetime] = set()
    for period, last in months:
        if last is None:
            continue
        start = day_of(period)
        stop = min(month_end(start), day_of(last) + timedelta(days=1))
        day = max(start, first)
        while day < min(stop, end):
            days.add(day)
            day += timedelta(days=1)
    return sorted(days)


def bill_window(
    engine: Engine, since: datetime, until: datetime, *, dataset: str = COLLECTED_DATASET
) -> BillWindow | None:
    """Billed, effective and modelled cost per covered day of [since, until), and the commitments
    the bill names in it; None when no imported bill covers any day of the window."""
    days = covered_days(engine, since, until)
    if not days:
        return None
    lo, hi = days[0], days[-1] + timedelta(days=1)
    d = bill_daily.c
    unused = func.sum(case((d.usage_kind == "commitment_fee", d.effective_usd), else_=0.0))
    query = (
        select(d.day, func.sum(d.billed_usd), func.sum(d.effective_usd), unused)
        .where(d.day >= lo, d.day < hi)
        .group_by(d.day)
    )
    c = bill_commitments.c
    commitments_query = (
        select(
            c.arn,
            c.kind,
            c.offering_type,
            c.hourly_commitment_usd,
            c.count,
            c.term,
            c.payment_option,
            c.starts_at,
            c.ends_at,
            c.billed_usd,
            c.effective_usd,
        )
        .where(c.first_seen < hi, c.last_seen >= lo)
        .order_by(c.arn)
    )
    with engine.connect() as conn:
        sums = {day_of(row[0]): row[1:] for row in conn.execute(query)}
        commitments = conn.execute(commitments_query).fetchall()
    kinds_query = (
        select(d.usage_kind, func.sum(d.billed_usd)).where(d.day >= lo, d.day < hi).group_by(d.usage_kind)
    )
    with engine.connect() as conn:
        by_kind = {str(k): float(v or 0.0) for k, v in conn.execute(kinds_query)}
    use = load_commitments(engine, since=lo, until=hi)
    used = {c.arn: c for c in use.commitments}
    modelled, source = modelled_daily(engine, lo, hi, dataset)
    per_day = {} if modelled is None else {day_of(k): float(v) for k, v in modelled.items()}
    rows = []
    for day in days:
        billed, effective, idle_commitment = sums.get(day, (0.0, 0.0, 0.0))
        rows.append(
            BillDay(
                day=day.date(),
                billed_usd=float(billed or 0.0),
                effective_usd=float(effective or 0.0),
                modelled_usd=None if modelled is None else per_day.get(day, 0.0),
                unused_commitment_usd=float(idle_commitment or 0.0),
            )
        )
    residual = None if modelled is None else sum(r.billed_usd - (r.modelled_usd or 0.0) for r in rows)
    return BillWindow(
        since=since,
        until=until,
        days=tuple(rows),
        commitments=tuple(
            BillCommitment(
                arn=str(row[0]),
                kind=str(row[1]),
                offering_type=row[2],
                hourly_commitment_usd=None if row[3] is None else float(row[3]),
                count=None if row[4] is None else float(row[4]),
                term=row[5],
                payment_option=row[6],
                starts_at=None if row[7] is None else pd.Timestamp(row[7]).to_pydatetime(),
                ends_at=None if row[8] is None else pd.Timestamp(row[8]).to_pydatetime(),
                billed_usd=float(row[9] or 0.0),
                effective_usd=float(row[10] or 0.0),
                used_usd=used[row[0]].used_usd if row[0] in used else 0.0,
                unused_usd=used[row[0]].unused_usd if row[0] in used else 0.0,
            )
            for row in commitments
        ),
        modelled_source=source,
        causes=tuple(
            ResidualCause(c["cause"], c["usd"])
            for c in residual_causes(by_kind, instance_bill(engine, dataset, since=lo, until=hi), residual)
        ),
        commitment_utilization=use.utilization,
        commitment_coverage=use.coverage_ratio,
    )


def month_to_date(engine: Engine, now: datetime, *, dataset: str = COLLECTED_DATASET) -> BillWindow | None:
    """`bill_window` of the calendar month of `now` (UTC) through `now`'s day; None when no bill
    covers a day of it."""
    start = datetime(now.year, now.month, 1)
    return bill_window(engine, start, day_of(now.replace(tzinfo=None)) + timedelta(days=1), dataset=dataset)
