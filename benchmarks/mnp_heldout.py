"""Held-out check of fleet plans with multi-node parallel (MNP) jobs (issue 20's "done when").

A plan is learned on four weeks of a real HPC trace whose wide jobs are MNP gangs, then replayed
(`optimizer.simulate`, which places gangs as Batch does) on those four weeks (in sample) and on the
next four (out of sample), next to the typical on-demand estate on the same jobs. Targets per
mapping: the plan costs less than the on-demand estate out of sample, every job is placed (started)
in both replays of the plan, the plan passes the independent validator, and the in-sample and
out-of-sample savings are within `SAVING_TOLERANCE` (percentage points) of each other.

- Trace: KTH SP2 (`shared/data/traces/KTH-SP2-1996-2.1-cln.swf.gz`), the bundled HPC trace with the
  widest jobs. Its widest job has 100 processors, not the 1,024 the issue names: no bundled trace
  has wider ones (the Alibaba GPU trace is not an HPC log and has no parallel jobs).
- Mapping: `TraceMapping.node_split` at `--max-vcpus-per-node 64` (the default: jobs of 65-100
  processors become gangs of 2 nodes), and at 16 as the MNP-heavy case (jobs over 16 processors
  become gangs of 2-7 nodes: most of KTH's vCPU-hours).
- Window: the 8 weeks (from a day boundary) with the most MNP node vCPU-hours at the mapping;
  weeks 1-4 learn, weeks 5-8 test. Hourly buckets.
- Plan: `build_problem` (MNP jobs as gang shapes) on the bundled us-east-1 catalogue, under the
  default policy (instance requirements' defaults, no type cap or spot limits) and the README's
  example policy (the demo's: a type cap, spot diversification and a spot share), `SOLVE_SECONDS`
  to solve;
  its environments document (`recommend_environments`: spot CE first, an on-demand CE, and a
  `-mnp` queue with the on-demand CE only, where the MNP node jobs are submitted, since Batch does not
  run MNP jobs on spot).
- The typical on-demand estate (`on_demand_estate`): the on-demand CE of the replay benchmark's
  typical estate (`benchmarks.replay.configuration`: c5, m5 and r5, BEST_FIT_PROGRESSIVE, minvCpus
  0), alone, with `ESTATE_MAX_VCPUS` so that it never queues for capacity. Same simulation options
  (seed, retry strategy) in every replay.

Run from the repository root:
    .venv/bin/python -m benchmarks.mnp_heldout [--nodes 64 16] [--policies default readme]
Prints a table, writes benchmarks/results/mnp_heldout.json, exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import Target, finish, print_table
from benchmarks.replay import KTH, configuration
from optimizer.analysis.gang_demand import node_rows
from optimizer.catalog.provider import bundled_catalog
from optimizer.simulate import catalog_from_provider, parse_config, replay
from optimizer.solver.build import build_problem
from optimizer.solver.compute_environments import gang_queue_name, recommend_environments
from optimizer.solver.plan import Plan
from optimizer.solver.policy import policy_from_settings
from optimizer.solver.problem import Policy, Problem
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from optimizer.traces import TraceMapping, read_trace

WEEK = 7 * 86400.0
DAY = 86400.0
LEARN_WEEKS = TEST_WEEKS = 4
SOLVE_SECONDS = 20.0
ESTATE_MAX_VCPUS = 4096
#: In-sample and out-of-sample savings (fractions of the on-demand estate's cost) may differ by this
#: much: 5 percentage points, the reading of the issue's "within 5 % of each other" taken here (the
#: difference relative to the in-sample saving is printed next to it).
SAVING_TOLERANCE = 0.05
QUEUE = "main"


def on_demand_estate() -> dict[str, Any]:
    """The typical on-demand estate: the typical estate's on-demand CE alone, one queue."""
    document = configuration(ESTATE_MAX_VCPUS)
    document["computeEnvironments"] = [
        ce for ce in document["computeEnvironments"] if ce["computeResources"]["type"] == "EC2"
    ]
    name = document["computeEnvironments"][0]["computeEnvironmentName"]
    document["jobQueues"][0]["computeEnvironmentOrder"] = [{"order": 1, "computeEnvironment": name}]
    return document


def busiest_mnp_window(jobs: pd.DataFrame, weeks: int) -> float:
    """Start (s, a day boundary) of the `weeks`-long window with the most MNP node vCPU-hours."""
    nodes = jobs[node_rows(jobs)]
    begin = nodes["submit_s"].to_numpy(dtype=float)
    work = nodes["vcpus"].to_numpy(dtype=float) * nodes["runtime_s"].to_numpy(dtype=float)
    days = int(np.ceil(float(jobs["submit_s"].max()) / DAY)) + 1
    per_day = np.bincount((begin // DAY).astype(np.int64), weights=work, minlength=days)
    span = weeks * 7
    window = np.convolve(per_day, np.ones(span), mode="valid")
    return float(np.argmax(window)) * DAY


def in_window(jobs: pd.DataFrame, start_s: float, end_s: float) -> pd.DataFrame:
    """Jobs submitted in [start_s, end_s); an MNP job's nodes go with their main node."""
    submit = jobs["submit_s"].to_numpy(dtype=float)
    return jobs[(submit >= start_s) & (submit < end_s)].reset_index(drop=True)


def plan_environments(problem: Problem, plan: Plan) -> dict[str, Any]:
    document = recommend_environments(problem, plan, QUEUE)
    document["simulation"] = configuration(ESTATE_MAX_VCPUS)["simulation"]
    return document


def with_gang_queue(jobs: pd.DataFrame) -> pd.DataFrame:
    """MNP node jobs submitted to the plan's gang queue (on-demand only), the others to `QUEUE`."""
    queue = np.where(node_rows(jobs), gang_queue_name(QUEUE), QUEUE)
    return jobs.assign(queue=queue)


def replayed(jobs: pd.DataFrame, document: dict[str, Any], catalog: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = replay(jobs, parse_config(document, catalog))
    s = result.summary
    return {
        "cost_usd": float(s["total_cost_usd"]),
        "jobs": len(result.jobs),
        "not_started": int(result.jobs["started_at"].isna().sum()),
        "mnp_jobs": int(s.get("mnp_jobs", 0)),
        "gang_formation_idle_cost_usd": float(s.get("gang_formation_idle_cost_usd", 0.0)),
        "wait_p95_s": s["queue_wait_s"]["ALL"]["p95_s"],
        "seconds": round(time.perf_counter() - t0, 2),
    }


def policy_named(name: str) -> Policy:
    """`default`: the policy's defaults; `readme`: the README's example `[optimization]` (the one the
    demo uses), read as `benchmarks.optimizer` reads it."""
    if name == "readme":
        from benchmarks.optimizer import readme_policy

        return policy_from_settings(readme_policy(), time_limit_seconds=SOLVE_SECONDS)
    return Policy(time_limit_seconds=SOLVE_SECONDS)


def run_mapping(max_vcpus_per_node: float, provider: Any, catalog: Any, policy: str) -> dict[str, Any]:
    jobs = read_trace(KTH, "swf", TraceMapping(max_vcpus_per_node=max_vcpus_per_node)).jobs
    start = busiest_mnp_window(jobs, LEARN_WEEKS + TEST_WEEKS)
    split = start + LEARN_WEEKS * WEEK
    end = split + TEST_WEEKS * WEEK
    learn, test = in_window(jobs, start, split), in_window(jobs, split, end)
    t0 = time.perf_counter()
    problem = build_problem(learn, provider, policy_named(policy), start_s=start, end_s=split)
    plan = solve(problem, clock=time.perf_counter)
    solve_seconds = time.perf_counter() - t0
    errors = validate_plan(problem, plan)
    environments = plan_environments(problem, plan)
    estate = on_demand_estate()
    out: dict[str, Any] = {
        "max_vcpus_per_node": max_vcpus_per_node,
        "policy": policy,
        "window_start_day": start / DAY,
        "learn_jobs": len(learn),
        "test_jobs": len(test),
        "gang_shapes": sum(1 for s in problem.shapes if s.is_gang),
        "plan": {
            "status": plan.status,
            "reason": plan.reason,
            "cost_usd": round(plan.cost_usd, 2),
            "lower_bound_usd": round(plan.lower_bound_usd, 2),
            "gap": round(plan.gap, 5),
            "selected": plan.selected,
            "gangs": plan.stats.get("gangs"),
            "solve_and_build_seconds": round(solve_seconds, 2),
            "validator_errors": errors[:5],
        },
    }
    for label, window in (("in_sample", learn), ("out_of_sample", test)):
        planned = replayed(with_gang_queue(window), environments, catalog)
        baseline = replayed(window, estate, catalog)
        out[label] = {
            "plan": planned,
            "on_demand_estate": baseline,
            "saving": 1.0 - planned["cost_usd"] / baseline["cost_usd"] if baseline["cost_usd"] > 0 else 0.0,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--nodes", type=float, nargs="+", default=[64.0, 16.0], help="--max-vcpus-per-node values"
    )
    parser.add_argument("--policies", nargs="+", choices=["default", "readme"], default=["default", "readme"])
    args = parser.parse_args()
    provider = bundled_catalog("us-east-1")
    catalog = catalog_from_provider(provider)
    records, rows, checks = [], [], []
    for per_node, policy in itertools.product(args.nodes, args.policies):
        r = run_mapping(per_node, provider, catalog, policy)
        records.append(r)
        inside, outside = r["in_sample"], r["out_of_sample"]
        drift = abs(inside["saving"] - outside["saving"])
        label = f"{per_node:g} vCPUs/node, {policy} policy"
        for name, part in (("in", inside), ("out", outside)):
            rows.append(
                [
                    label,
                    name,
                    part["plan"]["jobs"],
                    part["plan"]["mnp_jobs"],
                    part["on_demand_estate"]["cost_usd"],
                    part["plan"]["cost_usd"],
                    f"{part['saving']:.1%}",
                    part["plan"]["not_started"],
                    part["plan"]["gang_formation_idle_cost_usd"],
                    part["plan"]["wait_p95_s"],
                ]
            )
        not_started = inside["plan"]["not_started"] + outside["plan"]["not_started"]
        checks += [
            Target(
                f"{label}: plan cheaper than the on-demand estate out of sample",
                f"${outside['plan']['cost_usd']:,.2f} vs ${outside['on_demand_estate']['cost_usd']:,.2f}",
                "<",
                outside["plan"]["cost_usd"] < outside["on_demand_estate"]["cost_usd"],
            ),
            Target(
                f"{label}: every job placed by the plan", f"{not_started} not started", "0", not_started == 0
            ),
            Target(
                f"{label}: in- vs out-of-sample saving",
                f"{inside['saving']:.1%} vs {outside['saving']:.1%} ({drift * 100:.1f} points, "
                f"{drift / max(inside['saving'], 1e-9):.1%} of the in-sample saving)",
                f"<= {SAVING_TOLERANCE:.0%} points",
                drift <= SAVING_TOLERANCE,
            ),
            Target(
                f"{label}: plan passes the validator",
                f"{len(r['plan']['validator_errors'])} errors",
                "0",
                not r["plan"]["validator_errors"],
            ),
        ]
        print(
            f"{label}: plan {r['plan']['status']} ${r['plan']['cost_usd']:,.2f} (bound "
            f"${r['plan']['lower_bound_usd']:,.2f}), gang hosts {(r['plan']['gangs'] or {}).get('hosts')}",
            file=sys.stderr,
        )
    print_table(
        [
            "mapping",
            "sample",
            "jobs",
            "MNP",
            "on-demand USD",
            "plan USD",
            "saving",
            "not started",
            "formation idle USD",
            "wait p95 s",
        ],
        rows,
    )
    return finish("mnp_heldout", {"results": records}, checks)


if __name__ == "__main__":
    sys.exit(main())
