"""`batchopt optimize`: solve a fleet-mix problem and write the plan (exit 0 whatever the status).

The problem comes from a `batchopt.problem/v1` file (`--problem`) or is built from the store's
history of one queue (`--queue`, of `--dataset`: collected or an imported trace) priced by the
region's catalogue (collected, else the bundled snapshot), under the `[optimization]` policy.
`--what-if key=value` re-solves with changed policy (`instance_requirements.FIELD=value` for the
instance requirements), and `--lp` answers instantly with the LP bound and fractional mix.
`--environments-out` writes the CreateComputeEnvironment / CreateJobQueue document that
`batchopt simulate --config` replays.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from optimizer.catalog.requirements import REQUIREMENT_FIELDS
from optimizer.cli.context import CliContext
from optimizer.cli.output_files import prepare_output, write_atomic
from optimizer.errors import InputError
from optimizer.number_text import commitment_level_text
from optimizer.runtime.clock import utc_now
from optimizer.solver.policy import Policy, policy_to_dict
from optimizer.store.names import COLLECTED_DATASET

if TYPE_CHECKING:
    from optimizer.solver.problem import Problem

REQUIREMENT_KEYS = tuple(f"instance_requirements.{name}" for name in REQUIREMENT_FIELDS)
POLICY_KEYS = tuple(k for k in policy_to_dict(Policy()) if k != "instance_requirements") + REQUIREMENT_KEYS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimize",
        help="solve for the cheapest instance-type mix and write the plan",
        description=__doc__,
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--problem", metavar="FILE", help="a batchopt.problem/v1 JSON file")
    source.add_argument(
        "--queue", metavar="NAME", help="build the problem from the store's jobs of this queue"
    )
    p.add_argument("--out", metavar="FILE", help="write the plan (or, with --lp, the estimate) as JSON")
    p.add_argument("--environments-out", metavar="FILE", help="write the recommended CEs and queue order")
    p.add_argument("--problem-out", metavar="FILE", help="with --queue: also write the problem built")
    p.add_argument(
        "--what-if",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help=f"override a policy field ({', '.join(POLICY_KEYS)}); 'none' clears a limit; lists are "
        "comma-separated (instance_requirements.excluded_families=m5,c5)",
    )
    p.add_argument("--lp", action="store_true", help="LP only: lower bound and fractional mix, in seconds")
    p.add_argument(
        "--dataset", default=COLLECTED_DATASET, help="with --queue: the dataset (default %(default)s)"
    )
    p.add_argument("--region", default="us-east-1", help="with --queue: region (default %(default)s)")
    p.add_argument("--days", type=positive_days, default=7.0, help="with --queue: history window (default 7)")
    p.add_argument(
        "--bucket-seconds",
        type=bucket_seconds,
        help="with --queue: the longest bucket (default: [optimization] bucket_seconds, 3600)",
    )
    p.add_argument(
        "--min-bucket-seconds",
        type=bucket_seconds,
        help="with --queue: the shortest bucket a queue of short jobs gets (default: [optimization] "
        "min_bucket_seconds, 300; equal to --bucket-seconds: a fixed length)",
    )
    p.set_defaults(handler=run)


def parse_what_if(items: list[str], policy: Policy) -> Policy:
    """Apply `key=value` overrides, validated like the policy in a problem file."""
    from optimizer.solver.problem import policy_from_dict

    data: dict[str, Any] = policy_to_dict(policy)
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in POLICY_KEYS:
            raise InputError(
                f"--what-if {item!r}: expected KEY=VALUE with KEY one of {', '.join(POLICY_KEYS)}"
            )
        text = value.strip()
        if key.startswith("instance_requirements."):
            field = key.split(".", 1)[1]
            data["instance_requirements"][field] = _requirement_value(field, text)
            continue
        if text.lower() in ("none", "null", "off", ""):
            data[key] = None
            continue
        try:
            data[key] = json.loads(text.lower())
        except json.JSONDecodeError:
            raise InputError(f"--what-if {key}: {value!r} is not a number") from None
    if data.get("min_spot_instance_types") is None:
        data["min_spot_instance_types"] = 0
    return policy_from_dict({k: v for k, v in data.items() if v is not None}, "--what-if", "")


def _requirement_value(field: str, text: str) -> Any:
    """`--what-if instance_requirements.FIELD=text` -> the JSON value the policy reader checks."""
    if field.endswith(("_categories", "_families")):
        return [part.strip() for part in text.split(",") if part.strip()]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if field == "min_generation":
        return None if text.lower() in ("none", "null", "") else int(text) if text.isdigit() else text
    if field == "gang_min_network_gbps":
        try:
            return float(text)
        except ValueError:
            return text  # the policy reader refuses it, naming the field
    return text


def _write_json(path: str, document: Any) -> None:
    """Write atomically: a failed run never leaves a half-written file behind."""

    def dump(handle: Any) -> None:
        json.dump(document, handle, indent=1)
        handle.write("\n")

    write_atomic(path, dump)


def _bucket_range(args: argparse.Namespace, ctx: CliContext) -> tuple[float, float]:
    """(longest, shortest) bucket for `--queue`: the flags, else `[optimization]`."""
    opt = ctx.settings.optimization
    longest = float(args.bucket_seconds or opt.bucket_seconds)
    shortest = float(args.min_bucket_seconds or opt.min_bucket_seconds)
    if args.min_bucket_seconds is not None and shortest > longest:
        raise InputError(f"--min-bucket-seconds {shortest:g}: above the longest bucket, {longest:g} s")
    return longest, min(shortest, longest)


def _problem_from_store(
    args: argparse.Namespace, ctx: CliContext, notes: list[str], min_bucket: float | None = None
) -> Problem:
    from optimizer.fleet.plans import problem_for_queue
    from optimizer.solver.policy import policy_from_settings

    longest, shortest = _bucket_range(args, ctx)
    problem = problem_for_queue(
        ctx.engine,
        args.queue,
        region=args.region,
        days=args.days,
        policy=policy_from_settings(ctx.settings.optimization),
        dataset=args.dataset,
        bucket_seconds=longest,
        min_bucket_seconds=shortest if min_bucket is None else min_bucket,
        commitments=ctx.settings.commitments,
        notes=notes,
    )
    return problem.with_policy(parse_what_if(args.what_if, problem.policy)) if args.what_if else problem


def positive_days(text: str) -> float:
    """`--days`: a finite number of days above 0 (NaN once reached the window arithmetic as a
    traceback, and 0 or less solved an empty window as OPTIMAL at $0)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(days) or days <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of days above 0")
    return days


#: The shortest bucket a flag may give: `[optimization] bucket_seconds`'s own floor.
MIN_BUCKET_SECONDS = 60.0


def bucket_seconds(text: str) -> float:
    """`--bucket-seconds`, `--min-bucket-seconds`: a finite number of seconds, at least 60 as in the
    configuration (NaN reached the bucketing as a traceback, 0 quietly meant the default)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(seconds) or seconds < MIN_BUCKET_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a number of seconds, at least {MIN_BUCKET_SECONDS:g}"
        )
    return seconds


def _summary(plan_doc: dict[str, Any]) -> str:
    return (
        f"{plan_doc['status']}: objective ${plan_doc['objective_usd']:.2f} "
        f"(cost ${plan_doc['cost_usd']:.2f}), "
        f"lower bound ${plan_doc['lower_bound_usd']:.2f}, gap {plan_doc['gap']:.2%}, "
        f"{plan_doc['solve_seconds']:.1f} s; {plan_doc['reason']}"
    )


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.solver.compute_environments import environment_notes, recommend_environments
    from optimizer.solver.plan import plan_to_dict
    from optimizer.solver.problem import load_problem, problem_to_dict
    from optimizer.solver.solve import solve, solve_lp_estimate, why_infeasible

    started = time.monotonic()
    if args.lp and args.environments_out:
        raise InputError("--environments-out needs a plan: it cannot be written with --lp (an LP estimate)")
    for flag, path in (
        ("--out", args.out),
        ("--environments-out", args.environments_out),
        ("--problem-out", args.problem_out),
    ):
        prepare_output(flag, path)
    notes: list[str] = []
    problem = load_problem(args.problem) if args.problem else _problem_from_store(args, ctx, notes)
    for note in notes:
        print(note)
    for note in problem.left_out:
        print(f"left out: {note}")
    if args.queue:
        from optimizer.fleet.plans import problem_bucket_note

        bucket = problem_bucket_note(problem_to_dict(problem))
        if bucket is not None:
            print(f"buckets: {bucket}")
    if args.what_if and args.problem:  # (from the store, `_problem_from_store` applied them)
        problem = problem.with_policy(parse_what_if(args.what_if, problem.policy))
    if args.lp:
        if args.problem_out:
            _write_json(args.problem_out, problem_to_dict(problem))
        estimate = solve_lp_estimate(problem, clock=time.monotonic)
        doc = {"schema": "batchopt.lp-estimate/v1", **asdict(estimate)}
        doc["solve_seconds"] = round(time.monotonic() - started, 3)
        if args.out:
            _write_json(args.out, doc)
        if not estimate.feasible:
            print(f"LP infeasible: no plan exists: {why_infeasible(problem)}")
            return 0
        print(
            f"LP {'optimal' if estimate.converged else 'not converged'}: lower bound "
            f"${estimate.lower_bound_usd:.2f}, LP objective ${estimate.lp_objective_usd:.2f}"
        )
        for key, hours in list(estimate.instance_hours.items())[:10]:
            print(f"  {key:32} {hours:10.1f} instance-hours")
        return 0
    if args.queue and not args.problem:
        from optimizer.fleet.plans import solve_with_bucket_fallback

        problem, plan, fallback = solve_with_bucket_fallback(
            problem,
            _bucket_range(args, ctx)[0],
            lambda min_bucket: _problem_from_store(args, ctx, [], min_bucket),
            lambda p: solve(p, clock=time.monotonic),
        )
        if fallback is not None:
            print(f"buckets: {fallback}")
    else:
        plan = solve(problem, clock=time.monotonic)
    if args.problem_out:  # the problem the plan solved: the hour-bucket one after a fallback
        _write_json(args.problem_out, problem_to_dict(problem))
    plan = replace(plan, solve_seconds=time.monotonic() - started)
    doc = plan_to_dict(plan)
    if args.out:
        _write_json(args.out, doc)
        doc["solve_seconds"] = round(time.monotonic() - started, 3)
    if args.environments_out:
        _write_json(args.environments_out, recommend_environments(problem, plan, args.queue or "optimized"))
        for note in environment_notes(problem, plan):
            print(f"note: {note}")
    if args.queue:
        from optimizer.fleet.plans import save_fleet_plan

        plan_id = save_fleet_plan(ctx.engine, args.queue, problem, plan, now=utc_now(), dataset=args.dataset)
        of = "" if args.dataset == COLLECTED_DATASET else f" of dataset {args.dataset}"
        print(f"stored as fleet plan {plan_id} for queue {args.queue}{of} (dashboard: Fleet mix, What-if)")
    print(_summary(doc))
    if plan.selected:
        print("selected: " + ", ".join(plan.selected))
    for line in _commitment_lines(problem, doc):
        print(line)
    return 0


def _commitment_lines(problem: Problem, plan_doc: dict[str, Any]) -> list[str]:
    """Each commitment's level in this problem (a queue's share of the account's) and its use."""
    levels = {
        c.id: commitment_level_text(c.type, c.usd_per_hour, c.count, c.instance_type)
        + ("" if c.is_reserved else "/h")
        for c in problem.commitments
    }
    return [
        f"commitment {c['id']}: {levels.get(c['id'], 'n/a')} in this problem, utilization "
        f"{c['utilization']:.1%}, covered ${c['covered_usd']:,.2f} of on-demand usage"
        for c in plan_doc.get("commitments", [])
    ]
