"""Fit a spot compute environment's maxvCpus to a spot share by replaying the history (pure).

A plan that keeps part of the spot-able work on on-demand maps to a spot CE capped by maxvCpus ahead
of an on-demand CE (`optimizer.solver.compute_environments`). From the plan alone the cap is an
estimate: the plan's demand is each bucket's peak, and Batch may pass maxvCpus by one instance, so
on the demo's queues the estimate still replayed at 0.33-0.72 spot for a plan at 0.2. With the
history at hand the cap can be fitted instead: the largest maxvCpus whose replay runs at most the
target share of the job vCPU-hours on spot (`results.spot_job_share`), found by bisection over
whole vCPUs. The share grows with the cap (more room on the first CE in the queue's order takes
more of the work); spot reclaims add noise, which the fixed seed keeps the same across the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from optimizer.simulate import replay
from optimizer.simulate.catalog import Catalog
from optimizer.simulate.config import parse_config
from optimizer.simulate.results import ReplayResult
from optimizer.solver.problem import Commitment

#: Replays one fit may run: bisection over up to 2^12 vCPUs of range, plus the two ends.
MAX_REPLAYS = 14


@dataclass(frozen=True)
class SpotFit:
    """The fitted cap, the share its replay ran on spot, and that replay's result."""

    max_vcpus: int
    share: float | None
    result: ReplayResult
    replays: int


def replay_document(
    jobs: pd.DataFrame,
    document: dict[str, Any],
    catalog: Catalog,
    *,
    seed: int = 0,
    commitments: Sequence[Commitment] = (),
    source: str = "config",
) -> ReplayResult:
    """`jobs` replayed on a configuration document with `seed` and `commitments` in force."""
    config = parse_config(document, catalog, source=source)
    config = replace(config, options=replace(config.options, seed=seed), commitments=tuple(commitments))
    return replay(jobs, config)


def fit_spot_max(
    jobs: pd.DataFrame,
    document_for: Callable[[int], dict[str, Any]],
    catalog: Catalog,
    target: float,
    upper: int,
    *,
    seed: int = 0,
    commitments: Sequence[Commitment] = (),
) -> SpotFit:
    """The largest spot maxvCpus in [0, `upper`] whose replay runs at most `target` of the job
    vCPU-hours on spot; `document_for(cap)` builds the configuration with that cap (the on-demand
    CE sized for what overflows it). 0 leaves the spot CE unable to launch: when even one instance
    of spot capacity would exceed the share, the honest document runs none."""

    def run(cap: int) -> tuple[float, ReplayResult]:
        result = replay_document(
            jobs, document_for(cap), catalog, seed=seed, commitments=commitments, source="spot fit"
        )
        share = result.summary.get("spot_job_vcpu_share")
        return (0.0 if share is None else float(share)), result

    replays = 1
    share, result = run(upper)
    if share <= target:
        return SpotFit(upper, share, result, replays)
    low, high = 0, upper  # invariant: share(high) > target; `best` holds the largest cap within it
    best: tuple[int, float, ReplayResult] | None = None
    while high - low > 1 and replays < MAX_REPLAYS:
        middle = (low + high) // 2
        share, result = run(middle)
        replays += 1
        if share <= target:
            low, best = middle, (middle, share, result)
        else:
            high = middle
    if best is None:
        share, result = run(low)
        replays += 1
        best = (low, share, result)
    return SpotFit(best[0], best[1], best[2], replays)
