"""The demo's optimize and replay stages: a fleet-mix plan per queue, checked by replaying history.

For each job queue of the estate, the solver (`optimizer.solver`) gets the problem built from the
store exactly as `batchopt optimize --queue` builds it (collected jobs, collected catalogue, prices
and spot bands, and the commitments in force: the imported bill's Compute Savings Plan at the
queue's share of its use, and the configured ones); its plan is stored in `fleet_plans` (the
dashboard's Fleet mix and What-if pages read them) and turned into compute environments by
`recommend_environments`. The replay simulator then runs the collected history twice on the
estate's configuration, as it is and with that queue moved to the recommended environments; the
difference in the estate's billed cost (less the other queues' reclaim noise, `replay_plans`),
scaled to a month, is the saving the demo reports. The
solver's own cost is a lower bound of sorts (perfect packing per hour); the replay includes launch
delays, scale-in and spot reclaims, so it is the honest figure.

The plan's cost counts the commitments (covered on-demand hours at no extra cost, the queue's share
of every fee for every hour: `optimizer.solver.commitments`). The replays below are billed the same
way as the recommendations' (`optimizer.recommend.savings.ReplayBaseline`: on-demand hours covered by
the commitments in force, their fees charged), with the whole Batch estate's share of the account's
commitments (`optimizer.recommend.inputs.estate_replay_commitments`), not the queue's: the replay is
of every queue. So a plan that keeps on-demand to fill a Savings Plan is not made to look dearer than
it is, and a move of covered on-demand work to spot pays for the commitment it strands. The list-price
figure is kept beside it (`list_monthly_savings_usd`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from optimizer.config import CommitmentSettings
from optimizer.demo.estate import Estate
from optimizer.errors import InputError
from optimizer.fleet.plans import problem_for_queue, save_fleet_plan, solve_with_bucket_fallback
from optimizer.recommend.savings import DAYS_PER_MONTH, ReplayBaseline
from optimizer.simulate import ReplayResult
from optimizer.solver.compute_environments import EnvironmentSettings, recommend_environments
from optimizer.solver.plan import Plan, plan_to_dict
from optimizer.solver.problem import Commitment, Policy, Problem
from optimizer.solver.solve import solve


@dataclass(frozen=True)
class QueuePlan:
    """One queue's plan and what its replay says it saves."""

    queue: str
    status: str
    plan_cost_usd: float
    selected: tuple[str, ...]
    environments: dict[str, Any]
    plan_document: dict[str, Any]
    interruption_rates: dict[str, float]
    plan_hours: float = 0.0
    """The hours of demand the plan's cost covers (its problem's buckets), not a month."""
    current_usd: float | None = None
    """The whole estate's replayed cost after the commitments, as it is ..."""
    proposed_usd: float | None = None
    """... and with this queue moved to the plan's environments."""
    other_queues_usd: float | None = None
    """How much the other queues' list cost fell between those two replays (reclaim noise, left out)."""
    monthly_savings_usd: float | None = None
    """(current - proposed - other queues) x 30 / days: after the commitments in force."""
    list_monthly_savings_usd: float | None = None
    """The queue's own instance cost difference at list prices, x 30 / days: before any commitment."""


def _timed_solve(problem: Problem) -> Plan:
    return solve(problem, clock=time.monotonic)


def optimize_queues(
    engine: Engine,
    estate: Estate,
    policy: Policy,
    *,
    days: float,
    now: datetime,
    buckets: tuple[float, float] = (3600.0, 300.0),
    commitments: Sequence[CommitmentSettings] = (),
) -> list[QueuePlan]:
    """Solve every queue of the estate, store each plan, and derive its compute environments;
    `buckets` is the (longest, shortest) bucket a queue's problem may get and `commitments` the
    configured ones, as the configuration's `[optimization]` and `[[commitments]]` say for
    `batchopt optimize --queue` (the bill's are read from the store either way)."""
    results = []
    longest, shortest = buckets
    for spec in estate.specs:

        def build(min_bucket: float, queue: str = spec.queue) -> Problem:
            return problem_for_queue(
                engine,
                queue,
                region=estate.region,
                days=days,
                policy=policy,
                bucket_seconds=longest,
                min_bucket_seconds=min_bucket,
                commitments=commitments,
            )

        try:
            problem = build(min(shortest, longest))
        except InputError:
            continue  # a queue without history has nothing to optimize
        started = time.monotonic()
        problem, plan, _ = solve_with_bucket_fallback(problem, longest, build, _timed_solve)
        plan = replace(plan, solve_seconds=time.monotonic() - started)
        save_fleet_plan(engine, spec.queue, problem, plan, now=now)
        settings = EnvironmentSettings(
            name_prefix=f"{spec.queue}-optimized",
            subnets=tuple(estate.subnets),
            tags={"managed-by": "batchopt"},
        )
        environments = (
            recommend_environments(problem, plan, spec.queue, settings) if plan.has_solution else {}
        )
        rates = {o.instance_type: o.interruption_rate for o in problem.offerings if o.is_spot}
        results.append(
            QueuePlan(
                spec.queue,
                plan.status,
                plan.cost_usd,
                tuple(plan.selected),
                environments,
                plan_to_dict(plan),
                rates,
                plan_hours=problem.n_buckets * problem.bucket_hours,
            )
        )
    return results


def _environment_name(reference: Any) -> str:
    """A compute environment's name from a queue's order entry (an ARN or a name)."""
    return str(reference).rsplit("/", 1)[-1]


def proposed_configuration(current: dict[str, Any], plan: QueuePlan) -> dict[str, Any]:
    """The estate's configuration with `plan.queue` moved to the plan's compute environments, and
    its old environments that no other queue uses retired: left in, one with minvCpus would keep
    its idle instances running in the replay (billed, and soaking up commitment coverage) though
    the plan replaces it."""
    proposed = copy.deepcopy(current)
    # A plan with gangs also names an on-demand-only `<queue>-mnp` queue for its MNP jobs
    # (`solver.compute_environments.gang_queue_name`); the history's jobs keep their own queue, and
    # the plan's order for it is the first body.
    queue_body = next(q for q in plan.environments["jobQueues"] if q["jobQueueName"] == plan.queue)
    for queue in proposed["jobQueues"]:
        if queue["jobQueueName"] == plan.queue:
            queue["computeEnvironmentOrder"] = copy.deepcopy(queue_body["computeEnvironmentOrder"])
    used = {
        _environment_name(e["computeEnvironment"])
        for q in proposed["jobQueues"]
        for e in q["computeEnvironmentOrder"]
    }
    old = {
        _environment_name(e["computeEnvironment"])
        for q in current["jobQueues"]
        if q["jobQueueName"] == plan.queue
        for e in q["computeEnvironmentOrder"]
    }
    proposed["computeEnvironments"] = [
        e for e in proposed["computeEnvironments"] if e["computeEnvironmentName"] not in old - used
    ]
    proposed["computeEnvironments"] += copy.deepcopy(plan.environments.get("computeEnvironments") or [])
    return proposed


def plan_pricing(commitments: Sequence[Commitment]) -> str:
    """How the plans' replayed savings are priced, in words, for the demo's output and summary."""
    if not commitments:
        return "at list prices (no commitments in force)"
    kinds = sorted({c.type.replace("_", " ").lower() for c in commitments})
    return (
        f"after the commitments in force ({len(commitments)}: {', '.join(kinds)}; the Batch estate's"
        " share, covering on-demand hours and charging their fees in both replays)"
    )


def _queue_cost(result: ReplayResult, environments: set[str]) -> float:
    inst = result.instances
    return float(inst.loc[inst["compute_environment"].isin(environments), "cost_usd"].sum())


def _list_cost(summary: dict[str, Any]) -> float:
    """A replay's cost before any commitment (its instances and Fargate tasks at list prices)."""
    return float(summary.get("list_cost_usd", summary["total_cost_usd"]))


def replay_plans(
    baseline: ReplayBaseline, plans: list[QueuePlan], *, days: float
) -> tuple[float, list[QueuePlan]]:
    """Replay the baseline's history on its current configuration and with each plan's queue moved
    to the plan's environments, both billed with the baseline's commitments (`ReplayBaseline`, as
    the recommendations' replays); returns (the current replay's list cost, for comparison with the
    measured spend, and the plans with their replayed figures).

    A queue's saving is the whole estate's billed difference less the change in the other queues'
    list cost: the replay draws every spot reclaim from one seeded generator, so a plan that adds or
    drops spot instances shifts the other queues' reclaims too (on the demo: cents to a few dollars
    a month), and that noise is not the plan's saving. What remains is the queue's own list-price
    difference plus the commitment coverage (and fee hours) the move gains or strands."""
    current = baseline.current()
    before_billed = float(current.summary["total_cost_usd"])
    order = {q["jobQueueName"]: q["computeEnvironmentOrder"] for q in baseline.current_document["jobQueues"]}
    per_month = DAYS_PER_MONTH / days
    checked = []
    for plan in plans:
        if not plan.environments.get("computeEnvironments"):
            checked.append(plan)
            continue
        old = {_environment_name(e["computeEnvironment"]) for e in order[plan.queue]}
        new = {e["computeEnvironmentName"] for e in plan.environments["computeEnvironments"]}
        proposed = baseline.replay(proposed_configuration(baseline.current_document, plan))
        queue_before, queue_after = _queue_cost(current, old), _queue_cost(proposed, new)
        others = (_list_cost(current.summary) - queue_before) - (_list_cost(proposed.summary) - queue_after)
        after_billed = float(proposed.summary["total_cost_usd"])
        checked.append(
            replace(
                plan,
                current_usd=before_billed,
                proposed_usd=after_billed,
                other_queues_usd=others,
                monthly_savings_usd=(before_billed - after_billed - others) * per_month,
                list_monthly_savings_usd=(queue_before - queue_after) * per_month,
            )
        )
    return _list_cost(current.summary), checked
