"""The what-if's evidence: the same recent history replayed on the current configuration and on the
compute environments of the re-solved plan, by the simulator the CLI's `batchopt simulate` uses.

Inputs come from the store only: the queue's jobs of the last `history_days` up to its newest job
(through `optimizer.simulate.datasets.load_dataset`, the canonical table the simulator reads), the
queue and its compute environments exactly as Batch described them (`raw`, which the simulator's
configuration parser reads like Create* bodies), and the region's one catalogue (`optimizer.catalog`:
the store's prices, else the bundled snapshot), the same one `batchopt simulate` and the strategies use.

The what-if plan's configuration is `recommend_environments`' document; when the plan keeps part of
the spot-able work on on-demand its spot CE is capped, and with the history at hand the cap is
fitted by replay (`optimizer.simulate.spot_fit`) so the replay runs no more of the work on spot
than the plan does, rather than the estimate from the plan's hourly peaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from optimizer.analysis.rollup import VCPU_ALLOCATION
from optimizer.catalog.from_store import catalog_for_region
from optimizer.catalog.provider import CatalogProvider
from optimizer.errors import UserError
from optimizer.number_text import measure_text
from optimizer.simulate import catalog_from_provider
from optimizer.simulate.datasets import load_dataset
from optimizer.simulate.results import ReplayResult, over_common_span
from optimizer.simulate.spot_fit import fit_spot_max, replay_document
from optimizer.solver.compute_environments import recommend_environments, spot_cap_estimate, uncapped_spot_max
from optimizer.solver.plan import plan_from_dict
from optimizer.solver.problem import Commitment, problem_from_dict
from optimizer.solver.spot_work import spot_share
from optimizer.store.read import read_frame
from optimizer.store.schema import COLLECTED_DATASET, compute_environments, job_queues

DATASET_SCOPE = "dataset:"


@dataclass(frozen=True)
class ReplayInputs:
    jobs: pd.DataFrame
    current: dict[str, Any] | None  # {"computeEnvironments": [...], "jobQueues": [...]} or None
    region: str
    catalog: CatalogProvider


def scope_of(scope: str, dataset: str = COLLECTED_DATASET) -> tuple[str, str | None]:
    """(dataset, queue) a fleet plan's scope names: a queue of `dataset` (the plan's own, stored
    with it) or, for a scope "dataset:<name>", that whole dataset."""
    if scope.startswith(DATASET_SCOPE):
        return scope[len(DATASET_SCOPE) :], None
    return dataset, scope


def current_configuration(engine: Engine, queue: str) -> tuple[dict[str, Any] | None, str | None]:
    """The queue and its compute environments as last collected, and their region (None: unknown)."""
    queues = read_frame(
        engine, select(job_queues.c.raw, job_queues.c.region).where(job_queues.c.name == queue)
    )
    if queues.empty:
        return None, None
    queue_raw, region = queues["raw"].iat[0], str(queues["region"].iat[0])
    refs = [entry["computeEnvironment"] for entry in queue_raw.get("computeEnvironmentOrder") or []]
    ces = read_frame(
        engine,
        select(compute_environments.c.raw).where(
            compute_environments.c.arn.in_(refs) | compute_environments.c.name.in_(refs)
        ),
    )
    return {"computeEnvironments": ces["raw"].tolist(), "jobQueues": [queue_raw]}, region


def load_replay_inputs(
    engine: Engine, scope: str, history_days: int, default_region: str, dataset: str = COLLECTED_DATASET
) -> ReplayInputs:
    """The jobs of the plan's scope in `dataset` over the last `history_days` of it, and, for a
    collected queue, its current configuration (an imported trace's queue has none, even when a
    collected queue has its name)."""
    dataset, queue = scope_of(scope, dataset)
    collected = queue is not None and dataset == COLLECTED_DATASET
    current, region = current_configuration(engine, queue) if collected else (None, None)
    region = region or default_region
    scoped = region if dataset == COLLECTED_DATASET else None
    jobs, _start = load_dataset(engine, dataset, region=scoped)
    if queue is not None:
        jobs = jobs[jobs["queue"] == queue]
    if jobs.empty:
        raise UserError(f"no finished jobs of {scope} to replay")
    last = float(jobs["submit_s"].max())
    jobs = jobs[jobs["submit_s"] >= last - timedelta(days=history_days).total_seconds()].reset_index(
        drop=True
    )
    return ReplayInputs(jobs, current, region, catalog_for_region(engine, region))


@dataclass(frozen=True)
class WhatIfReplay:
    """The what-if plan's configuration as replayed, and the replays' summaries."""

    #: {"computeEnvironments", "jobQueues"}: the document apply would write for the plan.
    document: dict[str, Any]
    #: Keyed "current configuration" (when known) and "what-if plan".
    summaries: dict[str, dict[str, Any]]
    #: The plan's spot share of job vCPU-hours (`spot_work.spot_share`), None without a solution.
    plan_spot_share: float | None
    #: The spot CE's maxvCpus: fitted by replay, estimated from the plan, or None when uncapped.
    spot_cap_fitted: int | None
    spot_cap_estimated: int | None

    @property
    def has_spot_ce(self) -> bool:
        """Whether the plan's configuration has a spot CE at all (a plan without spot has none,
        and its cap is then no cap to speak of)."""
        return any(
            (env.get("computeResources") or {}).get("type") == "SPOT"
            for env in self.document.get("computeEnvironments", [])
        )


def what_if_replay(
    inputs: ReplayInputs,
    problem: dict[str, Any],
    plan: dict[str, Any],
    queue: str,
    seed: int = 0,
    commitments: Sequence[Commitment] = (),
) -> WhatIfReplay:
    """The what-if plan's compute environments (spot cap fitted to the history when it has one) and
    the history replayed on them and on the current configuration; both replays cover on-demand
    hours with `commitments` and charge their fees over the same hours (`results.over_common_span`)."""
    parsed = problem_from_dict(dict(problem), source="what-if problem")
    solved = plan_from_dict(dict(plan), source="what-if plan")
    catalog = catalog_from_provider(inputs.catalog)

    def document_for(cap: int | None) -> dict[str, Any]:
        return recommend_environments(parsed, solved, queue, spot_max_vcpus=cap)

    def run(document: dict[str, Any], source: str) -> ReplayResult:
        return replay_document(
            inputs.jobs, document, catalog, seed=seed, commitments=commitments, source=source
        )

    share = spot_share(parsed, solved)
    estimated = spot_cap_estimate(parsed, solved)
    fitted = None
    if estimated is not None and share is not None:
        upper = uncapped_spot_max(parsed, solved)
        fit = fit_spot_max(
            inputs.jobs, document_for, catalog, share, upper, seed=seed, commitments=commitments
        )
        fitted, proposed = fit.max_vcpus, fit.result
    else:
        proposed = run(document_for(None), "what-if plan")
    runs = {"what-if plan": proposed}
    if inputs.current is not None:
        runs = {"current configuration": run(inputs.current, "current configuration"), **runs}
    # (both pay the commitments' fees over the same hours, the longer replay's)
    summaries = dict(zip(runs, over_common_span(list(runs.values()), commitments), strict=True))
    return WhatIfReplay(document_for(fitted), summaries, share, fitted, estimated)


ON_DEMAND_AT_LIST = "on-demand at list, covered part included (USD)"


def replay_note(scope: str, days: int, summaries: dict[str, dict[str, Any]]) -> str:
    """What the replay table covers and how its cost adds up, in one line above it: its own window
    (the last `days` of the scope's jobs), not the plan's, so its cost is not the plan cost above."""
    jobs = next(iter(summaries.values()), {}).get("jobs")
    count = f"{int(jobs):,} jobs" if jobs is not None else "the jobs"
    return (
        f"Replayed: {count} of {scope} submitted in the {days} days up to its newest "
        "(optimization.history_days), not the plan's window. Cost = spot + on-demand at list "
        "- on-demand covered by commitments + commitment fees."
    )


def summary_rows(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The comparison a person reads: cost, by capacity, queue wait, utilization, reclaims, failures,
    each cell as text (`number_text.measure_text`)."""

    def wait(summary: dict[str, Any], key: str) -> float | None:
        return (summary.get("queue_wait_s") or {}).get("ALL", {}).get(key)

    measures: list[tuple[str, str, Any]] = [
        ("jobs", "number", lambda s: s.get("jobs")),
        ("cost (USD)", "usd", lambda s: s.get("total_cost_usd")),
        ("spot cost (USD)", "usd", lambda s: (s.get("cost_by_capacity_type") or {}).get("SPOT", 0.0)),
        # at list, the covered part included: cost = spot + this - covered + fees (the demo's
        # mpi-parallel: $102.92 - $2.04 + $31.58 = $132.46); read as what on-demand costs, it did
        # not add up with the fees to the cost above, and the Fleet mix's split says "not covered"
        (ON_DEMAND_AT_LIST, "usd", lambda s: (s.get("cost_by_capacity_type") or {}).get("ON_DEMAND", 0)),
        ("commitment fees (USD)", "usd", lambda s: s.get("commitment_usd")),
        ("on-demand covered by commitments (USD)", "usd", lambda s: s.get("commitment_covered_usd")),
        ("queue wait p50 (s)", "number", lambda s: wait(s, "p50_s")),
        ("queue wait p95 (s)", "number", lambda s: wait(s, "p95_s")),
        # jobs' requested vCPU-hours over the instances' (`simulate.results`): the Overview's "vCPU
        # allocation", named so here too rather than "utilization", which the Overview uses for used
        (VCPU_ALLOCATION, "percent", lambda s: (s.get("utilization") or {}).get("vcpu")),
        ("spot share of job vCPU-hours", "percent", lambda s: s.get("spot_job_vcpu_share")),
        ("spot reclaims", "number", lambda s: s.get("spot_reclaims")),
        ("failed jobs", "number", lambda s: s.get("failed")),
    ]
    rows = [
        {"measure": label, **{name: measure_text(get(s), kind) for name, s in summaries.items()}}
        for label, kind, get in measures
    ]
    return pd.DataFrame(rows)
