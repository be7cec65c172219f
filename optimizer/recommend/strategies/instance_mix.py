"""Instance-type mix and allocation strategy per CE, from the fleet-mix solver's plan.

For each EC2 or SPOT CE, the jobs of the queues that dispatch to it first become a solver problem
(`optimizer.solver.build`), restricted to the CE's capacity type and to the architectures it runs
now (arm64 is the Graviton strategy's advice, not a silent switch). The plan's selected instance
types replace the CE's, with BEST_FIT_PROGRESSIVE (on-demand) or SPOT_PRICE_CAPACITY_OPTIMIZED
(spot), the strategies Batch can update in place. The policy (type cap, spot diversification and
share, instance requirements) is the `[optimization]` section's, through the one mapping
`policy_from_settings`. Savings come from the replay, not the plan: the plan packs jobs ideally,
the replay runs Batch's own allocation.

Unmanaged CEs get the same analysis as advice: the types, spot and on-demand split and vCPU sizes
for the customer's own scaling (Batch does not manage those instances, and the replay cannot model
an unmanaged CE, so no savings figure is claimed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from optimizer.catalog.batch_rules import UPDATABLE_STRATEGIES, uses_service_linked_role
from optimizer.config import OptimizationSettings
from optimizer.domain import Recommendation, UpdateKind
from optimizer.errors import InputError
from optimizer.recommend.base import Strategy, StrategySettings, make_recommendation
from optimizer.recommend.estate import (
    account_of,
    edit_ce,
    is_active,
    is_managed,
    platform_of,
    queues_by_first_ce,
)
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.workload import tolerant_share
from optimizer.solver.build import build_problem
from optimizer.solver.compute_environments import environment_notes, recommend_environments
from optimizer.solver.plan import Plan, plan_to_dict
from optimizer.solver.policy import policy_from_settings
from optimizer.solver.problem import Policy, Problem
from optimizer.solver.solve import solve

if TYPE_CHECKING:  # a type only: the replay's savings module reads the store
    from optimizer.recommend.savings import Comparison

TOLERANT_SHARE = 0.95
STRATEGY_FOR = {"EC2": "BEST_FIT_PROGRESSIVE", "SPOT": "SPOT_PRICE_CAPACITY_OPTIMIZED"}


class InstanceMixSettings(StrategySettings):
    """`optimization` is the policy section (the engine passes the configured one); on its own the
    strategy spreads spot over at least 3 pools, AWS's diversification advice."""

    bucket_seconds: int = Field(default=3600, ge=60)
    time_limit_seconds: float = Field(default=10.0, gt=0.0)
    min_jobs: int = Field(default=20, ge=1)
    optimization: OptimizationSettings = Field(
        default_factory=lambda: OptimizationSettings(min_spot_instance_types=3)
    )


class InstanceMixStrategy(Strategy[InstanceMixSettings]):
    name: ClassVar[str] = "instance-mix"
    settings_class: ClassVar[type[StrategySettings]] = InstanceMixSettings

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        if inputs.catalog is None:
            return []
        out = []
        first = queues_by_first_ce(inputs.job_queues)
        for ce in inputs.compute_environments:
            queues = first.get(ce["computeEnvironmentName"], [])
            jobs = inputs.jobs_of_queues(queues)
            if len(jobs) < self.settings.min_jobs or not is_active(ce):
                continue
            if is_managed(ce) and platform_of(ce) in STRATEGY_FOR:
                rec = self._managed(inputs, ce, queues, jobs)
            elif not is_managed(ce):
                rec = self._unmanaged(inputs, ce, queues, jobs)
            else:
                rec = None
            if rec is not None:
                out.append(rec)
        return out

    def _policy(self) -> Policy:
        return policy_from_settings(
            self.settings.optimization, time_limit_seconds=self.settings.time_limit_seconds
        )

    def _problem(self, inputs: RecommendInputs, jobs: Any, spot_ok: bool) -> Problem | None:
        # Jobs that would not survive a reclaim are shapes the solver keeps off spot.
        on_demand = frozenset(
            str(q) for q, group in jobs.groupby("queue") if tolerant_share(group) < TOLERANT_SHARE
        )
        assert inputs.catalog is not None
        try:
            return build_problem(
                jobs,
                inputs.catalog,
                self._policy(),
                spot=spot_ok,
                bucket_seconds=float(self.settings.bucket_seconds),
                on_demand_queues=on_demand,
            )
        except InputError:
            return None

    def _solve(self, inputs: RecommendInputs, problem: Problem) -> Plan:
        return solve(problem, clock=inputs.clock or time.monotonic)

    def _managed(
        self, inputs: RecommendInputs, ce: dict[str, Any], queues: list[str], jobs: Any
    ) -> Recommendation | None:
        """The solver's instance types and Batch's allocation strategy for the CE's capacity type,
        kept when they differ from today's and the replay says they save."""
        platform = platform_of(ce)
        res = ce["computeResources"]
        current_types = list(res.get("instanceTypes") or [])
        plan = self._ce_plan(inputs, ce, jobs, current_types, spot=platform == "SPOT")
        if plan is None:
            return None
        new_types = sorted({key.split("/", 1)[0] for key in plan.selected})
        strategy = STRATEGY_FOR[platform]
        current_strategy = res.get("allocationStrategy") or "BEST_FIT"
        proposed: dict[str, Any] = {}
        if sorted(current_types) != new_types:
            proposed["instance_types"] = new_types
        if current_strategy != strategy:
            proposed["allocation_strategy"] = strategy
        if not proposed or not inputs.baseline.can_replay:
            return None
        edit = _set_types_and_strategy(new_types, strategy)
        comparison = inputs.baseline.compare(
            edit_ce(inputs.baseline.current_document, ce["computeEnvironmentName"], edit)
        )
        if comparison is None or comparison.monthly_savings_usd < self.settings.min_monthly_savings_usd:
            return None
        change = _TypeChange(current_types, current_strategy, new_types, strategy, proposed)
        return self._managed_recommendation(inputs, ce, queues, change, plan, comparison)

    def _ce_plan(
        self, inputs: RecommendInputs, ce: dict[str, Any], jobs: Any, current_types: list[str], *, spot: bool
    ) -> Plan | None:
        """The solver's plan for the CE's jobs on offerings of its capacity type and architectures,
        or None when there is no problem, no such offering or no solution."""
        catalog = inputs.baseline.catalog
        arches = {catalog.types[t].arch for t in current_types if t in catalog.types} or {"x86_64"}
        problem = self._problem(inputs, jobs, spot)
        if problem is None:
            return None
        offerings = [o for o in problem.offerings if o.is_spot == spot and o.arch in arches]
        if not offerings:
            return None
        # One CE holds one capacity type: the queue-wide spot share is not its limit; diversification
        # is, on spot.
        policy = replace(
            problem.policy,
            max_spot_share=None,
            min_spot_instance_types=problem.policy.min_spot_instance_types if spot else 0,
        )
        # Commitments cover on-demand usage only: they price the on-demand CE's types, not spot's.
        committed = inputs.commitments_for(ce).commitments if not spot else ()
        plan = self._solve(
            inputs, problem.with_offerings(offerings).with_policy(policy).with_commitments(committed)
        )
        return plan if plan.has_solution else None

    def _managed_recommendation(
        self,
        inputs: RecommendInputs,
        ce: dict[str, Any],
        queues: list[str],
        change: _TypeChange,
        plan: Plan,
        comparison: Comparison,
    ) -> Recommendation:
        name = ce["computeEnvironmentName"]
        spot = platform_of(ce) == "SPOT"
        new_types = change.new_types
        _, wait_now, wait_then = comparison.worst_wait()
        # The planner's rule: in place only with the service-linked role and an in-place strategy.
        infra = change.current_strategy in UPDATABLE_STRATEGIES and uses_service_linked_role(ce)
        return make_recommendation(
            strategy=self.name,
            target_arn=ce["computeEnvironmentArn"],
            target_kind="compute-environment",
            target_name=name,
            title=f"{name}: instance types {', '.join(new_types)} with {change.strategy}",
            current={"instance_types": change.current_types, "allocation_strategy": change.current_strategy},
            proposed=change.proposed,
            monthly_savings_usd=comparison.monthly_savings_usd,
            risk={
                "queue_wait": comparison.wait_text(),
                "interruption": (
                    f"{len(new_types)} spot pools; replay: {comparison.proposed.get('spot_reclaims', 0)}"
                    " reclaimed attempts"
                    if spot
                    else "none (on-demand)"
                ),
                "oom": "types chosen by allocatable memory; job sizes unchanged",
                "rollout": "Batch replaces instances (running jobs finish first)"
                if infra
                else "blue/green: a new CE replaces this one (BEST_FIT or a custom service role cannot be"
                " updated in place)",
            },
            risk_scores={
                "queue_wait": min(1.0, max(0.0, (wait_then - wait_now) / max(wait_now, 60.0))),
                "interruption": 0.1 if spot and len(new_types) < 3 else 0.0,
            },
            confidence=0.75 if plan.status == "OPTIMAL" else 0.6,
            effort="low" if infra else "medium",
            update_kind=UpdateKind.INFRASTRUCTURE if infra else UpdateKind.BLUE_GREEN,
            evidence={"replay": comparison.evidence, "plan": _plan_summary(plan), "queues": queues},
            account_id=account_of(ce["computeEnvironmentArn"]),
            region=inputs.region,
        )

    def _unmanaged(
        self, inputs: RecommendInputs, ce: dict[str, Any], queues: list[str], jobs: Any
    ) -> Recommendation | None:
        """Advice only for an UNMANAGED CE: Batch does not scale its instances, so the solver's
        fleet is offered for the owner's own scaling, with no savings figure claimed."""
        solved = self._unmanaged_plan(inputs, ce, jobs)
        if solved is None:
            return None
        problem, plan = solved
        fleets = _fleets(problem, plan, queues[0])
        if not fleets:
            return None
        return _unmanaged_advice(self.name, inputs, ce, queues, problem, plan, fleets)

    def _unmanaged_plan(
        self, inputs: RecommendInputs, ce: dict[str, Any], jobs: Any
    ) -> tuple[Problem, Plan] | None:
        """The fleet-mix problem of the CE's history and its solved plan, spot and on-demand chosen
        together with the commitments in force (they price a move that strands them); None when
        there is no problem or no solution."""
        problem = self._problem(inputs, jobs, True)
        if problem is None:
            return None
        problem = problem.with_commitments(inputs.commitments_for(ce).commitments)
        plan = self._solve(inputs, problem)
        if not plan.has_solution:
            return None
        return problem, plan


def _fleets(problem: Problem, plan: Plan, queue: str) -> list[dict[str, Any]]:
    """The compute environments the plan recommends for `queue` (`recommend_environments`), as the
    fleet fields an owner scaling their own instances reads: platform, types, strategy, vCPUs."""
    document = recommend_environments(problem, plan, queue)
    return [
        {
            "platform": env["computeResources"]["type"],
            "instance_types": env["computeResources"]["instanceTypes"],
            "allocation_strategy": env["computeResources"]["allocationStrategy"],
            "min_vcpus": env["computeResources"]["minvCpus"],
            "max_vcpus": env["computeResources"]["maxvCpus"],
        }
        for env in document["computeEnvironments"]
    ]


def _unmanaged_advice(
    strategy: str,
    inputs: RecommendInputs,
    ce: dict[str, Any],
    queues: list[str],
    problem: Problem,
    plan: Plan,
    fleets: list[dict[str, Any]],
) -> Recommendation:
    """The advice-only recommendation for an unmanaged CE: not applicable, no saving (the replay
    cannot model instances Batch does not manage), the plan's cost and notes as evidence."""
    name = ce["computeEnvironmentName"]
    return make_recommendation(
        strategy=strategy,
        target_arn=ce["computeEnvironmentArn"],
        target_kind="compute-environment",
        target_name=name,
        title=f"{name} (unmanaged): fleet advice for your own scaling",
        current={"unmanaged_vcpus": ce.get("unmanagedvCpus")},
        proposed={"fleets": fleets},
        monthly_savings_usd=0.0,
        risk={
            "note": "Batch does not manage these instances; the replay cannot model them, so no"
            " savings figure is claimed (see evidence.plan for the planned cost of the history)",
        },
        risk_scores={},
        confidence=0.5,
        effort="high",
        update_kind=UpdateKind.ADVICE,
        evidence={
            "plan": _plan_summary(plan),
            "queues": queues,
            "notes": environment_notes(problem, plan),
        },
        account_id=account_of(ce["computeEnvironmentArn"]),
        region=inputs.region,
        applicable=False,
    )


@dataclass(frozen=True)
class _TypeChange:
    """A managed CE's instance types and allocation strategy now and as planned; `proposed` holds
    the fields that change."""

    current_types: list[str]
    current_strategy: str
    new_types: list[str]
    strategy: str
    proposed: dict[str, Any]


def _set_types_and_strategy(new_types: list[str], strategy: str) -> Callable[[dict[str, Any]], None]:
    """The edit of a CE body that sets the planned instance types and allocation strategy."""

    def edit(body: dict[str, Any]) -> None:
        body["instanceTypes"] = new_types
        body["allocationStrategy"] = strategy

    return edit


def _plan_summary(plan: Plan) -> dict[str, Any]:
    doc = plan_to_dict(plan)
    return {
        k: doc[k]
        for k in (
            "status",
            "cost_usd",
            "objective_usd",
            "lower_bound_usd",
            "gap",
            "selected",
            "commitment_usd",
            "commitments",
        )
        if k in doc
    }
