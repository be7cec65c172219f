"""From a plan to compute environments, in the shape of the AWS Batch API requests (pure).

A spot CE (SPOT_PRICE_CAPACITY_OPTIMIZED over the selected spot types) and an on-demand CE
(BEST_FIT_PROGRESSIVE over the selected on-demand types), and the queue's `computeEnvironmentOrder`
with spot first, so on-demand takes what spot cannot. minvCpus is the capacity the plan keeps running
in every bucket, in whole instances of the CE's largest type (`warm_floor`; held warm anyway, so no
scale-up wait for it); maxvCpus is the plan's peak times a
headroom factor, because history is not a promise and Batch must be able to exceed the plan.

A plan that keeps part of the spot-able work on on-demand (a `max_spot_share` cap, or on-demand
cheaper under a commitment) needs the spot CE capped, else a spot-first queue runs nearly everything
on spot and breaks the plan's share: a What-if at share 0.2 replayed at 87-100 % spot on the demo. Batch's own
lever is the spot CE's maxvCpus: the queue fills spot up to it, the on-demand CE takes the rest.
`spot_cap` sizes it so that the jobs below it add up to the plan's spot job vCPU-hours, and the
on-demand CE's maxvCpus is sized for what then overflows to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimizer.solver.plan import Plan
from optimizer.solver.problem import Problem
from optimizer.solver.spot_work import packed_job_vcpus, spot_job_vcpus, spot_share


@dataclass(frozen=True)
class EnvironmentSettings:
    """Account-specific fields the plan cannot know (networking, roles, names)."""

    name_prefix: str = "batchopt"
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    instance_role: str = "ecsInstanceRole"
    service_role: str | None = None
    headroom: float = 1.25
    tags: dict[str, str] = field(default_factory=lambda: {"managed-by": "batchopt"})


def _vcpu_series(problem: Problem, plan: Plan, spot: bool) -> list[float]:
    vcpus = {o.key: o.vcpus for o in problem.offerings}
    spot_keys = {o.key for o in problem.offerings if o.is_spot}
    return [
        sum(b.count * vcpus[b.offering] for b in bucket if (b.offering in spot_keys) == spot)
        for bucket in plan.buckets
    ]


def warm_floor(series: list[float], largest_type_vcpus: float) -> int:
    """The CE's `minvCpus`: the capacity the plan runs in its quietest bucket, rounded down to whole
    instances of the CE's largest type.

    Batch keeps "the minimum number of vCPUs that a compute environment should maintain"
    (`ComputeResource.minvCpus`) in whole instances of whatever types its allocation strategy
    picks, so a floor of a few vCPUs on a CE that lists a 192-vCPU type can bring up that instance
    and keep it all month (the replay does the same; on a held-out KTH
    month at 16 vCPUs per node, a 4-vCPU spot floor kept a c6a.48xlarge up: $1,355 of a $2,293
    replay). Rounded down to the largest type, the floor never asks for more than the quietest
    bucket runs, whichever type Batch launches to meet it."""
    if not series or largest_type_vcpus <= 0:
        return 0
    return int(min(series) // largest_type_vcpus * largest_type_vcpus)


def spot_cap(packed: np.ndarray, spot: np.ndarray) -> float | None:
    """The job vCPUs a spot-first queue may run on spot at once so that, over the buckets, it runs
    the plan's spot work: the level L with sum_t min(packed_t, L) = sum_t spot_t, where `packed`
    is each bucket's job vCPUs the queue sends to spot first and `spot` the plan's on spot.

    None when the plan runs (all but float noise of) the packed work on spot: no cap is needed.
    Filling spot up to a level is what a capped spot CE ahead of an on-demand one does; the plan may
    have put its spot work in other buckets, but the share of the work, which the policy caps and
    the price follows, is the same."""
    target = float(spot.sum())
    total = float(packed.sum())
    if target >= total - 1e-9 * max(1.0, total):
        return None
    demand = np.sort(packed.astype(float))
    below = 0.0  # work of the buckets already under the level
    for k, value in enumerate(demand):
        level = (target - below) / (len(demand) - k)
        if level <= value:
            return max(0.0, level)
        below += float(value)
    return float(demand[-1])


def _environment(
    name: str,
    capacity: str,
    strategy: str,
    types: list[str],
    bounds: tuple[int, int],
    settings: EnvironmentSettings,
) -> dict[str, Any]:
    min_vcpus, max_vcpus = bounds
    resources: dict[str, Any] = {
        "type": capacity,
        "allocationStrategy": strategy,
        "minvCpus": min(min_vcpus, max_vcpus),
        "maxvCpus": max_vcpus,
        "instanceTypes": types,
        "subnets": list(settings.subnets),
        "securityGroupIds": list(settings.security_group_ids),
        "instanceRole": settings.instance_role,
        "tags": dict(settings.tags),
    }
    body: dict[str, Any] = {
        "computeEnvironmentName": name,
        "type": "MANAGED",
        "state": "ENABLED",
        "computeResources": resources,
        "tags": dict(settings.tags),
    }
    if settings.service_role:
        body["serviceRole"] = settings.service_role
    return body


def _bounds(
    problem: Problem, plan: Plan, settings: EnvironmentSettings, spot_max: int | None
) -> dict[bool, tuple[int, int]]:
    """(minvCpus, maxvCpus) of the spot (True) and on-demand (False) CEs.

    Uncapped: each CE's peak times the headroom. Capped, the spot CE's maxvCpus is `spot_max` when
    given (a caller that replayed the history fitted it: `optimizer.simulate.spot_fit`), else
    `spot_cap_estimate`; it has no headroom, more would break the share. The on-demand CE then gets,
    per bucket, the larger of its own plan and what overflows the cap (the bucket's capacity beyond
    the spot CE), times the headroom."""
    spot_series = _vcpu_series(problem, plan, True)
    od_series = _vcpu_series(problem, plan, False)
    by_key = {o.key: o for o in problem.offerings}
    selected = [by_key[k] for k in plan.selected if k in by_key]
    largest = {
        spot: max((o.vcpus for o in selected if o.is_spot == spot), default=0.0) for spot in (True, False)
    }
    capped = spot_cap_estimate(problem, plan)
    if capped is None:
        spot_max, od_needed = _peak(spot_series, settings), od_series
    else:
        spot_max = capped if spot_max is None else spot_max
        od_needed = [max(od, od + spot - spot_max) for od, spot in zip(od_series, spot_series, strict=True)]
    return {
        True: (warm_floor(spot_series, largest[True]), spot_max),
        False: (warm_floor(od_series, largest[False]), _peak(od_needed, settings)),
    }


def _peak(series: list[float], settings: EnvironmentSettings) -> int:
    return max(1, math.ceil(max(series, default=0.0) * settings.headroom))


def spot_cap_estimate(problem: Problem, plan: Plan) -> int | None:
    """The spot CE's maxvCpus that keeps the plan's spot share, from the plan alone; None when the
    plan runs all its packed work on spot (nothing to cap).

    `spot_cap`'s level in job vCPUs, at the plan's own spot packing (instance vCPUs per job vCPU).
    An estimate: demand is each bucket's peak, so a history whose jobs run below their hourly peaks
    most of the hour puts more of its work under the cap than the buckets say, and Batch may pass
    maxvCpus by one instance; a caller that holds the history fits it by replay instead."""
    if not plan.has_solution:
        return None
    spot_jobs = spot_job_vcpus(problem, plan)
    spot_capacity = sum(_vcpu_series(problem, plan, True))
    level = spot_cap(packed_job_vcpus(problem), spot_jobs)
    if level is None or spot_capacity <= 0.0:
        return None
    if level <= 0.0:  # the plan hosts no job on its spot instances: the share is 0
        return 0
    return math.ceil(level * spot_capacity / float(spot_jobs.sum()) - 1e-9)


def uncapped_spot_max(problem: Problem, plan: Plan, settings: EnvironmentSettings | None = None) -> int:
    """The spot CE's maxvCpus without a cap (its peak times the headroom): the most a fit tries."""
    return _peak(_vcpu_series(problem, plan, True), settings or EnvironmentSettings())


def recommend_environments(
    problem: Problem,
    plan: Plan,
    queue_name: str,
    settings: EnvironmentSettings | None = None,
    *,
    spot_max_vcpus: int | None = None,
) -> dict[str, Any]:
    """CreateComputeEnvironment bodies and the queue's environment order for a solved plan.

    Returns exactly the document `batchopt simulate --config` reads, whatever the plan's status:
    {"computeEnvironments": [CreateComputeEnvironment bodies], "jobQueues": [a CreateJobQueue body
    with the environment order]}, both lists empty when the plan has no solution (what a person
    should know about it is `environment_notes`). `spot_max_vcpus` replaces the spot CE's
    estimated cap (`spot_cap_estimate`) when the plan keeps spot-able work on on-demand.
    """
    settings = settings or EnvironmentSettings()
    if not plan.has_solution:
        return {"computeEnvironments": [], "jobQueues": []}
    by_key = {o.key: o for o in problem.offerings}
    selected = [by_key[k] for k in plan.selected if k in by_key]
    envs: list[dict[str, Any]] = []
    bounds = _bounds(problem, plan, settings, spot_max_vcpus)
    spot_types = sorted({o.instance_type for o in selected if o.is_spot})
    od_types = sorted({o.instance_type for o in selected if not o.is_spot})
    if spot_types:
        envs.append(
            _environment(
                f"{settings.name_prefix}-spot",
                "SPOT",
                "SPOT_PRICE_CAPACITY_OPTIMIZED",
                spot_types,
                bounds[True],
                settings,
            )
        )
    if od_types:
        envs.append(
            _environment(
                f"{settings.name_prefix}-ondemand",
                "EC2",
                "BEST_FIT_PROGRESSIVE",
                od_types,
                bounds[False],
                settings,
            )
        )
    order = [{"order": i + 1, "computeEnvironment": e["computeEnvironmentName"]} for i, e in enumerate(envs)]
    queue = {"jobQueueName": queue_name, "state": "ENABLED", "priority": 1, "computeEnvironmentOrder": order}
    queues = [queue]
    if od_types and _runs_gangs(problem):
        # Batch refuses multi-node parallel jobs on spot CEs: gangs get a queue of their own.
        on_demand = envs[-1]["computeEnvironmentName"]
        queues.append(
            {
                "jobQueueName": gang_queue_name(queue_name),
                "state": "ENABLED",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": on_demand}],
            }
        )
    return {"computeEnvironments": envs, "jobQueues": queues}


def gang_queue_name(queue_name: str) -> str:
    """The queue a plan's multi-node parallel jobs are submitted to (its on-demand CE only)."""
    return f"{queue_name}-mnp"


def _runs_gangs(problem: Problem) -> bool:
    return any(s.is_gang and problem.demand[i].any() for i, s in enumerate(problem.shapes))


def environment_notes(problem: Problem, plan: Plan) -> list[str]:
    """What the environments document cannot say by itself, one sentence each."""
    if not plan.has_solution:
        return [f"plan is {plan.status}: {plan.reason}"]
    by_key = {o.key: o for o in problem.offerings}
    has_spot = any(by_key[k].is_spot for k in plan.selected if k in by_key)
    notes = []
    cap = spot_cap_estimate(problem, plan)
    share = spot_share(problem, plan)
    if cap is not None and share is not None:
        notes.append(
            f"the spot CE's maxvCpus {cap} keeps the plan's spot share ({share:.1%} of job vCPU-hours), "
            "estimated from hourly peaks: jobs that run under their peaks put more of their work on spot, "
            "so replay the history on this document to check it (the What-if page fits the cap by replay)"
        )
    if has_spot and any(not s.spot_ok and not s.is_gang for s in problem.shapes):
        notes.append(
            "shapes with spot_ok=false must be submitted to a queue whose order lists only the on-demand CE"
        )
    if _runs_gangs(problem):
        notes.append(
            "multi-node parallel jobs go to the queue ending in -mnp (on-demand CE only: Batch does not run "
            "them on spot); AWS advises a cluster placement group in the CE's launch template for them"
        )
    if any(s.is_gang and s.efa and problem.demand[i].any() for i, s in enumerate(problem.shapes)):
        # The AWS Batch user guide's "Elastic Fabric Adapter" conditions the plan cannot express.
        notes.append(
            "gangs that use EFA need an AMI with the EFA driver, a launch template with an EFA network "
            "interface, a security group that allows all traffic to and from itself, and all their "
            "instances in one cluster placement group"
        )
    return notes
