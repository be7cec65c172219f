"""What-if: a stored fleet problem with the user's policy and headroom, re-solved by the solver.

Pure pieces: `with_policy` returns a new `batchopt.problem/v1` document (the stored one untouched) and
`compare` lines the stored plan up against the re-solved one. Solving itself is the solver's
(`optimizer.solver`); `solver_entry` finds it, so the page can say plainly when a build lacks it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

POLICY_FIELDS = (
    "max_spot_share",
    "max_instance_types",
    "min_spot_instance_types",
    "interruption_cost_factor",
    "time_limit_seconds",
)


def with_policy(
    problem: Mapping[str, Any], policy: Mapping[str, Any], headroom: float = 0.0
) -> dict[str, Any]:
    """A copy of `problem` with policy fields overridden and every demand count raised by `headroom`.

    Headroom is a fraction (0.2 = plan for 20% more concurrent jobs than history ran), rounded up per
    shape and bucket, so a plan with headroom never has less room than one without.
    """
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"policy: unknown field(s) {sorted(unknown)}")
    if headroom < 0:
        raise ValueError("headroom: must be >= 0")
    out = copy.deepcopy(dict(problem))
    out["policy"] = {**out.get("policy", {}), **{k: v for k, v in policy.items() if v is not None}}
    if headroom:
        demand = out.get("demand", {})
        out["demand"] = {
            shape: [math.ceil(count * (1.0 + headroom) - 1e-9) for count in counts]
            for shape, counts in demand.items()
        }
    return out


def compare(current: Mapping[str, Any], proposed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of (measure, stored plan, re-solved plan) for the headline numbers of two plans."""
    rows = []
    for key, label in (
        ("status", "status"),
        ("cost_usd", "cost (USD)"),
        ("objective_usd", "cost + expected interruptions (USD)"),
        ("lower_bound_usd", "lower bound (USD)"),
        ("gap", "gap"),
        ("solve_seconds", "solve time (s)"),
    ):
        rows.append({"measure": label, "stored plan": current.get(key), "what-if": proposed.get(key)})
    rows.append(
        {
            "measure": "instance types",
            "stored plan": ", ".join(current.get("selected", [])),
            "what-if": ", ".join(proposed.get("selected", [])),
        }
    )
    return rows


def solver_entry() -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The solver's `solve(problem document) -> plan document`, or None when this build lacks it."""
    try:
        from optimizer.solver import solve  # type: ignore[attr-defined]
    except ImportError:
        return None
    return solve  # type: ignore[no-any-return]
