"""What-if: a stored fleet problem with the user's policy and headroom, re-solved by the solver.

`with_policy` returns a new `batchopt.problem/v1` document (the stored one untouched), `solve_document`
hands it to the solver (`optimizer.solver`), and `compare` lines the stored plan up against the
re-solved one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from optimizer.number_text import commitment_level_text, measure_text
from optimizer.solver.commitments import bill_plan
from optimizer.solver.compute_environments import recommend_environments
from optimizer.solver.plan import plan_from_dict, plan_to_dict, relative_gap
from optimizer.solver.problem import problem_from_dict
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan

POLICY_FIELDS = (
    "max_spot_share",
    "max_instance_types",
    "min_spot_instance_types",
    "interruption_cost_factor",
    "time_limit_seconds",
    "instance_requirements",
)


def with_policy(
    problem: Mapping[str, Any], policy: Mapping[str, Any], headroom: float = 0.0
) -> dict[str, Any]:
    """A copy of `problem` with policy fields overridden (None lifts a limit) and every demand count
    raised by `headroom`.

    Headroom is a fraction (0.2 = plan for 20% more concurrent jobs than history ran), rounded up per
    shape and bucket, so a plan with headroom never has less room than one without.
    """
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"policy: unknown field(s) {sorted(unknown)}")
    if headroom < 0:
        raise ValueError("headroom: must be >= 0")
    out = copy.deepcopy(dict(problem))
    stored = out.get("policy") or {}
    merged = {**stored, **policy}
    if "instance_requirements" in policy:  # a partial override changes only the fields it names
        merged["instance_requirements"] = {
            **(stored.get("instance_requirements") or {}),
            **(policy["instance_requirements"] or {}),
        }
    out["policy"] = merged
    if headroom:
        demand = out.get("demand", {})
        out["demand"] = {
            shape: [math.ceil(count * (1.0 + headroom) - 1e-9) for count in counts]
            for shape, counts in demand.items()
        }
    return out


#: Statuses of a plan that has instances; the others (TIMEOUT, INFEASIBLE) carry none, and their
#: cost, fees and gap are zeros standing for "nothing found", not a fleet that costs $0.00.
SOLVED = ("OPTIMAL", "FEASIBLE")
#: What a plan without a solution shows where its cost, fees or gap would be.
NO_PLAN = "no plan"
#: Measures that only a plan with instances has (its lower bound and solve time hold either way).
PLAN_ONLY = ("cost_usd", "objective_usd", "commitment_usd", "gap")


def has_solution(plan: Mapping[str, Any]) -> bool:
    """Whether a `batchopt.plan/v1` document has instances (see `SOLVED`)."""
    return plan.get("status") in SOLVED


#: The lower bound of an INFEASIBLE what-if: there is no plan to bound.
NO_PLAN_EXISTS = "none: no plan exists"


def _cell(plan: Mapping[str, Any], key: str, kind: str) -> str:
    if key in PLAN_ONLY and not has_solution(plan):
        return NO_PLAN
    if key == "lower_bound_usd" and plan.get("status") == "INFEASIBLE":
        return NO_PLAN_EXISTS  # (the solver reports 0 there: no bound to read as "at least $0")
    return measure_text(plan.get(key), kind)


def no_plan_advice(status: str) -> str:
    """What to do when the re-solve found no plan: an INFEASIBLE policy is not fixed by time (the
    what-if's instance requirements left no type for some job shape), a TIMEOUT may be."""
    if status == "INFEASIBLE":
        return (
            "No plan exists under this policy: relax the instance requirements (excluded families, "
            "generations, accelerators) or the type limits, and press Re-solve."
        )
    return "Press Re-solve to try again, or raise the solver time limit."


def compute_savings_plan_use(
    problem: Mapping[str, Any], plan: Mapping[str, Any]
) -> tuple[float, float | None]:
    """(the $/h of `problem`'s Compute Savings Plans, the share of that commitment `plan` uses over
    its window, or None when it has no such plan or no solution): the utilizations weighted by
    each plan's $/h, i.e. used commitment over total commitment, as Cost Explorer adds them up."""
    levels = {
        c.get("id"): float(c.get("usd_per_hour") or 0.0)
        for c in problem.get("commitments", [])
        if c.get("type") == "COMPUTE_SAVINGS_PLAN"
    }
    total = sum(levels.values())
    if total <= 0.0 or not has_solution(plan):
        return total, None
    used = sum(
        levels[c["id"]] * float(c["utilization"])
        for c in plan.get("commitments", [])
        if c.get("id") in levels and c.get("utilization") is not None
    )
    return total, used / total


def _savings_plan_cells(problem: Mapping[str, Any], plan: Mapping[str, Any]) -> tuple[str, str]:
    level, used = compute_savings_plan_use(problem, plan)
    level_text = commitment_level_text("COMPUTE_SAVINGS_PLAN", level, None, None)
    if level <= 0.0:
        return level_text, "none"
    return level_text, NO_PLAN if used is None else measure_text(used, "percent")


def compare(
    current: Mapping[str, Any],
    proposed: Mapping[str, Any],
    problems: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Rows of (measure, stored plan, re-solved plan) for the headline numbers of two plans, as
    text (`number_text.measure_text`: dollars as $1,234.57, the gap as a percentage), so the table
    shows no raw float; a plan without a solution reads "no plan" where its cost would be (a
    re-solve that timed out once read "$0.00" and "0.0%" beside a $4,304 stored plan).

    With the plans' `problems` (stored, what-if), two more rows: each side's Compute Savings Plan
    level and the share of it used, so a commitment what-if shows what changed beside the costs
    that include its fees (the demo's cpu-batch at $0 read $606.12 against $936.00, and nothing in
    the table said the stored side pays a $0.9069/h commitment of which it uses 90.2 %)."""
    rows = []
    for key, label, kind in (
        ("status", "status", "text"),
        ("cost_usd", "cost (USD)", "usd"),
        ("objective_usd", "cost + expected interruptions (USD)", "usd"),
        ("lower_bound_usd", "lower bound (USD)", "usd"),
        ("commitment_usd", "commitment fees (USD)", "usd"),
        ("gap", "gap", "percent"),
        ("solve_seconds", "solve time (s)", "seconds"),
    ):
        rows.append(
            {
                "measure": label,
                "stored plan": _cell(current, key, kind),
                "what-if": _cell(proposed, key, kind),
            }
        )
    if problems is not None:
        stored, what_if = (
            _savings_plan_cells(problems[0], current),
            _savings_plan_cells(problems[1], proposed),
        )
        rows.insert(5, {"measure": SAVINGS_PLAN_LEVEL, "stored plan": stored[0], "what-if": what_if[0]})
        rows.insert(6, {"measure": SAVINGS_PLAN_USED, "stored plan": stored[1], "what-if": what_if[1]})
    rows.append(
        {
            "measure": INSTANCE_TYPES,
            "stored plan": _types_cell(current),
            "what-if": _types_cell(proposed),
        }
    )
    return rows


#: Under the comparison of plans with commitments: what their costs hold and what a lower level's
#: "saving" means for a commitment already bought (the fees go on until it expires).
COMMITMENT_COST_NOTE = (
    "Costs include each plan's commitment fees ($/h x the window's hours, paid whatever is used): "
    "a lower level's saving in fees is real only for a commitment not yet bought or once it expires."
)
#: The comparison's commitment rows (`compare` with the problems).
SAVINGS_PLAN_LEVEL = "Compute Savings Plan ($/h)"
SAVINGS_PLAN_USED = "Compute Savings Plan utilization"
#: The comparison's row of offerings: a count, the offerings themselves in `offering_rows` (eight
#: offerings joined in one cell, 150 characters, were cut off at a third of them on the demo).
INSTANCE_TYPES = "instance types"
OFFERING_COLUMNS = ["offering", "stored plan", "what-if"]


def _types_cell(plan: Mapping[str, Any]) -> str:
    return f"{len(plan.get('selected') or [])} (listed below)"


def offering_rows(current: Mapping[str, Any], proposed: Mapping[str, Any]) -> pd.DataFrame:
    """One row per offering (`<type>/<capacity>`) either plan selects, with "yes" or "no" under
    each plan: the offerings the comparison counts, each readable in full."""
    chosen = [set(current.get("selected") or []), set(proposed.get("selected") or [])]
    rows = [
        [offering, *("yes" if offering in plan else "no" for plan in chosen)]
        for offering in sorted(chosen[0] | chosen[1])
    ]
    return pd.DataFrame(rows, columns=OFFERING_COLUMNS)


def solve_document(document: dict[str, Any]) -> dict[str, Any]:
    """Solve a `batchopt.problem/v1` document into a `batchopt.plan/v1` one with the solver.

    The solver is pure and takes its clock as a parameter; the dashboard, which may read the clock,
    hands it `time.monotonic`. A malformed stored problem raises `InputError` naming the field.
    """
    problem = problem_from_dict(document, source="stored fleet problem")
    return plan_to_dict(solve(problem, clock=time.monotonic))


def recommended_environments(
    problem: Mapping[str, Any], plan: Mapping[str, Any], queue_name: str
) -> dict[str, Any]:
    """The solver's CreateComputeEnvironment / CreateJobQueue bodies for a plan (see its module)."""
    parsed = problem_from_dict(dict(problem), source="stored fleet problem")
    return recommend_environments(parsed, plan_from_dict(dict(plan), source="what-if plan"), queue_name)


#: The parts of a problem a stored plan's bins are laid out on: when a what-if keeps them all (it
#: changed the policy or the commitments only), the stored plan's fleet can run the what-if's demand.
SAME_FLEET_KEYS = ("bucket_seconds", "buckets", "shapes", "demand", "offerings", "gang_hours")


def stored_plan_priced(
    problem: Mapping[str, Any],
    plan: Mapping[str, Any],
    what_if: Mapping[str, Any],
    proposed: Mapping[str, Any],
) -> dict[str, Any] | None:
    """When the re-solve of `what_if` found no plan, the stored `plan` priced under the what-if's
    commitments, if it is valid there (same demand and offerings, and it meets the what-if policy);
    else None.

    A commitment level changes prices, not what a fleet can run, so the stored fleet answers "what
    would this level cost me and how much of it would I use" even when the re-solve runs out of
    time (the demo's gpu-training under the README policy does at 10 and at 30 s). It proves no
    bound: its lower bound is $0 and its gap 100 %, and the reason says where it comes from."""
    if has_solution(proposed):
        return None
    reason = (
        f"the re-solve ended {proposed.get('status')} without a plan "
        f"({proposed.get('reason') or 'no reason given'}): this is the stored plan's fleet priced "
        "under the what-if commitments, with no bound proven"
    )
    return _price_stored(problem, plan, what_if, proposed, reason, 0.0)


def cheaper_stored_plan(
    problem: Mapping[str, Any],
    plan: Mapping[str, Any],
    what_if: Mapping[str, Any],
    proposed: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The stored `plan`'s fleet priced under the what-if's commitments when it is valid there and
    its objective is below the re-solve's `proposed` one; else None.

    The re-solve stops at its time limit with the best plan it found, which can be worse than the
    fleet the person already has: the demo's cpu-batch at twice its Savings Plan share, solved for
    the stored 10 s, came back at $1,109 using 12 % of the plan while the stored fleet under the same
    plan costs $912 using 63 %, so the page read "more commitment, less of it used". The re-solve's
    lower bound is a bound on the what-if problem, so it stays the bound of the cheaper fleet."""
    if not has_solution(proposed):
        return None
    bound = float(proposed.get("lower_bound_usd") or 0.0)
    reason = (
        f"the re-solve's best plan (cost {measure_text(proposed.get('cost_usd'), 'usd')}) costs more "
        "than the stored plan's fleet priced under the what-if commitments: this is that fleet, with "
        "the re-solve's lower bound"
    )
    priced = _price_stored(problem, plan, what_if, proposed, reason, bound)
    if priced is None or float(priced["objective_usd"]) >= float(proposed.get("objective_usd") or 0.0):
        return None
    return priced


def _price_stored(
    problem: Mapping[str, Any],
    plan: Mapping[str, Any],
    what_if: Mapping[str, Any],
    proposed: Mapping[str, Any],
    reason: str,
    lower_bound_usd: float,
) -> dict[str, Any] | None:
    """The stored plan billed under `what_if`'s commitments with `lower_bound_usd` (0 when no bound
    is known), or None when the stored fleet cannot run the what-if or breaks its policy."""
    if not has_solution(plan):
        return None
    if any(problem.get(k) != what_if.get(k) for k in SAME_FLEET_KEYS):
        return None
    parsed = problem_from_dict(dict(what_if), source="what-if problem")
    stored = plan_from_dict(dict(plan), source="stored fleet plan")
    billed = bill_plan(parsed, stored)
    billed.lower_bound_usd = lower_bound_usd
    billed.gap = relative_gap(billed.objective_usd, lower_bound_usd) if lower_bound_usd > 0 else 1.0
    billed.status = "FEASIBLE"
    billed.reason = reason
    billed.solve_seconds = float(proposed.get("solve_seconds") or 0.0)
    billed.stats = {"priced_stored_plan": True}
    if validate_plan(parsed, billed):
        return None
    return plan_to_dict(billed)
