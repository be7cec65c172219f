"""`batchopt.plan/v1`: the solver's answer, explicit enough to be checked without trusting the solver.

Every bucket lists its bins (`count` identical instances of one offering, each hosting `jobs`), so
cost, fit, demand and policy can all be recomputed from the document and its problem alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer.errors import InputError

PLAN_SCHEMA = "batchopt.plan/v1"
STATUSES = ("OPTIMAL", "FEASIBLE", "INFEASIBLE", "TIMEOUT")


@dataclass(frozen=True)
class Bin:
    """`count` identical instances of `offering`, each hosting `jobs`, for `hours` of the bucket.

    `hours` is set only on a gang bin of a problem with `gang_hours`: how long, on average, each of
    its instances is held in the bucket (the gang's job hours there / its jobs running), so the
    bin's instance-hours are its nodes' real ones. None: every instance for the whole bucket."""

    offering: str
    count: int
    jobs: Mapping[str, int]
    hours: float | None = None

    def instance_hours(self, bucket_hours: float) -> float:
        """Instance-hours the bin is paid for: count x its hours (the whole bucket when unset)."""
        return self.count * (bucket_hours if self.hours is None else self.hours)


@dataclass
class Plan:
    status: str
    reason: str
    cost_usd: float
    objective_usd: float
    lower_bound_usd: float
    gap: float
    solve_seconds: float
    selected: list[str]
    buckets: list[list[Bin]]
    stats: dict[str, Any] = field(default_factory=dict)
    #: The commitments' fees (usd_per_hour x hours, every bucket): a part of `cost_usd`, paid whatever
    #: the plan runs.
    commitment_usd: float = 0.0
    #: Per commitment of the problem: {"id", "type", "utilization", "covered_usd"} (see
    #: `optimizer.solver.commitments`); empty without commitments.
    commitments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_solution(self) -> bool:
        return self.status in ("OPTIMAL", "FEASIBLE")


#: How far (relative to the objective, at least $1 x this) an honest lower bound may sit above the
#: objective. Only floating-point noise puts it there: HiGHS solves the LPs to ~1e-9 and a bound
#: summed class by class differs in its last bits from an objective summed bin by bin. Anything
#: beyond this is a wrong bound, and the solver and the validator report it as such.
BOUND_TOLERANCE = 1e-6


def relative_gap(objective: float, lower_bound: float) -> float:
    """(objective - bound) / objective, NOT clamped: a bound above the objective gives a negative gap,
    so a wrong bound stays visible (within `BOUND_TOLERANCE` it is float noise, see
    `bound_above_objective`). 0 when the objective is 0 (no demand, or no plan)."""
    if objective <= 0.0:
        return 0.0
    return (objective - lower_bound) / objective


def bound_above_objective(objective: float, lower_bound: float) -> bool:
    """True when the bound exceeds the objective by more than float noise (`BOUND_TOLERANCE`):
    the bound is then wrong, since the plan itself is a solution no cheaper than any bound."""
    return lower_bound - objective > BOUND_TOLERANCE * max(1.0, abs(objective))


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "schema": PLAN_SCHEMA,
        "status": plan.status,
        "reason": plan.reason,
        "cost_usd": round(plan.cost_usd, 6),
        "objective_usd": round(plan.objective_usd, 6),
        "lower_bound_usd": round(plan.lower_bound_usd, 6),
        "gap": round(plan.gap, 6) + 0.0,  # + 0.0: a noise-sized negative gap is written 0.0, not -0.0
        "solve_seconds": round(plan.solve_seconds, 3),
        "selected": list(plan.selected),
        "buckets": [[_bin_to_dict(b) for b in bucket] for bucket in plan.buckets],
        "stats": plan.stats,
        "commitment_usd": round(plan.commitment_usd, 6),
        "commitments": [dict(c) for c in plan.commitments],
    }


def _bin_to_dict(b: Bin) -> dict[str, Any]:
    out: dict[str, Any] = {"offering": b.offering, "count": b.count, "jobs": dict(b.jobs)}
    if b.hours is not None:
        out["hours"] = b.hours  # unrounded: the validator recomputes cost from it
    return out


def _num(source: str, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{source}: {where}: must be a number")
    return float(value)


def plan_from_dict(data: Any, source: str = "plan.json") -> Plan:
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: document: must be an object")
    if data.get("schema") != PLAN_SCHEMA:
        raise InputError(f"{source}: schema: must be {PLAN_SCHEMA!r}")
    for name in ("status", "cost_usd", "objective_usd", "lower_bound_usd", "gap", "selected", "buckets"):
        if name not in data:
            raise InputError(f"{source}: {name}: is required")
    if data["status"] not in STATUSES:
        raise InputError(f"{source}: status: must be one of {', '.join(STATUSES)}")
    buckets: list[list[Bin]] = []
    if not isinstance(data["buckets"], list):
        raise InputError(f"{source}: buckets: must be an array")
    for t, bucket in enumerate(data["buckets"]):
        if not isinstance(bucket, list):
            raise InputError(f"{source}: buckets[{t}]: must be an array of bins")
        bins = []
        for k, b in enumerate(bucket):
            where = f"buckets[{t}][{k}]"
            if not isinstance(b, Mapping) or not isinstance(b.get("offering"), str):
                raise InputError(f"{source}: {where}.offering: must be a string")
            count = b.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InputError(f"{source}: {where}.count: must be an integer >= 1")
            jobs = b.get("jobs")
            if not isinstance(jobs, Mapping) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in jobs.values()
            ):
                raise InputError(f"{source}: {where}.jobs: must map shape id to an integer >= 0")
            hours = b.get("hours")
            if hours is not None and (
                isinstance(hours, bool)
                or not isinstance(hours, int | float)
                or not math.isfinite(hours)
                or hours < 0
            ):
                raise InputError(f"{source}: {where}.hours: must be a number of hours >= 0")
            bins.append(Bin(b["offering"], count, dict(jobs), None if hours is None else float(hours)))
        buckets.append(bins)
    selected = data["selected"]
    if not isinstance(selected, list) or not all(isinstance(s, str) for s in selected):
        raise InputError(f"{source}: selected: must be an array of offering keys")
    return Plan(
        status=data["status"],
        reason=str(data.get("reason", "")),
        cost_usd=_num(source, "cost_usd", data["cost_usd"]),
        objective_usd=_num(source, "objective_usd", data["objective_usd"]),
        lower_bound_usd=_num(source, "lower_bound_usd", data["lower_bound_usd"]),
        gap=_num(source, "gap", data["gap"]),
        solve_seconds=_num(source, "solve_seconds", data.get("solve_seconds", 0.0)),
        selected=list(selected),
        buckets=buckets,
        stats=dict(data.get("stats") or {}),
        commitment_usd=_num(source, "commitment_usd", data.get("commitment_usd", 0.0)),
        commitments=_commitment_usage(source, data.get("commitments", [])),
    )


def _commitment_usage(source: str, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise InputError(f"{source}: commitments: must be an array")
    out = []
    for i, entry in enumerate(data):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            raise InputError(f"{source}: commitments[{i}].id: must be a string")
        for name in ("utilization", "covered_usd"):
            _num(source, f"commitments[{i}].{name}", entry.get(name))
        out.append(dict(entry))
    return out


def load_plan(path: str | Path) -> Plan:
    p = Path(path)
    try:
        return plan_from_dict(json.loads(p.read_text(encoding="utf-8")), p.name)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} line {exc.lineno}: not valid JSON: {exc.msg}") from None
