"""Savings Plans and Reserved Instances as the bill shows them: the one reader other code calls
(the solver's commitments, the strategies, the report and the dashboard).

    commitments = load_commitments(engine, since=datetime(2026, 9, 1), until=datetime(2026, 10, 1))
    for c in commitments.commitments:      # one `Commitment` per SP / RI ARN the bill names
        c.kind, c.hourly_commitment_usd, c.count, c.term, c.utilization, c.rate_vs_on_demand
        c.rate_by_type("us-east-1")        # {"m5.large": 0.062, ...}: the bill's rate per covered hour
    commitments.hours                      # DataFrame, one row per (hour, arn): utilization per hour
    commitments.coverage                   # DataFrame, one row per (hour, region): coverage per hour

Rates: the bill does not list a Savings Plan's rate card, but each covered instance-hour shows
what the plan charged for it; `Commitment.rates` / `rate_by_type` are those observed rates per region
and instance type over the window (an EC2 Instance Savings Plan's family is the family of the types
it covered). Rates are kept per billing month in `bill_commitment_rates`; a window selects the
months whose covered hours it overlaps.

Definitions (AWS's):
- Used commitment: the covered usage at its amortised cost (`savings_plan_savings_plan_effective_cost`,
  `reservation_effective_cost`). Unused: the fee rows' effective cost (SP: `total_commitment_to_date -
  used_commitment` on each hourly fee row; RI: the unused amortised upfront + recurring fee, which
  the bill states once per month on the `RIFee` row).
- Utilization = used / (used + unused). `hours` has a row for each hour a commitment has a line
  item in (an hour without one used nothing of it). Per hour for Savings Plans; for RIs the bill states the
  unused part per month only, so an RI's hourly utilization is its covered instance-hours over its
  number of reservations (None when the bill gives no count; size-flexible RIs are not normalised).
- Coverage (EC2 instances) = the on-demand value of SP/RI-covered instance usage over that of all
  usage a commitment could cover (covered + on-demand; spot is not eligible). Savings Plans also
  cover Fargate and Lambda: those are in a plan's utilization, not in EC2 coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from optimizer.store.read import read_frame
from optimizer.store.tables.billing import (
    bill_commitment_hours,
    bill_commitment_rates,
    bill_commitments,
    bill_coverage_hours,
)


@dataclass(frozen=True)
class CommitmentRate:
    """What a commitment charged per instance-hour of one instance type in one region, as the bill
    shows it over the window (its covered usage at the commitment's amortised rate)."""

    region: str
    instance_type: str
    covered_hours: float
    effective_usd: float
    list_usd: float

    @property
    def usd_per_hour(self) -> float | None:
        return self.effective_usd / self.covered_hours if self.covered_hours > 0 else None

    @property
    def list_usd_per_hour(self) -> float | None:
        return self.list_usd / self.covered_hours if self.covered_hours > 0 and self.list_usd > 0 else None


@dataclass(frozen=True)
class Commitment:
    """One Savings Plan or Reserved Instance, with its use over the window asked for."""

    arn: str
    kind: str  # savings_plan | reserved_instance
    offering_type: str | None  # ComputeSavingsPlans | EC2InstanceSavingsPlans | the RI's usage type
    account_id: str | None
    region: str | None
    hourly_commitment_usd: float | None  # Savings Plans: the committed spend per hour
    count: float | None  # Reserved Instances: number of reservations
    term: str | None  # "1yr" | "3yr" | as the bill states it
    payment_option: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    used_usd: float  # in the window
    unused_usd: float  # in the window
    covered_list_usd: float  # the covered usage at on-demand prices, in the window
    covered_instance_hours: float
    rates: tuple[CommitmentRate, ...] = ()  # per region and instance type it covered, in the window

    def rate_by_type(self, region: str | None = None) -> dict[str, float]:
        """Instance type -> the bill's rate per covered instance-hour (in `region`, or anywhere)."""
        hours: dict[str, float] = {}
        money: dict[str, float] = {}
        for r in self.rates:
            if region is None or r.region == region:
                hours[r.instance_type] = hours.get(r.instance_type, 0.0) + r.covered_hours
                money[r.instance_type] = money.get(r.instance_type, 0.0) + r.effective_usd
        return {t: money[t] / h for t, h in sorted(hours.items()) if h > 0}

    @property
    def utilization(self) -> float | None:
        """used / (used + unused) over the window; None when neither is known."""
        total = self.used_usd + self.unused_usd
        return self.used_usd / total if total > 0 else None

    @property
    def rate_vs_on_demand(self) -> float | None:
        """What covered usage cost under this commitment per dollar of its on-demand value (e.g.
        0.62: the plan's rate is 38 % below on demand), over the window; None without covered use."""
        return self.used_usd / self.covered_list_usd if self.covered_list_usd > 0 else None

    @property
    def savings_usd(self) -> float:
        """What the covered usage would have cost on demand minus what the commitment cost."""
        return self.covered_list_usd - self.used_usd - self.unused_usd


@dataclass(frozen=True)
class Commitments:
    commitments: tuple[Commitment, ...]
    # hour, arn, kind, used_usd, unused_usd, covered_list_usd, covered_instance_hours, utilization
    hours: pd.DataFrame
    coverage: pd.DataFrame  # hour, region, covered/on-demand list USD and hours, spot, coverage

    @property
    def utilization(self) -> float | None:
        """All commitments together over the window."""
        used = sum(c.used_usd for c in self.commitments)
        total = used + sum(c.unused_usd for c in self.commitments)
        return used / total if total > 0 else None

    @property
    def coverage_ratio(self) -> float | None:
        """EC2 coverage over the window: covered / (covered + on-demand), at on-demand value."""
        if self.coverage.empty:
            return None
        covered = float(self.coverage["covered_list_usd"].sum())
        total = covered + float(self.coverage["on_demand_list_usd"].sum())
        return covered / total if total > 0 else None


def _hourly_utilization(hours: pd.DataFrame, counts: dict[str, float | None]) -> pd.Series:
    used, unused = hours["used_usd"].astype(float), hours["unused_usd"].astype(float)
    total = used + unused
    sp = np.where(total > 0, used / total.where(total > 0, 1.0), np.nan)
    count = hours["arn"].map(lambda arn: counts.get(arn) or np.nan).astype(float)
    ri = np.minimum(hours["covered_instance_hours"].astype(float) / count, 1.0)
    value = np.where(hours["kind"] == "reserved_instance", ri, sp)
    return pd.Series(value, index=hours.index).astype(float).where(lambda s: s.notna(), None)


def load_commitments(
    engine: Engine, *, since: datetime | None = None, until: datetime | None = None
) -> Commitments:
    """Every commitment the imported bill names, with its use in [since, until) (UTC, naive) and
    utilization and coverage per hour. Without a bill: no commitments and empty frames."""
    h, c = bill_commitment_hours.c, bill_coverage_hours.c
    hour_q = select(h.hour, h.arn, h.kind, h.used_usd, h.unused_usd, h.covered_list_usd)
    hour_q = hour_q.add_columns(h.covered_instance_hours)
    cov_q = select(
        c.hour, c.region, c.covered_list_usd, c.on_demand_list_usd, c.spot_usd, c.covered_hours
    ).add_columns(c.on_demand_hours, c.spot_hours)
    if since is not None:
        hour_q, cov_q = hour_q.where(h.hour >= since), cov_q.where(c.hour >= since)
    if until is not None:
        hour_q, cov_q = hour_q.where(h.hour < until), cov_q.where(c.hour < until)
    hours = read_frame(engine, hour_q.order_by(h.hour, h.arn))
    coverage = read_frame(engine, cov_q.order_by(c.hour, c.region))
    seen = select(bill_commitments).order_by(bill_commitments.c.arn)
    if since is not None:
        seen = seen.where(bill_commitments.c.last_seen >= since)
    if until is not None:
        seen = seen.where(bill_commitments.c.first_seen < until)
    described = read_frame(engine, seen)
    counts = dict(zip(described["arn"], described["count"], strict=True)) if not described.empty else {}
    rates = _rates(engine, since, until)
    if not hours.empty:
        hours["hour"] = pd.to_datetime(hours["hour"])
        hours["utilization"] = _hourly_utilization(hours, counts)
    if not coverage.empty:
        coverage["hour"] = pd.to_datetime(coverage["hour"])
        eligible = coverage["covered_list_usd"] + coverage["on_demand_list_usd"]
        coverage["coverage"] = (coverage["covered_list_usd"] / eligible.where(eligible > 0)).astype(object)
        coverage["coverage"] = coverage["coverage"].where(eligible > 0, None)
    sums = (
        hours.groupby("arn")[["used_usd", "unused_usd", "covered_list_usd", "covered_instance_hours"]].sum()
        if not hours.empty
        else pd.DataFrame()
    )
    out = []
    for row in described.to_dict("records"):
        s = sums.loc[row["arn"]] if row["arn"] in sums.index else None
        out.append(
            Commitment(
                arn=row["arn"],
                kind=row["kind"],
                offering_type=row["offering_type"],
                account_id=row["account_id"],
                region=row["region"],
                hourly_commitment_usd=_opt(row["hourly_commitment_usd"]),
                count=_opt(row["count"]),
                term=row["term"],
                payment_option=row["payment_option"],
                starts_at=_time(row["starts_at"]),
                ends_at=_time(row["ends_at"]),
                used_usd=float(s["used_usd"]) if s is not None else 0.0,
                unused_usd=float(s["unused_usd"]) if s is not None else 0.0,
                covered_list_usd=float(s["covered_list_usd"]) if s is not None else 0.0,
                covered_instance_hours=float(s["covered_instance_hours"]) if s is not None else 0.0,
                rates=rates.get(row["arn"], ()),
            )
        )
    return Commitments(tuple(out), hours, coverage)


def _rates(
    engine: Engine, since: datetime | None, until: datetime | None
) -> dict[str, tuple[CommitmentRate, ...]]:
    """ARN -> its rates per region and instance type, from the months the window touches."""
    r = bill_commitment_rates.c
    query = select(
        r.arn,
        r.region,
        r.instance_type,
        func.sum(r.covered_hours),
        func.sum(r.effective_usd),
        func.sum(r.list_usd),
    ).group_by(r.arn, r.region, r.instance_type)
    if since is not None:
        query = query.where(r.last_seen >= since)
    if until is not None:
        query = query.where(r.first_seen < until)
    out: dict[str, list[CommitmentRate]] = {}
    with engine.connect() as conn:
        for arn, region, itype, hours, effective, list_usd in conn.execute(query.order_by(r.arn, r.region)):
            rate = CommitmentRate(
                region, itype, float(hours or 0), float(effective or 0), float(list_usd or 0)
            )
            out.setdefault(arn, []).append(rate)
    return {arn: tuple(rows) for arn, rows in out.items()}


def _opt(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _time(value: object) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()  # type: ignore[arg-type]
