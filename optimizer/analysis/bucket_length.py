"""The bucket length of one queue's fleet problem, chosen from how long its jobs run.

A fleet plan holds each bucket's peak of every shape for the whole bucket (`demand_profile`), while
EC2 bills instances per second: for jobs of a few minutes in short bursts, hour buckets pay the
burst's peak for the hour, and the plan reads dearer than the spend it would replace (the demo's
`spot-etl`: 618 jobs, median 9 minutes; hour buckets hold 2.1x the vCPU-hours its jobs run, and
its plan read $357 against $230 spent).

The measure is that over-hold: `held_vcpu_hours` (each bucket's peak x its length, over shapes and
buckets) against the vCPU-hours the jobs run (`job_hours`, which is what per-second billing of
instances that appear and leave with the jobs would hold). A queue keeps the longest candidate
bucket (the configured `bucket_seconds`, then it divided by 2, 3, 4, 6, 12, ... down to
`min_bucket_seconds`) whose over-hold is within `HELD_TOLERANCE` of that, and whose problem stays
within `MAX_BUCKETS`; failing that, the one within the budget that holds least (the longest of
equals). Candidates divide the
longest, so every bucket of a coarser one is a whole number of the finest's and its peak is the
finest's maximum over them (`coarsen`): one demand profile, at the finest, measures all of them.

Shorter buckets are not free for the solver: buckets with equal demand form one class solved once,
and a queue's classes grow more slowly than its buckets (the demo's at 5-minute buckets: 8,600
buckets, at most 1,600 classes), but the coupling rows and the plan document grow with the
buckets. Gangs are left out of the measure: they are paid by the hours they hold (`gang_hours`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.analysis.demand_profile import DemandProfile, ShapeGrid, demand_profile

#: A bucket may hold up to 10% more vCPU-hours than its jobs run: that much is the packing's own
#: slack at any length (the demo's long-job queues hold 1.01-1.10x at an hour) and not worth more
#: buckets.
HELD_TOLERANCE = 0.10
#: Most buckets a problem may have: 30 days of 5-minute buckets. Measured at that size (the demo's
#: `memory-heavy`, 8,636 buckets, 400 classes, 10 s limit, load 8 on 2 cores): 15 s against 10 s
#: for its 720 hourly buckets, the time past the limit going to the per-bucket Python passes
#: (`validate_plan` 1.4 s a call, `build_plan` 0.6 s, a few calls each per solve).
MAX_BUCKETS = 8640
#: The length plans were made with before it was chosen per queue, and what a note compares with.
HOUR_SECONDS = 3600.0
#: Divisors of the longest bucket tried, so a coarser bucket is a whole number of finer ones.
DIVISORS = (1, 2, 3, 4, 6, 12, 20, 30, 60)


@dataclass(frozen=True)
class BucketChoice:
    """The chosen bucket length, what it was chosen against and why."""

    seconds: float
    longest_seconds: float
    #: Bucket length -> held vCPU-hours / job vCPU-hours, for every candidate measured.
    over_hold: dict[float, float]
    n_buckets: int


def duration_text(seconds: float) -> str:
    """`1 h`, `10 min`, `90 s`: a bucket length as the page and the CLI print it."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def candidates(longest: float, shortest: float) -> list[float]:
    """Bucket lengths tried, longest first: `longest` / each of `DIVISORS` not below `shortest`
    (the longest always, whatever `shortest` says)."""
    out = [longest / k for k in DIVISORS if longest / k >= shortest - 1e-9]
    return out or [longest]


def coarsen(counts: np.ndarray, factor: int) -> np.ndarray:
    """(S, T) peaks per bucket -> (S, ceil(T / factor)) peaks per bucket `factor` times as long: the
    maximum over each run of `factor` buckets (the buckets after the last are empty)."""
    n_shapes, n_buckets = counts.shape
    width = -(-n_buckets // factor) * factor
    padded = np.zeros((n_shapes, width), dtype=counts.dtype)
    padded[:, :n_buckets] = counts
    return padded.reshape(n_shapes, width // factor, factor).max(axis=2)


def held_vcpu_hours(counts: np.ndarray, vcpus: np.ndarray, bucket_seconds: float) -> float:
    """vCPU-hours a plan holds for `counts` (peak jobs per shape and bucket) if each bucket's peak
    runs the whole bucket: the hours the fleet problem prices its packed jobs by."""
    return float((counts * np.asarray(vcpus, dtype=float)[:, None]).sum()) * bucket_seconds / 3600.0


def over_hold(profile: DemandProfile, lengths: list[float]) -> dict[float, float]:
    """Per candidate length, held vCPU-hours / job vCPU-hours of a profile built at the finest
    (`profile.bucket_seconds`); 1.0 for a profile without work."""
    vcpus = profile.shapes["vcpus"].to_numpy(dtype=float)
    work = float((profile.shapes["job_hours"].to_numpy(dtype=float) * vcpus).sum())
    out = {}
    for length in lengths:
        factor = round(length / profile.bucket_seconds)
        held = held_vcpu_hours(coarsen(profile.counts, factor), vcpus, length)
        out[length] = held / work if work > 0 else 1.0
    return out


def choose_bucket_seconds(
    jobs: pd.DataFrame,
    *,
    longest: float,
    shortest: float,
    start_s: float | None = None,
    grid: ShapeGrid | None = None,
) -> BucketChoice:
    """The bucket length for `jobs` (canonical, packed jobs only: gangs are priced by their hours)
    between `shortest` and `longest` (see the module docstring for the rule)."""
    lengths = candidates(longest, shortest)
    if len(lengths) == 1 or jobs.empty:
        return BucketChoice(longest, longest, {}, 0)
    begin = (jobs["start_s"] if "start_s" in jobs.columns else jobs["submit_s"]).to_numpy(dtype=float)
    w0 = float(begin.min()) if start_s is None else start_s
    end = float((begin + jobs["runtime_s"].to_numpy(dtype=float)).max())
    # Whole longest buckets, so every candidate's buckets tile the same window.
    n_longest = max(1, int(np.ceil((end - w0) / longest - 1e-9)))
    fine = demand_profile(
        jobs, bucket_seconds=lengths[-1], start_s=w0, end_s=w0 + n_longest * longest, grid=grid
    )
    ratios = over_hold(fine, lengths)
    sizes = {length: round(n_longest * longest / length) for length in lengths}
    affordable = [length for length in lengths if sizes[length] <= MAX_BUCKETS] or [longest]
    fitting = [length for length in affordable if ratios[length] <= 1.0 + HELD_TOLERANCE]
    least = min(ratios[length] for length in affordable)
    # None within the tolerance: the least over-hold, at the longest length that reaches it.
    chosen = fitting[0] if fitting else next(x for x in affordable if ratios[x] <= least + 1e-9)
    return BucketChoice(chosen, longest, ratios, sizes[chosen])


def bucket_note(bucket_seconds: float, counts: np.ndarray, vcpus: np.ndarray) -> str | None:
    """What a plan's reader is told about its bucket length when it is not an hour (None when it
    is): for a length that divides an hour, how many more vCPU-hours hour buckets would hold for
    the same demand (`counts`, the packed shapes' peaks per bucket, `vcpus` theirs), which is why
    the length was shortened."""
    if abs(bucket_seconds - HOUR_SECONDS) < 1e-9:
        return None
    length = duration_text(bucket_seconds)
    factor = HOUR_SECONDS / bucket_seconds
    held = held_vcpu_hours(counts, vcpus, bucket_seconds)
    if bucket_seconds > HOUR_SECONDS or abs(factor - round(factor)) > 1e-9 or held <= 0:
        return f"This plan's time buckets are {length} long (as configured or asked for)."
    hourly = held_vcpu_hours(coarsen(counts, round(factor)), vcpus, HOUR_SECONDS)
    return (
        f"This plan's time buckets are {length} long, not an hour: a plan holds each bucket's busiest "
        f"moment for the whole bucket, and this queue's jobs are short, so hour buckets would pay "
        f"{hourly / held:.2f}x the instance vCPU-hours for the same demand ({hourly:,.0f} against "
        f"{held:,.0f}), where EC2 bills instances by the second. The length is chosen per queue: the "
        f"longest, down to the configured minimum, whose buckets hold at most {HELD_TOLERANCE:.0%} "
        f"more vCPU-hours than the jobs run (else the one that holds least)."
    )
