"""Fleet plans with a Compute Savings Plan: cost, bound, gap, time and utilization on real weeks.

For the busiest week of the KTH-SP2 and Alibaba GPU traces (whole us-east-1 catalogue, hourly
buckets, no policy limits), a Compute Savings Plan at 72 % of on-demand (a typical 1-year
no-upfront discount) is committed at half of what the week's demand would use of it on average,
so the plan must choose every hour between covered on-demand and spot. Each solve runs three times;
each plan is checked by the independent validator. It is compared with the commitment-blind plan
(solved without the commitment, then billed with it: what a planner that ignores commitments costs).

Targets: every plan valid; every solve < 10 s; the commitment-aware plan never dearer than the
blind one; gap <= 5 % (the bound relaxes each bucket's budget with multipliers, and an LP bound
with the budgets exact is still 2.5 % below KTH-SP2's optimum, see docs/problem-and-plan.md).
Under the README's example policy (8 types, 3 spot types, spot share 0.8; the same commitment) the
promise is weaker and honest: a plan every run (the blind plan billed when the committed solve has
none), valid, at most 3 % dearer than the blind plan that had the whole limit, and the same 5 %
gap, which these rows miss today: 8.6-8.7 % on KTH-SP2 ($606.12-606.24 against $553.80) and
8.3-8.5 % on Alibaba ($4,203.01-4,210.80 against $3,856.13-3,856.20), 2026-12-05, load 1.3-1.8,
two benchmarks, after the class stage took the spot rows into its MIPs, the time the blind solve
gave up (from 30 % of the limit to 15 %) and the order of the search's per-bucket bounds (in one
of 9 Alibaba runs outside the benchmark the relaxed solve found no plan and the blind one was kept,
$5,108). Before that they were 10.2-14.4 % on KTH-SP2 ($616.88-646.29) and 9.9-26.3 % on Alibaba
($4,275-4,687, or $5,230.16 in 2 of 6 runs where the relaxed solve found no plan and the blind one
was kept), load 1.3-3.7; and 17 % and 34 % when the
blind solve had 60 % of the limit and the bound came from the multipliers of the coupled LP. The
bound ignores the type cap (it is the uncoupled problem's, see docs/problem-and-plan.md), and the
plan is what a 3 s relaxed solve under the cap finds (or the blind plan when it finds none),
re-solved by class on its offerings. With the capacity moves kept to the spot rows and open to
any of the plan's types (2026-12-05, load 2.6-3.6, one benchmark): $605.74-615.13 on KTH-SP2
(8.6-10.5 %) and $4,114 / $4,615 / $4,732 on Alibaba (6.4 / 17.0 / 18.8 %: $4,1xx when the relaxed
solve finds a plan, the blind plan moved and re-solved by class when it does not), where the same
benchmark before them, at load 2.9-5.4, gave $639.81-649.19 and $5,582-5,940. With the
budget-first plan (2026-12-05, load 1.3-1.7, the same hour): KTH-SP2 $597.53-599.80 (7.5-9.9 %)
against $607.99-608.71 (8.9-11.0 %), Alibaba as before ($4,791-4,836 against $4,662-4,741: the
relaxed or blind plan, the budget-first one skipped there). With its rest solved twice (on the
blind plan's instance types, then on the whole catalogue) and run before the relaxed solve
(2026-12-05, load 1.4): KTH-SP2 $595.95-596.39 (7.07-7.14 %), Alibaba $4,102.13-4,107.11
(6.2-6.9 %, 99 % of the Savings Plan used).
The README rows run again in ten-minute buckets (1,008 per week), like the demo's queues: there
the bound comes from each bucket class's exact cover where classes are small (KTH) and from the
per-job charges with per-class multipliers where they are not (Alibaba), and the committed solve
skips its relaxed solve when that would run past its share to a first plan (on Alibaba's week it
ended at 11.1 s on the 9 s limit before, 2026-12-05).
The open rows run in ten-minute buckets too. There, on Alibaba's week, the committed plan was dearer
than the blind one ($5,120-5,478 against $4,913, gap 40-44 %: the groups' relaxed solves ran past
their shares) until the uncoupled solve also ran the blind solve first and kept its plan where
nothing beat it ($3,592-3,595 after its capacity moves, 2026-12-05).
With the pattern LP's rounds warm from a first master of 5,000 columns (2026-12-05, the code before
in the same hour): Alibaba README 6.09-6.13 % against 6.66-6.75 % (its bound $3,855 against
$3,831-3,833), Alibaba open 1.24-1.49 % against 1.54-1.55 %, the KTH rows as before; Alibaba README
in ten-minute buckets $4,081-4,083 against $4,032-4,039, its nested solves now stopping at their
own limits (see docs/problem-and-plan.md, Known limits).
Run: `.venv/bin/python -m benchmarks.commitments` (`--readme`: only the README rows).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

from benchmarks._common import Target, finish, print_table
from benchmarks.optimizer import PRICES, SPOT, TRACES, WEEK, busiest_week, readme_policy
from optimizer.analysis.demand_profile import demand_profile
from optimizer.catalog.from_store import catalog_for_region
from optimizer.solver.build import offerings_from_catalog, problem_from_profile
from optimizer.solver.commitments import bill_plan
from optimizer.solver.policy import policy_from_settings
from optimizer.solver.problem import Commitment, Policy, Problem
from optimizer.solver.requirements import restrict_to_requirements
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan
from optimizer.traces.files import read_trace

REPEATS = 3
DISCOUNT = 0.28
COMMITTED_SHARE = 0.5
GAP_TARGET = 0.05
#: Under the README policy: the blind plan with the whole limit may be cheaper than the one the
#: committed solve computes in BLIND_TIME_SHARE (30 %) of the limit, its answer when the relaxed
#: solve finds nothing better (Alibaba: $5,208-5,233 at 30 %, $5,233 at 15 %, $5,067-5,094 with
#: the whole limit).
README_BLIND_SLACK = 0.03
#: The README rows again in buckets of this length (1,008 per week): short buckets hold a few jobs
#: each, like the demo's queues, where the per-class exact covers give the bound
#: (`optimizer/solver/partition_bound.py`) and a coupled solve's first plan takes longest.
SHORT_BUCKET_SECONDS = 600.0


def _commitment(problem: Problem) -> Commitment:
    """A Compute SP at 72 % of on-demand, sized to half the plan-rate spend of an all-on-demand fleet."""
    on_demand = problem.with_offerings([o for o in problem.offerings if not o.is_spot])
    plan = solve(on_demand, clock=time.perf_counter)
    hourly = plan.cost_usd / (problem.n_buckets * problem.bucket_hours)
    rates = {o.instance_type: o.price_per_hour * (1 - DISCOUNT) for o in problem.offerings if not o.is_spot}
    return Commitment(
        "compute-sp",
        "COMPUTE_SAVINGS_PLAN",
        usd_per_hour=hourly * (1 - DISCOUNT) * COMMITTED_SHARE,
        rates=rates,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _readme(policy: Policy) -> Policy:
    """`policy` with the coupling limits of the README's example (type cap, spot types, spot share),
    read the way benchmarks/optimizer.py reads them."""
    readme = policy_from_settings(readme_policy())
    return replace(
        policy,
        max_instance_types=readme.max_instance_types,
        min_spot_instance_types=readme.min_spot_instance_types,
        max_spot_share=readme.max_spot_share,
    )


def run_trace(
    name: str, offerings: list, *, readme: bool = False, bucket_seconds: float = 3600.0
) -> dict[str, Any]:
    """One trace's rows; `readme`: under the README's coupling policy (the same commitment, sized
    without the policy); `bucket_seconds`: the buckets' length (the demo's queues run 5-10 minute
    buckets, where each bucket holds a few jobs and the bound comes from each class's exact cover)."""
    path, fmt = TRACES[name]
    jobs = read_trace(path, fmt).jobs
    start = busiest_week(jobs)
    icf = max(float(jobs["runtime_s"].mean()) / 3600.0 / 2.0, 0.0)
    policy = Policy(interruption_cost_factor=icf, time_limit_seconds=9.0)
    profile = demand_profile(jobs, bucket_seconds=bucket_seconds, start_s=start, end_s=start + WEEK)
    problem = restrict_to_requirements(problem_from_profile(profile, offerings, policy))
    sp = _commitment(problem.with_policy(replace(policy, time_limit_seconds=5.0)))
    if readme:
        problem = problem.with_policy(_readme(policy))
        name = f"{name}, README policy"
    if bucket_seconds != 3600.0:
        name = f"{name}, {bucket_seconds / 60:g}-minute buckets"
    committed = problem.with_commitments((sp,))
    blind = solve(problem, clock=time.perf_counter)
    blind_billed = bill_plan(committed, replace(blind, lower_bound_usd=0.0))
    runs = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        plan = solve(committed, clock=time.perf_counter)
        seconds = time.perf_counter() - t0
        errors = validate_plan(committed, plan)
        runs.append(
            {
                "status": plan.status,
                "cost_usd": round(plan.cost_usd, 2),
                "commitment_usd": round(plan.commitment_usd, 2),
                "lower_bound_usd": round(plan.lower_bound_usd, 2),
                # The committed LP's certified bound (budgets as rows, `committed_lp.py`), where
                # its child certified one: part of the bound, shown to see which part binds.
                "committed_lp_bound_usd": _rounded(plan.stats.get("committed_lp_bound_usd")),
                "gap": plan.gap,
                "seconds": round(seconds, 2),
                "utilization": plan.commitments[0]["utilization"] if plan.commitments else None,
                "valid": not errors,
                "errors": errors[:3],
            }
        )
    size = f"{len(problem.shapes)} shapes, {len(problem.offerings)} offerings"
    print(f"\n== {name}: {size}, SP ${sp.usd_per_hour:.2f}/h ==")
    print_table(
        ["run", "status", "cost $", "of which fee $", "bound $", "budget-row LP $", "gap", "time s",
         "SP utilization", "valid"],
        [
            [k + 1, r["status"], r["cost_usd"], r["commitment_usd"], r["lower_bound_usd"],
             "" if r["committed_lp_bound_usd"] is None else r["committed_lp_bound_usd"], f"{r['gap']:.2%}",
             r["seconds"], f"{r['utilization']:.1%}", r["valid"]]
            for k, r in enumerate(runs)
        ]
        + [["blind", blind.status, round(blind_billed.cost_usd, 2), round(blind_billed.commitment_usd, 2), "",
            "", "", round(blind.solve_seconds, 2), f"{blind_billed.commitments[0]['utilization']:.1%}", ""]],
    )  # fmt: skip
    return {
        "trace": name,
        "commitment": {"usd_per_hour": sp.usd_per_hour, "discount": DISCOUNT},
        "runs": runs,
        "blind_cost_usd": round(blind_billed.cost_usd, 2),
        "blind_utilization": blind_billed.commitments[0]["utilization"],
    }


def main() -> int:
    catalog = catalog_for_region(None, "us-east-1", prices_path=str(PRICES), spot_advisor_path=str(SPOT))
    offerings = offerings_from_catalog(catalog)
    only_readme = "--readme" in sys.argv[1:]
    results = [] if only_readme else [run_trace(name, offerings) for name in TRACES]
    if not only_readme:
        results += [run_trace(name, offerings, bucket_seconds=SHORT_BUCKET_SECONDS) for name in TRACES]
    results += [run_trace(name, offerings, readme=True) for name in TRACES]
    results += [
        run_trace(name, offerings, readme=True, bucket_seconds=SHORT_BUCKET_SECONDS) for name in TRACES
    ]
    targets = []
    for r in results:
        t, runs = r["trace"], r["runs"]
        valid = all(x["valid"] for x in runs)
        dearest = max(x["cost_usd"] for x in runs)
        targets += [
            Target(f"{t}: every plan valid", valid, "yes", valid),
            Target(f"{t}: slowest solve", f"{max(x['seconds'] for x in runs):.2f} s", "< 10 s",
                   max(x["seconds"] for x in runs) < 10.0),
        ]  # fmt: skip
        if "README" in t:
            # Under coupling policies the committed solve runs blind first (BLIND_TIME_SHARE of the
            # limit), so it may be dearer than the blind plan that had the whole limit by what that
            # costs; it must always have a plan. Its gap is held to the same target: measured
            # 8.3-8.7 % (2026-12-05, after the spot rows went into the class stage's MIPs and the
            # blind solve's share to 15 %; 10-26 % before that, 17-35 % before the blind solve's
            # share went from 60 % to 30 % and the bound to the uncoupled problem's groups), see
            # the module docstring.
            solved = all(x["status"] in ("OPTIMAL", "FEASIBLE") for x in runs)
            targets += [
                Target(f"{t}: a plan every run", solved, "yes", solved),
                Target(f"{t}: dearest aware plan vs blind", f"${dearest:,.2f} vs ${r['blind_cost_usd']:,.2f}",
                       f"<= +{README_BLIND_SLACK:.0%}",
                       dearest <= r["blind_cost_usd"] * (1 + README_BLIND_SLACK)),
            ]  # fmt: skip
        else:
            targets.append(
                Target(f"{t}: dearest aware plan vs blind", f"${dearest:,.2f} vs ${r['blind_cost_usd']:,.2f}",
                       "<=", dearest <= r["blind_cost_usd"] + 0.01)
            )  # fmt: skip
        targets.append(
            Target(f"{t}: largest gap", f"{max(x['gap'] for x in runs):.2%}", f"<= {GAP_TARGET:.0%}",
                   max(x["gap"] for x in runs) <= GAP_TARGET)
        )  # fmt: skip
    return finish("commitments", {"results": results}, targets)


if __name__ == "__main__":
    raise SystemExit(main())
