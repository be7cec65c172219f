"""Fleet-mix problems built from the store for one queue, and solver plans kept in `fleet_plans`.

The glue between the store and the pure solver, shared by `batchopt optimize --queue`, the demo and
the dashboard's what-if page (which re-solves the stored problems), so all three see the same
problem for the same queue, with the same commitments: the store's bill is always read, so no
caller can build a commitment-blind problem by leaving an argument out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, insert, select

from optimizer.analysis.bucket_length import bucket_note, choose_bucket_seconds, duration_text
from optimizer.analysis.gang_demand import node_rows
from optimizer.catalog.from_store import catalog_for_region
from optimizer.catalog.provider import CatalogProvider
from optimizer.config import CommitmentSettings
from optimizer.errors import InputError
from optimizer.fleet.commitment_share import commitment_share
from optimizer.fleet.commitments import commitments_in_force
from optimizer.solver.build import build_problem, canonical_jobs
from optimizer.solver.plan import Plan, plan_to_dict
from optimizer.solver.problem import Policy, Problem, problem_to_dict
from optimizer.solver.solve import is_last_resort
from optimizer.store.read import jobs_frame, read_frame
from optimizer.store.schema import COLLECTED_DATASET, fleet_plans, jobs


def problem_for_queue(
    engine: Engine,
    queue: str,
    *,
    region: str,
    days: float,
    policy: Policy | None = None,
    dataset: str = COLLECTED_DATASET,
    bucket_seconds: float = 3600.0,
    min_bucket_seconds: float = 300.0,
    catalog: CatalogProvider | None = None,
    commitments: Sequence[CommitmentSettings] = (),
    notes: list[str] | None = None,
) -> Problem:
    """The queue's last `days` of jobs (up to its newest job) against the region's catalogue (the
    store's, else the bundled snapshot: an imported trace needs no collection). The problem carries
    the commitments in force over that window, the store's bill's and the configured ones
    (`commitments`, the configuration's `[[commitments]]`; `optimizer.fleet.commitments`), at the
    share of their use the queue's jobs had in the bill (`optimizer.fleet.commitment_share`);
    `notes`, when given, gets the window and how many of the queue's jobs it holds, then where each
    commitment came from and the share applied ("commitments: ..."), for the caller to print.

    The buckets are `bucket_seconds` long unless the queue's jobs are short enough that whole
    buckets of that length would pay their peaks well beyond what they run: then the longest
    length down to `min_bucket_seconds` that does not (`optimizer.analysis.bucket_length`; equal
    bounds keep the length fixed)."""
    latest = read_frame(
        engine, select(func.max(jobs.c.created_at)).where(jobs.c.dataset == dataset, jobs.c.queue == queue)
    ).iloc[0, 0]
    if latest is None or pd.isna(latest):
        raise InputError(f"queue {queue}: no jobs in dataset {dataset!r}{_queues_hint(engine, dataset)}")
    since = pd.Timestamp(latest).to_pydatetime() - timedelta(days=days)
    history = jobs_frame(engine, dataset=dataset, since=since, queues=[queue])
    if dataset == COLLECTED_DATASET and "region" in history and history["region"].notna().any():
        history = history[history["region"].isna() | (history["region"] == region)]
    if history.empty:
        raise InputError(f"queue {queue}: no jobs in region {region} of dataset {dataset!r}")
    if notes is not None:
        # Which jobs the plan is of: the window ends at the queue's newest job, so one stray late job
        # (a year after the rest of a log) leaves a window of almost nothing; this line shows it.
        total = read_frame(
            engine, select(func.count()).where(jobs.c.dataset == dataset, jobs.c.queue == queue)
        ).iloc[0, 0]
        notes.append(
            f"window: {since:%Y-%m-%d %H:%M} to {pd.Timestamp(latest):%Y-%m-%d %H:%M} UTC, the {days:g} "
            f"days up to the queue's newest job: {len(history):,} of its {int(total):,} jobs"
        )
    provider = catalog or catalog_for_region(engine, region)
    if min_bucket_seconds < bucket_seconds:
        bucket_seconds = queue_bucket_seconds(history, bucket_seconds, min_bucket_seconds)
    problem = leave_out_unplaceable(
        build_problem(history, provider, policy or Policy(), bucket_seconds=bucket_seconds)
    )
    prices = dict(zip(provider.table["instance_type"], provider.table["ondemand_price"], strict=True))
    until = pd.Timestamp(latest).to_pydatetime()
    in_force = commitments_in_force(
        engine, commitments, region=region, since=since, until=until, on_demand_prices=prices
    )
    # The account's commitments cover its other queues too: this queue gets the share it used.
    share = commitment_share(engine, since=since, until=until, queue=queue) if in_force.commitments else None
    shared = in_force.shared(share, f"queue {queue}")
    if notes is not None:
        notes.extend(f"commitments: {note}" for note in shared.notes)
    return problem.with_commitments(shared.commitments)


def _queues_hint(engine: Engine, dataset: str, shown: int = 12) -> str:
    """ "; its queues: a, b, ..." (an imported trace names its queues after the trace's own field,
    e.g. q0..q4 for an SWF queue number, so the README's `default` may not be one of them)."""
    names = read_frame(
        engine, select(jobs.c.queue).where(jobs.c.dataset == dataset).distinct().order_by(jobs.c.queue)
    )["queue"].tolist()
    if not names:
        return " (the dataset has no jobs: `batchopt import-trace` or `batchopt collect` first)"
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return f"; its queues: {', '.join(map(str, names[:shown]))}{more}"


def leave_out_unplaceable(problem: Problem) -> Problem:
    """`problem` without the (non-gang) shapes that no offering its instance requirements allow can
    host, each named in `Problem.left_out`.

    Real histories hold such jobs: a trace's job that asked for more memory than any instance has, a
    job that ran on a type the requirements now exclude. One of them used to make the whole queue's
    plan INFEASIBLE ($0, "shape ... fits no offering"), hiding what the rest of the queue could save;
    this is advice for people, so the rest is planned and the jobs are named (the Fleet mix page and
    `batchopt optimize` show `left_out`). Recommendations that change a compute environment build
    their problems without this step: there a job nothing can host keeps the change from being made.
    A gang shape is left as it is (its ranges are planned together, `solver.gangs`)."""
    from optimizer.solver.requirements import restrict_to_requirements

    allowed = restrict_to_requirements(problem).offerings
    keep: list[int] = []
    notes: list[str] = []
    requirements = problem.policy.instance_requirements.describe()
    for i, shape in enumerate(problem.shapes):
        demand = problem.demand[i]
        if shape.is_gang or not demand.any() or any(o.can_host(shape) for o in allowed):
            keep.append(i)
            continue
        busy = int(np.count_nonzero(demand))
        notes.append(
            f"jobs of {shape.vcpus:g} vCPU, {shape.memory_mib / 1024:,.1f} GiB, {shape.gpus} GPU "
            f"({shape.arch or 'any architecture'}{'' if shape.spot_ok else ', on-demand only'}) fit no "
            f"instance type the policy allows ({requirements}): left out of the plan and its cost (up "
            f"to {int(demand.max())} at once, in {busy} of {problem.n_buckets} buckets); compute "
            "environments built from this plan would not run them"
        )
    if not notes:
        return problem
    return replace(problem.with_shapes(keep), left_out=(*problem.left_out, *notes))


def solve_with_bucket_fallback(
    problem: Problem,
    longest: float,
    rebuild: Callable[[float], Problem],
    solve_fn: Callable[[Problem], Plan],
) -> tuple[Problem, Plan, str | None]:
    """Solve a queue's problem; when its buckets are shorter than `longest` (a short-job queue) and
    the solve ends without a plan, or with only the search's all-on-demand last resort
    (`solve.is_last_resort`), solve the `longest`-bucket problem (`rebuild(longest)`) instead.

    Shorter buckets multiply the buckets the solver builds and checks, so under a tight time limit a
    large queue may time out where hour buckets give a plan (the demo's GPU queue at 10-minute
    buckets and 10 s): a plan whose cost errs high beats no plan. The note says which and why.
    """
    plan = solve_fn(problem)
    last_resort = is_last_resort(plan)
    if (plan.has_solution and not last_resort) or problem.bucket_seconds >= longest:
        return problem, plan, None
    coarse = rebuild(longest)
    coarse_plan = solve_fn(coarse)
    if not coarse_plan.has_solution or is_last_resort(coarse_plan):
        return problem, plan, None
    ended = "with only its all-on-demand last resort" if last_resort else f"{plan.status} without a plan"
    note = (
        f"The solve at {duration_text(problem.bucket_seconds)} buckets ended {ended}, so this plan "
        f"uses {duration_text(longest)} buckets: it holds each bucket's busiest "
        "moment for the whole bucket, so its cost errs high for this queue's short jobs"
    )
    return coarse, replace(coarse_plan, stats={**coarse_plan.stats, "bucket_fallback": note}), note


def queue_bucket_seconds(history: pd.DataFrame, longest: float, shortest: float) -> float:
    """The bucket length for a queue's store-form history, measured on its packed jobs (gangs are
    priced by the hours they hold), over the window `build_problem` starts at its first job."""
    canonical = canonical_jobs(history)
    begin = canonical["start_s"] if "start_s" in canonical.columns else canonical["submit_s"]
    start_s = float(begin.min()) if len(begin) else 0.0
    packed = canonical[~node_rows(canonical)]
    return choose_bucket_seconds(packed, longest=longest, shortest=shortest, start_s=start_s).seconds


def problem_bucket_note(problem: Mapping[str, Any]) -> str | None:
    """What the Fleet mix page and `batchopt optimize --queue` say about a stored problem's bucket
    length when it is not an hour (`bucket_note`), from its packed shapes' demand (gangs are paid
    by the hours they hold, whatever the bucket)."""
    packed = [s for s in problem.get("shapes", []) if not s.get("nodes")]
    demand = problem.get("demand", {})
    n_buckets = int(problem.get("buckets", 0))
    counts = np.array([demand[s["id"]] for s in packed], dtype=np.int64).reshape(len(packed), n_buckets)
    vcpus = np.array([float(s["vcpus"]) for s in packed], dtype=float)
    return bucket_note(float(problem.get("bucket_seconds", 3600.0)), counts, vcpus)


def save_fleet_plan(
    engine: Engine,
    scope: str,
    problem: Problem,
    plan: Plan,
    *,
    now: datetime,
    dataset: str = COLLECTED_DATASET,
) -> int:
    """Keep a solved plan with its problem (the dashboard's fleet-mix and what-if pages read them)
    and the dataset its demand came from (`scope` names a queue of it)."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(fleet_plans).values(
                scope=scope,
                dataset=dataset,
                created_at=now,
                status=plan.status,
                cost_usd=plan.cost_usd,
                objective_usd=plan.objective_usd,
                lower_bound_usd=plan.lower_bound_usd,
                gap=plan.gap,
                solve_seconds=plan.solve_seconds,
                problem=problem_to_dict(problem),
                plan=plan_to_dict(plan),
            )
        )
        return int(result.inserted_primary_key[0])


def fleet_plan_list(engine: Engine) -> pd.DataFrame:
    """The stored plans' headline figures, newest first (no documents: a list stays small)."""
    f = fleet_plans.c
    query = select(
        f.id,
        f.scope,
        f.dataset,
        f.created_at,
        f.status,
        f.cost_usd,
        f.objective_usd,
        f.lower_bound_usd,
        f.gap,
        f.solve_seconds,
    ).order_by(f.created_at.desc(), f.id.desc())
    return read_frame(engine, query)


def fleet_plan_documents(engine: Engine, plan_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The stored (problem, plan) JSON documents of one fleet plan, or None."""
    query = select(fleet_plans.c.problem, fleet_plans.c.plan).where(fleet_plans.c.id == plan_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (dict(row[0]), dict(row[1])) if row is not None else None
