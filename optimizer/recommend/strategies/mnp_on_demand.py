"""MNP on demand: gangs on spot capacity that do not retry a lost node go to on-demand capacity.

A multi-node parallel job holds N instances at once and ends when any one of them is reclaimed
(`simulate/gangs.py`: a node's reclaim ends every node's attempt): a gang of N spot instances is
reclaimed N times as often as one instance, and loses the work of all N. Whether the gang then runs
again is its main node's retry strategy's decision: without one that retries a host loss
(`attempts` > 1 with no `evaluateOnExit`, or a RETRY rule whose `onStatusReason` matches
"Host EC2*", `workload.retries_host_loss`) the whole job fails and its hours are lost. AWS also
documents that "multi-node parallel jobs aren't supported on compute environments that use Spot
Instances" (AWS Batch user guide, compute environment considerations for MNP), which the solver
follows (`solver/problem.py`); an estate whose history shows gangs on spot is outside that advice.

For each job queue with MNP jobs in its history and a SPOT compute environment in its order, when
more than `max_uncovered_share` of its gangs do not retry a host loss, the proposal is the queue's
order without its spot CEs when an on-demand EC2 CE remains (gangs, and the queue's other jobs, run
there), else a new on-demand copy of its first spot CE in their place (BEST_FIT_PROGRESSIVE, same
instance types, networking and roles). The alternative, adding a `Host EC2*` RETRY rule to the
definitions, is named in the evidence; it keeps the reclaims and re-runs the lost work.

The figures: the replay of the same history with and without the spot CEs (the monthly figure,
usually a cost: on-demand is dearer; the headline then lists it as costing money), the replayed
gang reclaims and failed jobs before and after, and the expected reclaim loss of the current
replay's gang attempts on spot (each gang attempt of d hours on nodes of hazards h_i is reclaimed at
rate H = sum h_i and loses (1 - e^-Hd (1 + Hd)) / H hours of all its instances' spot prices).
Metadata: low effort (a queue order update, or a new CE and the update), running jobs are not
restarted, reversible (the order is put back).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from optimizer.domain import Recommendation, UpdateKind
from optimizer.recommend.base import QueueStrategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import account_of, edit_queue, is_active, is_managed, order_names, platform_of
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import DAYS_PER_MONTH, MIN_WINDOW_DAYS
from optimizer.recommend.workload import retries_host_loss
from optimizer.simulate import Catalog, ReplayResult

STRATEGY = "mnp-on-demand"
METADATA = {"implementation_effort": "low", "restarts_running_jobs": False, "reversible": True}
ON_DEMAND_STRATEGY = "BEST_FIT_PROGRESSIVE"
HOST_LOSS_RULE = {"onStatusReason": "Host EC2*", "action": "RETRY"}


class MnpOnDemandSettings(StrategySettings):
    max_uncovered_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Queues where at most this share of gangs lacks a host-loss retry are left on spot."""
    max_monthly_cost_usd: float = Field(default=5000.0, ge=0.0)
    """The most moving the gangs to on-demand may cost a month (the replay's figure) to be proposed."""
    name_suffix: str = Field(default="-ondemand", pattern=r"^[A-Za-z0-9_-]{1,16}$")


def gang_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per MNP job of a history: parent id, queue, node count, and whether its main node's
    retry strategy re-runs it after a host loss."""
    if "mnp_parent" not in jobs:
        return pd.DataFrame(columns=["mnp_parent", "queue", "nodes", "retries_host_loss"])
    nodes = jobs[jobs["mnp_parent"].notna()]
    if nodes.empty:
        return pd.DataFrame(columns=["mnp_parent", "queue", "nodes", "retries_host_loss"])
    main = nodes.sort_values("node_index", kind="stable").drop_duplicates("mnp_parent")
    strategies = main["retry_strategy"] if "retry_strategy" in main else pd.Series([None] * len(main))
    return pd.DataFrame(
        {
            "mnp_parent": main["mnp_parent"].to_numpy(),
            "queue": main["queue"].to_numpy(),
            "nodes": main["mnp_parent"].map(nodes["mnp_parent"].value_counts()).to_numpy(),
            "retries_host_loss": [retries_host_loss(s) for s in strategies],
        }
    )


def expected_gang_loss(
    result: ReplayResult, jobs: pd.DataFrame, queue: str, catalog: Catalog
) -> tuple[float, float, float]:
    """(gang attempts on spot, expected reclaims, expected USD lost) of `queue`'s gangs in a replay:
    a gang attempt on nodes of hazards h_i is reclaimed at H = sum h_i and loses
    (1 - e^-Hd (1 + Hd)) / H hours of every node's instance at its spot price."""
    parent = jobs.set_index("job_id")["mnp_parent"] if "mnp_parent" in jobs else pd.Series(dtype=object)
    attempts = result.attempts
    mine = attempts[(attempts["queue"] == queue) & (attempts["capacity_type"] == "SPOT")]
    mine = mine.assign(gang=mine["job_id"].map(parent)).dropna(subset=["gang"])
    if mine.empty:
        return 0.0, 0.0, 0.0
    specs = [catalog.types.get(str(t)) for t in mine["instance_type"]]
    mine = mine.assign(
        hazard=[s.spot_hazard_per_hour if s else 0.0 for s in specs],
        price=[(s.spot_price or 0.0) if s else 0.0 for s in specs],
        hours=((mine["ended_at"] - mine["started_at"]).clip(lower=0).fillna(0.0) / 3600.0).to_numpy(float),
    )
    per_attempt = mine.groupby(["gang", "started_at"]).agg(
        hazard=("hazard", "sum"), price=("price", "sum"), hours=("hours", "max")
    )
    h = per_attempt["hazard"].to_numpy(float)
    hd = h * per_attempt["hours"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = np.where(h > 0, (1.0 - np.exp(-hd) * (1.0 + hd)) / np.where(h > 0, h, 1.0), 0.0)
    reclaims = float((1.0 - np.exp(-hd)).sum())
    return float(len(per_attempt)), reclaims, float((lost * per_attempt["price"].to_numpy(float)).sum())


class MnpOnDemandStrategy(QueueStrategy[MnpOnDemandSettings]):
    name: ClassVar[str] = STRATEGY
    settings_class: ClassVar[type[StrategySettings]] = MnpOnDemandSettings

    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        s = self.settings
        baseline = inputs.baseline
        name = queue["jobQueueName"]
        if not baseline.can_replay or not is_active(queue):
            return None
        gangs = gang_table(baseline.jobs)
        gangs = gangs[gangs["queue"] == name]
        if gangs.empty:
            return None
        order = order_names(queue)
        ces = [inputs.ce_named(n) for n in order]
        if any(ce is None or not is_managed(ce) for ce in ces):
            return None
        spot = [n for n, ce in zip(order, ces, strict=True) if ce is not None and platform_of(ce) == "SPOT"]
        if not spot:
            return None
        uncovered = int((~gangs["retries_host_loss"].astype(bool)).sum())
        share = uncovered / len(gangs)
        if share <= s.max_uncovered_share:
            return None
        remaining = [n for n in order if n not in spot]
        new_body = None
        proposed: dict[str, Any]
        if any(platform_of(inputs.ce_named(n) or {}) == "EC2" for n in remaining):
            new_order = remaining
            proposed = {"compute_environment_order": new_order}
        else:
            new_name = f"{spot[0][: 128 - len(s.name_suffix)]}{s.name_suffix}"
            if inputs.ce_named(new_name) is not None:
                return None  # a CE of that name exists: a person set this up differently; leave it
            new_body = next(
                (
                    copy.deepcopy(b)
                    for b in baseline.current_document["computeEnvironments"]
                    if b["computeEnvironmentName"] == spot[0]
                ),
                None,
            )
            if new_body is None:
                return None
            new_body["computeEnvironmentName"] = new_name
            new_body["computeResources"].update(type="EC2", allocationStrategy=ON_DEMAND_STRATEGY)
            new_body["computeResources"].pop("bidPercentage", None)
            new_order = [new_name, *remaining]
            proposed = {
                "compute_environment_order": new_order,
                "new_compute_environment": {
                    "name": new_name,
                    "based_on": spot[0],
                    "platform": "EC2",
                    "allocation_strategy": ON_DEMAND_STRATEGY,
                },
            }
        document = edit_queue(baseline.current_document, name, new_order, [new_body] if new_body else [])
        comparison = baseline.compare(document)
        if comparison is None or comparison.monthly_savings_usd < -s.max_monthly_cost_usd:
            return None
        per_month = DAYS_PER_MONTH / max(baseline.window_days, MIN_WINDOW_DAYS)
        attempts, reclaims, lost_usd = expected_gang_loss(
            baseline.current(), baseline.jobs, name, baseline.catalog
        )
        saving = comparison.monthly_savings_usd
        cost_text = f"saves ${saving:,.0f}/month" if saving >= 0 else f"costs ${-saving:,.0f}/month more"
        return make_recommendation(
            strategy=self.name,
            target_arn=queue["jobQueueArn"],
            target_kind="job-queue",
            target_name=name,
            title=(
                f"{name}: run its multi-node jobs on on-demand capacity ({uncovered} of {len(gangs)} gangs"
                f" do not retry a lost node; expected reclaim loss ${lost_usd * per_month:,.0f}/month;"
                f" {cost_text} in the replay)"
            ),
            current={"compute_environment_order": order},
            proposed=proposed,
            monthly_savings_usd=saving,
            risk={
                "interruption": (
                    f"gangs on spot: {reclaims * per_month:,.1f} expected gang reclaims a month"
                    f" (replay: {comparison.current.get('spot_reclaims', 0)} reclaimed attempts now,"
                    f" {comparison.proposed.get('spot_reclaims', 0)} after)"
                ),
                "failures": f"failed jobs in the replay: {comparison.failed_delta:+d}",
                "queue_wait": (
                    f"p95 wait {comparison.wait_p95('current') or 0:,.0f}s now,"
                    f" {comparison.wait_p95('proposed') or 0:,.0f}s in the replay"
                ),
                "support": "AWS documents MNP jobs as unsupported on compute environments using Spot",
            },
            risk_scores={"interruption": 0.0},
            confidence=0.7,
            effort="low",
            update_kind=UpdateKind.QUEUE_ORDER,
            evidence={
                "replay": comparison.evidence,
                "metadata": METADATA,
                "gangs": {
                    "mnp_jobs": len(gangs),
                    "without_host_loss_retry": uncovered,
                    "uncovered_share": round(share, 4),
                    "spot_compute_environments": spot,
                    "gang_attempts_on_spot": int(attempts),
                    "expected_gang_reclaims_per_month": round(reclaims * per_month, 3),
                    "expected_reclaim_loss_usd_per_month": round(lost_usd * per_month, 2),
                    "alternative": {
                        "retry_strategy": {"attempts": 3, "evaluateOnExit": [HOST_LOSS_RULE]},
                        "note": "keeps spot: each lost node re-runs the whole gang (the loss above)",
                    },
                },
            },
            account_id=account_of(queue["jobQueueArn"]),
            region=inputs.region,
        )
