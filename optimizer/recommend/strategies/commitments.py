"""Commitment advice: the Compute Savings Plan hourly commitment that minimises expected cost.

Advice only (a purchase is never applied). Inputs, all from the snapshot:

- demand: the stored hourly forecast of vCPUs held by running jobs over all queues (`batchopt train`,
  p50 and p90; the table keeps no p10, so p10 = max(0, 2 p50 - p90), the p50-symmetric counterpart of
  p90, and the evidence says so);
- on-demand spend per job vCPU-hour: the replay of the current configuration over the history
  window (its EC2 on-demand cost at list price over the job vCPU-hours it ran), after the change
  the other recommendations the headline counts make to that cost
  (`optimizer.recommend.commitment_basis`: a spot move or a cheaper type shrinks what a plan can
  cover); `generate` runs this strategy after the others and passes that change to `run_after`.
  `run` alone (no other recommendations) sizes on today's usage, and the evidence says which;
- the discount: the Compute Savings Plans in force (the bill's, whose rates are what their covered
  usage cost at the plan rate, or the configured ones); no published 1-year no-upfront rate table is
  in the shared data. Without either, the strategy's `discount` setting, else no advice;
- the Compute Savings Plans already in force, which cover first.

The sizing itself is `optimizer.recommend.commitment_sizing`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.number_text import usd_text
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.commitment_basis import OnDemandChange
from optimizer.recommend.commitment_sizing import (
    HOURS_PER_MONTH,
    NEAR_BEST_SHARE,
    SCENARIO_WEIGHTS,
    Sizing,
    size_compute_savings_plan,
)
from optimizer.recommend.inputs_model import RecommendInputs


class CommitmentAdviceSettings(StrategySettings):
    discount: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Compute Savings Plan discount off on-demand when no plan in force states one (None: no advice)."""
    min_forecast_hours: int = Field(default=24, ge=1)


class CommitmentAdviceStrategy(Strategy[CommitmentAdviceSettings]):
    name: ClassVar[str] = "commitment-advice"
    settings_class: ClassVar[type[StrategySettings]] = CommitmentAdviceSettings

    sized_after_others: ClassVar[bool] = True
    """`generate` runs it after the other strategies and calls `run_after` with their change."""

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        """The advice on today's on-demand usage (no other recommendation applied)."""
        return self.run_after(inputs, OnDemandChange())

    def run_after(self, inputs: RecommendInputs, change: OnDemandChange) -> list[Recommendation]:
        """One Compute Savings Plan sized on the demand forecast's spend, priced at the on-demand
        cost left after `change` (the counted recommendations'), when it saves enough."""
        forecast = inputs.demand_forecast
        if forecast is None or len(forecast) < self.settings.min_forecast_hours:
            return []
        cost = _on_demand_cost(inputs)
        discount, source = self._discount(inputs)
        if cost is None or discount is None:
            return []
        on_demand_usd, vcpu_hours = cost
        existing = sum(
            c.usd_per_hour for c in inputs.commitments.commitments if c.type == "COMPUTE_SAVINGS_PLAN"
        )

        def sized(rate: float) -> Sizing:
            spend = _forecast_spend(forecast, rate)
            return size_compute_savings_plan(spend, discount=discount, existing_usd_per_hour=existing)

        rate_today = on_demand_usd / vcpu_hours
        rate = max(0.0, on_demand_usd + change.usd) / vcpu_hours
        sizing = sized(rate)
        if sizing.usd_per_hour <= 0 or sizing.monthly_savings_usd < self.settings.min_monthly_savings_usd:
            return []
        evidence = _evidence(sizing, rate, source, inputs, len(forecast))
        today = sizing if change.today else sized(rate_today)
        evidence["sized_on"] = _sized_on(change, on_demand_usd, today)
        evidence["sized_after_recommendations"] = list(change.ids)
        evidence["on_demand_usd_per_vcpu_hour_today"] = round(rate_today, 6)
        return [self._recommendation(inputs, sizing, existing, evidence)]

    def _recommendation(
        self, inputs: RecommendInputs, sizing: Sizing, existing: float, evidence: dict[str, Any]
    ) -> Recommendation:
        commitment = round(sizing.usd_per_hour, 2)
        low = sizing.utilization.get("p10", 0.0)
        account = inputs.account_id or ""
        return make_recommendation(
            strategy=self.name,
            target_arn=f"arn:aws:savingsplans::{account}:savingsplan/new-compute-{inputs.region}",
            target_kind="savings-plan",
            target_name=f"Compute Savings Plan ({inputs.region})",
            title=(
                f"Commit ${commitment:,.2f}/h to a Compute Savings Plan "
                f"(break-even at {sizing.break_even_utilization:.0%} utilization)"
            ),
            current={"compute_savings_plans_usd_per_hour": round(existing, 4)},
            # The plans in force stay: the total after the purchase, so the change table does not
            # read as cancelling them ("4.46 -> (not set)").
            proposed={
                "compute_savings_plans_usd_per_hour": round(existing + commitment, 4),
                "new_commitment_usd_per_hour": commitment,
                "type": "COMPUTE_SAVINGS_PLAN",
            },
            monthly_savings_usd=sizing.monthly_savings_usd,
            risk={
                "stranded_commitment": (
                    f"in the low (p10) forecast {low:.0%} used, "
                    f"${sizing.stranded_monthly_usd_p10:,.2f}/month unused; "
                    f"break-even at {sizing.break_even_utilization:.0%}"
                ),
                "near_best": near_best_text(sizing),
                "term": "a purchase binds for its term (1 or 3 years); demand beyond the forecast "
                "horizon is assumed to continue",
            },
            risk_scores={
                "stranded_commitment": max(0.0, sizing.break_even_utilization + 0.1 - low),
            },
            confidence=0.5,
            effort="low",
            update_kind=UpdateKind.ADVICE,
            evidence=evidence,
            account_id=inputs.account_id,
            region=inputs.region,
            applicable=False,
        )

    def _discount(self, inputs: RecommendInputs) -> tuple[float | None, str]:
        prices = {name: spec.ondemand_price for name, spec in inputs.baseline.catalog.types.items()}
        for c, note in _with_notes(inputs):
            if c.type != "COMPUTE_SAVINGS_PLAN":
                continue
            ratios = [r / prices[t] for t, r in c.rates.items() if prices.get(t)]
            if ratios:
                return 1.0 - float(np.median(ratios)), f"plan in force {note}"
        if self.settings.discount is not None:
            return self.settings.discount, "the commitment-advice strategy's discount setting"
        return None, ""


def near_best_text(sizing: Sizing) -> str:
    """The range of commitments that save within `NEAR_BEST_SHARE` of the advised one, and what
    its low end leaves unused in the low forecast (`commitment_sizing`'s module doc: the expected
    cost is flat near its minimum, so the point itself is soft)."""
    low, high = sizing.near_best
    return (
        f"${low:,.2f}-{high:,.2f}/h save at least {1.0 - NEAR_BEST_SHARE:.0%} as much; ${low:,.2f}/h "
        f"leaves ${sizing.near_best_low_stranded_monthly_usd_p10:,.2f}/month unused in the low forecast"
    )


def _forecast_spend(forecast: pd.DataFrame, rate: float) -> dict[str, np.ndarray]:
    """Hourly on-demand spend of the p10 / p50 / p90 demand forecast at `rate` USD per vCPU-hour
    (p10 mirrors p90 around p50: the stored forecast has p50 and p90 only)."""
    p50 = forecast["p50"].to_numpy(dtype=float)
    p90 = np.maximum(forecast["p90"].to_numpy(dtype=float), p50)
    p10 = np.maximum(0.0, 2.0 * p50 - p90)
    return {"p10": p10 * rate, "p50": p50 * rate, "p90": p90 * rate}


def _with_notes(inputs: RecommendInputs) -> list[tuple[Any, str]]:
    notes = inputs.commitments.notes
    out = []
    for c in inputs.commitments.commitments:
        note = next((n for n in notes if n.startswith(f"{c.id}: ")), c.id)
        out.append((c, note))
    return out


def _on_demand_cost(inputs: RecommendInputs) -> tuple[float, float] | None:
    """EC2 on-demand list cost of the current configuration's replay and the job vCPU-hours it ran."""
    baseline = inputs.baseline
    if not baseline.can_replay or baseline.jobs.empty:
        return None
    summary = baseline.current().summary
    on_demand = float(summary["cost_by_capacity_type"].get("ON_DEMAND", 0.0))
    vcpu_hours = float((baseline.jobs["vcpus"] * baseline.jobs["runtime_s"]).sum()) / 3600.0
    if on_demand <= 0 or vcpu_hours <= 0:
        return None
    return on_demand, vcpu_hours


SIZED_ON_TODAY = "today's on-demand usage: no recommendation the headline counts changes it"


def _sized_on(change: OnDemandChange, on_demand_usd: float, today: Sizing) -> str:
    """Which on-demand usage the advice is sized on, in words a reader of the evidence checks."""
    if change.today:
        return SIZED_ON_TODAY
    after = max(0.0, on_demand_usd + change.usd)
    return (
        # "of ... that change it": the headline may count more (the demo: 5 counted, 4 of them
        # change on-demand usage, a spot CE's new mix does not), and "the 4 the headline counts"
        # read as a disagreement with its "5 counted".
        f"the on-demand usage left after the {len(change.ids)} recommendation(s) of those the headline "
        f"counts that change it ({', '.join(change.ids)}): the replay's on-demand cost "
        f"{usd_text(on_demand_usd)} -> "
        f"{usd_text(after)} over the history window. On today's usage it would be "
        f"{usd_text(today.usd_per_hour)}/h saving {usd_text(today.monthly_savings_usd)}/month"
    )


def _evidence(sizing: Any, rate: float, source: str, inputs: RecommendInputs, hours: int) -> dict[str, Any]:
    per_month = HOURS_PER_MONTH / sizing.horizon_hours
    return {
        "forecast": {
            "hours": hours,
            "metric": "vCPUs held by running jobs, all queues (batchopt train)",
            "p10": "max(0, 2 p50 - p90): the stored forecast has p50 and p90 only",
            "scenario_weights": SCENARIO_WEIGHTS,
        },
        "on_demand_usd_per_vcpu_hour": round(rate, 6),
        "on_demand_rate_source": "replay of the current configuration over the history window, after"
        " the on-demand change of the recommendations the headline counts (see sized_on)",
        "discount": round(sizing.discount, 4),
        "rates_source": source
        + " (no published 1-year no-upfront Compute Savings Plan rates in the shared data)",
        "existing_compute_savings_plans_usd_per_hour": round(sizing.existing_usd_per_hour, 4),
        "expected_monthly_cost_usd": round(sizing.expected_cost_usd * per_month, 2),
        "expected_monthly_cost_without_usd": round(sizing.expected_cost_without_usd * per_month, 2),
        "break_even_utilization": round(sizing.break_even_utilization, 4),
        "utilization": {k: round(v, 4) for k, v in sizing.utilization.items()},
        "stranded_monthly_usd": {k: round(v * per_month, 2) for k, v in sizing.stranded_usd.items()},
        "expected_stranded_monthly_usd": round(sizing.expected_stranded_usd * per_month, 2),
        "near_best_usd_per_hour": [round(v, 2) for v in sizing.near_best],
        "near_best_share": NEAR_BEST_SHARE,
        "near_best_low_stranded_monthly_usd_p10": round(sizing.near_best_low_stranded_monthly_usd_p10, 2),
        "commitments_in_force": inputs.commitments.evidence,
        "rule": "commit to the discount-quantile of the plan-rate spend"
        " (optimizer/recommend/commitment_sizing.py)",
    }
