"""The commitments in force for one region and time window, as the fleet solver and the replay use them.

Two sources, merged in one place so every fleet decision (the instance-mix, spot-adoption and
scaling strategies through their replays, the what-if page, auto-tuning) sees the same ones:

- the store's bill (`optimizer.billing.commitments.load_commitments`: every Savings Plan and
  Reserved Instance the imported bill names in the window). The bill states a Savings Plan's hourly
  commitment and what its covered usage cost at the plan rate and at on-demand prices, not a rate
  per instance type, so a Compute Savings Plan's rates are the on-demand prices times the ratio it
  achieved in the window (used / covered at on-demand value). A plan without covered usage in the
  window (no ratio), an EC2 Instance Savings Plan (the bill's columns the store keeps do not name its
  family) and a Reserved Instance without a count or an instance type in its usage type are left out,
  each with a note saying so;
- the `[[commitments]]` section of the TOML configuration (`optimizer.config.CommitmentSettings`):
  for commitments the bill does not show yet, or with rates of their own. An entry whose id equals
  a bill commitment's ARN replaces it.

Rates are only kept for instance types the region's catalogue prices on demand (a rate for a type
that cannot run changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from optimizer.solver.problem import Commitment

if TYPE_CHECKING:  # the strategies read `CommitmentsInForce` and stay free of store and AWS imports
    from sqlalchemy import Engine

    from optimizer.config import CommitmentSettings

BILL_KINDS = {
    "ComputeSavingsPlans": "COMPUTE_SAVINGS_PLAN",
    "EC2InstanceSavingsPlans": "EC2_INSTANCE_SAVINGS_PLAN",
}


@dataclass(frozen=True)
class CommitmentsInForce:
    commitments: tuple[Commitment, ...]
    notes: tuple[str, ...]  # where each came from, how its rates were set, what was left out and why

    @property
    def evidence(self) -> dict[str, object]:
        return {"commitments": [c.id for c in self.commitments], "notes": list(self.notes)}

    def shared(self, share: float | None, scope: str) -> CommitmentsInForce:
        """The commitments as one part of the account (`scope`: a queue, a compute environment)
        sees them: an account's Savings Plans and Reserved Instances cover every eligible usage in
        it, so a part that used `share` of their use in the window is given that share of each
        (a Savings Plan's hourly commitment, a Reserved Instance's count, rounded) instead of the
        whole, which would count the same coverage once per part. `share` None (the bill cannot
        tell): unchanged, with a note saying so."""
        if not self.commitments:
            return self
        if share is None:
            note = (
                f"{scope}: the whole account's commitments, not a share: the bill names no "
                "commitment use per instance in the window (none imported, or imported before "
                "commitment use was kept: re-import it)"
            )
            return CommitmentsInForce(self.commitments, (*self.notes, note))
        kept: list[Commitment] = []
        for c in self.commitments:
            if c.is_reserved:
                count = round(c.count * share)
                if count:
                    kept.append(replace(c, count=count))
            elif share > 0:
                kept.append(replace(c, usd_per_hour=c.usd_per_hour * share))
        note = (
            f"{scope}: {share:.1%} of the account's commitments (its instances' share of their use in "
            "the bill over the window); each Savings Plan's $/h and each reservation count scaled to it"
        )
        return CommitmentsInForce(tuple(kept), (*self.notes, note))


def _overlaps(starts: datetime | None, ends: datetime | None, since: datetime, until: datetime) -> bool:
    return (starts is None or starts < until) and (ends is None or ends > since)


def from_settings(
    entries: Iterable[CommitmentSettings],
    *,
    region: str,
    since: datetime,
    until: datetime,
    on_demand_prices: Mapping[str, float],
) -> tuple[list[Commitment], list[str]]:
    """The configured commitments in force in `region` during [since, until)."""
    out: list[Commitment] = []
    notes: list[str] = []
    for e in entries:
        if e.region not in (None, region) or not _overlaps(e.starts_at, e.ends_at, since, until):
            continue
        if e.type == "RESERVED_INSTANCE":
            assert e.instance_type is not None and e.count is not None
            out.append(Commitment(e.id, e.type, instance_type=e.instance_type, count=e.count))
            notes.append(f"{e.id}: configuration, {e.count} x {e.instance_type} reserved")
            continue
        assert e.usd_per_hour is not None
        rates = dict(e.rates)
        if e.discount is not None:
            for t, price in on_demand_prices.items():
                if t not in rates and (e.family is None or t.split(".", 1)[0] == e.family):
                    rates[t] = price * (1.0 - e.discount)
        rates = {t: r for t, r in rates.items() if t in on_demand_prices}
        if not rates:
            notes.append(f"{e.id}: configuration, left out: none of its types is priced in {region}")
            continue
        out.append(Commitment(e.id, e.type, usd_per_hour=e.usd_per_hour, rates=rates, family=e.family))
        how = (
            f"{e.discount:.0%} off on-demand"
            if e.discount is not None and not e.rates
            else "configured rates"
        )
        notes.append(f"{e.id}: configuration, ${e.usd_per_hour:g}/h, {how}, {len(rates)} types")
    return out, notes


def from_bill(
    engine: Engine, *, region: str, since: datetime, until: datetime, on_demand_prices: Mapping[str, float]
) -> tuple[list[Commitment], list[str]]:
    """The bill's commitments in force in `region` during [since, until) (see the module docstring)."""
    from optimizer.billing.commitments import load_commitments

    out: list[Commitment] = []
    notes: list[str] = []
    for c in load_commitments(engine, since=since, until=until).commitments:
        bill_region = c.region if isinstance(c.region, str) and c.region else None  # NaN from the frame
        if bill_region not in (None, region) or not _overlaps(c.starts_at, c.ends_at, since, until):
            continue
        if c.kind == "reserved_instance":
            instance_type = (c.offering_type or "").rsplit(":", 1)[-1]
            if not c.count or instance_type not in on_demand_prices:
                notes.append(f"{c.arn}: bill, left out: no reservation count or instance type it names")
                continue
            out.append(
                Commitment(c.arn, "RESERVED_INSTANCE", instance_type=instance_type, count=int(c.count))
            )
            notes.append(f"{c.arn}: bill, {int(c.count)} x {instance_type} reserved")
            continue
        kind = BILL_KINDS.get(c.offering_type or "")
        if kind != "COMPUTE_SAVINGS_PLAN":
            notes.append(f"{c.arn}: bill, left out: {c.offering_type or 'unknown'} plans need their family")
            continue
        if not c.hourly_commitment_usd or c.covered_list_usd <= 0:
            notes.append(f"{c.arn}: bill, left out: no hourly commitment or no covered usage to derive rates")
            continue
        ratio = c.used_usd / c.covered_list_usd
        rates = {t: p * ratio for t, p in on_demand_prices.items()}
        out.append(Commitment(c.arn, kind, usd_per_hour=float(c.hourly_commitment_usd), rates=rates))
        notes.append(
            f"{c.arn}: bill, ${c.hourly_commitment_usd:g}/h, rates = on-demand x {ratio:.3f} "
            "(what its covered usage cost at the plan rate over its on-demand value in the window)"
        )
    return out, notes


def commitments_in_force(
    engine: Engine | None,
    settings: Iterable[CommitmentSettings],
    *,
    region: str,
    since: datetime,
    until: datetime,
    on_demand_prices: Mapping[str, float],
) -> CommitmentsInForce:
    """The bill's commitments (when a store is given) and the configured ones, the configured
    replacing a bill commitment of the same id."""
    configured, notes = from_settings(
        settings, region=region, since=since, until=until, on_demand_prices=on_demand_prices
    )
    billed: list[Commitment] = []
    if engine is not None:
        billed, bill_notes = from_bill(
            engine, region=region, since=since, until=until, on_demand_prices=on_demand_prices
        )
        ids = {c.id for c in configured}
        billed = [c for c in billed if c.id not in ids]
        notes = [n for n in bill_notes if not any(n.startswith(f"{i}: ") for i in ids)] + notes
    return CommitmentsInForce(tuple(billed + configured), tuple(notes))
