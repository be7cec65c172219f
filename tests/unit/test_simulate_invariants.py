"""Replay invariants on random histories and configurations (hypothesis).

Each property is checked from the records alone, independently of the engine's bookkeeping:
attempts never start before their job is submitted or its dependencies end; no instance ever
holds more than its vCPUs, allocatable memory or GPUs; vCPUs in service stay within maxvCpus plus
one instance; every job ends SUCCEEDED or FAILED; total cost is instance-seconds x price (plus
Fargate task costs); the same seed gives the same result.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.simulate import ReplayResult, parse_config, replay
from optimizer.simulate.catalog import Catalog
from optimizer.simulate.config import ReplayConfig
from tests.simulate_helpers import ce, jobs_frame, queue, tiny_catalog

EPS = 1e-6
CATALOG = tiny_catalog(
    {
        "s.large": (2, 4096, 0, 0.10, 0.03, 4),
        "m.2xlarge": (8, 32768, 0, 0.40, 0.12, 2),
        "g.2xlarge": (8, 61440, 1, 1.00, 0.30, 4),
        "b.8xlarge": (32, 131072, 0, 1.60, None, None),
        "a.2xlarge": (8, 32768, 0, 0.32, 0.09, 1, "arm64"),
    }
)
TYPE_NAMES = sorted(CATALOG.types)


@st.composite
def histories(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 25))
    rows = []
    for k in range(n):
        rows.append(
            {
                "job_id": f"j{k}",
                "submit_s": draw(st.integers(0, 4000)),
                "runtime_s": draw(st.sampled_from([1, 30, 400, 3000, 7200, 2_000_000])),
                "vcpus": draw(st.sampled_from([0.5, 1, 2, 4, 8, 16])),
                "memory_mib": draw(st.sampled_from([512, 1024, 4096, 16000, 30000])),
                "gpus": draw(st.sampled_from([0, 0, 0, 1])),
                "queue": draw(st.sampled_from(["a", "b", "c", "unknown"])),
                "arch": draw(st.sampled_from([None, None, None, "x86_64", "arm64"])),
                "status": draw(st.sampled_from(["SUCCEEDED"] * 4 + ["FAILED"])),
                "depends_on": [
                    f"j{d}" for d in draw(st.sets(st.integers(0, max(k - 1, 0)), max_size=2)) if d < k
                ],
            }
        )
    return jobs_frame(rows)


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["EC2", "SPOT"]))
    strategies = ["BEST_FIT", "BEST_FIT_PROGRESSIVE"]
    if kind == "SPOT":
        strategies += ["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"]
        types = [t for t in TYPE_NAMES if CATALOG.types[t].spot_price is not None]
    else:
        types = TYPE_NAMES
    chosen = draw(st.lists(st.sampled_from(types), min_size=1, max_size=len(types), unique=True))
    max_vcpus = draw(st.sampled_from([4, 16, 40, 128]))
    min_vcpus = draw(st.sampled_from([0, 0, 2, 8]))
    first = ce(
        "first",
        kind,
        max_vcpus,
        chosen,
        allocationStrategy=draw(st.sampled_from(strategies)),
        minvCpus=min(min_vcpus, max_vcpus),
    )
    environments = [first]
    order_a = ["first"]
    if draw(st.booleans()):
        environments.append(ce("fallback", "EC2", draw(st.sampled_from([8, 64])), ["b.8xlarge", "s.large"]))
        order_a.append("fallback")
    fargate_kind = draw(st.sampled_from(["FARGATE", "FARGATE_SPOT"]))
    environments.append(ce("serverless", fargate_kind, draw(st.sampled_from([4, 16, 64]))))
    retry: dict[str, Any] = {"attempts": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        retry["evaluateOnExit"] = [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ]
    return {
        "computeEnvironments": environments,
        # Queues a (priority 10) and c (priority 5) share the EC2 CEs; b is Fargate only.
        "jobQueues": [queue("a", 10, *order_a), queue("b", 1, "serverless"), queue("c", 5, "first")],
        "simulation": {
            "seed": draw(st.integers(0, 2**31)),
            "launchDelaySeconds": draw(st.sampled_from([0, 60, 180])),
            "scaleInIdleSeconds": draw(st.sampled_from([0, 120, 600])),
            "fargateStartDelaySeconds": draw(st.sampled_from([0, 30])),
            "defaultRetryStrategy": retry,
        },
    }


def _sweep_max(intervals: list[tuple[float, float, float]]) -> float:
    """Peak of sum(amount) over [start, end) intervals; ends at an instant free before starts use."""
    events = sorted([(s, 1, a) for s, e, a in intervals] + [(e, 0, -a) for s, e, a in intervals])
    level = peak = 0.0
    for _, _, amount in events:
        level += amount
        peak = max(peak, level)
    return peak


def check_invariants(
    jobs: pd.DataFrame, config: ReplayConfig, catalog: Catalog, result: ReplayResult
) -> None:
    out_jobs = result.jobs.set_index("job_id")
    attempts, instances = result.attempts, result.instances
    assert set(out_jobs["status"]) <= {"SUCCEEDED", "FAILED"}
    assert len(out_jobs) == len(jobs)

    # Submission and dependencies.
    submit = jobs.set_index("job_id")["submit_s"]
    assert (attempts["started_at"] >= attempts["job_id"].map(submit) - EPS).all()
    for job_id, deps in zip(jobs["job_id"], jobs["depends_on"], strict=True):
        mine = attempts[attempts["job_id"] == job_id]
        for dep in deps:
            if len(mine):
                assert out_jobs.loc[dep, "status"] == "SUCCEEDED"
                assert (mine["started_at"] >= out_jobs.loc[dep, "ended_at"] - EPS).all()
            if out_jobs.loc[dep, "status"] == "FAILED":
                assert out_jobs.loc[job_id, "status"] == "FAILED"

    # A job that names an architecture only runs on instances of it.
    wanted = attempts["job_id"].map(jobs.set_index("job_id")["arch"])
    arch_of = attempts["instance_id"].map(instances.set_index("instance_id")["arch"])
    on_ec2 = attempts["instance_id"].notna() & wanted.notna()
    assert (arch_of[on_ec2] == wanted[on_ec2]).all()

    # Per-instance capacity, and attempts only while the instance is in service.
    for inst in instances.itertuples():
        on = attempts[attempts["instance_id"] == inst.instance_id]
        if on.empty:
            continue
        assert (on["started_at"] >= inst.ready_at - EPS).all()
        assert (on["ended_at"] <= inst.terminated_at + EPS).all()
        for column, limit in (("vcpus", inst.vcpus), ("memory_mib", inst.memory_mib), ("gpus", inst.gpus)):
            spans = list(zip(on["started_at"], on["ended_at"], on[column].astype(float), strict=True))
            assert _sweep_max(spans) <= limit + EPS, (inst.instance_id, column)

    # vCPUs in service per CE: maxvCpus, plus one instance unless on-demand BEST_FIT.
    for env in config.compute_environments:
        if env.is_fargate:
            tasks = attempts[attempts["compute_environment"] == env.name]
            spans = list(zip(tasks["started_at"], tasks["ended_at"], tasks["vcpus"], strict=True))
            assert _sweep_max(spans) <= env.max_vcpus + EPS
            continue
        mine = instances[instances["compute_environment"] == env.name]
        spans = list(zip(mine["launched_at"], mine["terminated_at"], mine["vcpus"], strict=True))
        largest = max(t.vcpus for t in env.instance_types)
        allowed = env.max_vcpus if env.strict_max else env.max_vcpus + largest
        assert _sweep_max(spans) <= max(allowed, env.desired_vcpus + largest) + EPS

    # Cost = instance-seconds (60 s minimum) x price, plus Fargate tasks.
    expected = 0.0
    for inst in instances.itertuples():
        spec = catalog.types[inst.instance_type]
        price = spec.spot_price if inst.capacity_type == "SPOT" else spec.ondemand_price
        expected += max(inst.terminated_at - inst.launched_at, 60.0) * price / 3600.0
    expected += float(attempts["fargate_cost_usd"].sum())
    assert result.summary["total_cost_usd"] == pytest.approx(expected, rel=1e-9, abs=1e-5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=histories(), document=configurations())
def test_replay_invariants_hold(jobs: pd.DataFrame, document: dict[str, Any]) -> None:
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    again = replay(jobs, config)
    pd.testing.assert_frame_equal(result.attempts, again.attempts)
    pd.testing.assert_frame_equal(result.instances, again.instances)
    assert result.summary == again.summary
