"""Building problems from frames, and recommending compute environments from a plan."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.catalog_files import read_price_csv, read_spot_advisor
from optimizer.catalog_rules import allocatable_memory_mib
from optimizer.solver.build import build_problem_from_frames, hourly_interruption_rate, offerings_from_frames
from optimizer.solver.compute_environments import recommend_environments
from optimizer.solver.problem import Policy
from optimizer.solver.validate import validate_plan
from tests.data_paths import shared
from tests.solver_helpers import run


def _catalog() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    types = pd.DataFrame(
        {
            "region": "us-east-1",
            "instance_type": ["m5.large", "c5.xlarge", "g4dn.xlarge"],
            "vcpus": [2.0, 4.0, 4.0],
            "memory_mib": [8192, 8192, 16384],
            "allocatable_memory_mib": [allocatable_memory_mib(m) for m in (8192, 8192, 16384)],
            "gpus": [0, 0, 1],
            "arch": "x86_64",
        }
    )
    prices = pd.DataFrame(
        {
            "region": "us-east-1",
            "instance_type": ["m5.large", "m5.large", "c5.xlarge", "g4dn.xlarge"],
            "effective_date": ["2025-01-01", "2026-01-01", "2026-01-01", "2026-01-01"],
            "price_per_hour": [0.2, 0.096, 0.17, 0.526],
        }
    )
    bands = pd.DataFrame(
        {"region": "us-east-1", "instance_type": ["m5.large"], "band": [2], "savings_pct": [60.0]}
    )
    return types, prices, bands


def test_offerings_use_latest_price_spot_discount_and_band_rate() -> None:
    types, prices, bands = _catalog()
    offs = {o.key: o for o in offerings_from_frames(types, prices, bands, region="us-east-1")}
    assert set(offs) == {
        "m5.large/ON_DEMAND",
        "m5.large/SPOT",
        "c5.xlarge/ON_DEMAND",
        "g4dn.xlarge/ON_DEMAND",
    }
    assert offs["m5.large/ON_DEMAND"].price_per_hour == 0.096
    assert offs["m5.large/SPOT"].price_per_hour == pytest.approx(0.096 * 0.4)
    assert offs["m5.large/SPOT"].interruption_rate == pytest.approx(0.125 / 730)
    assert offs["m5.large/ON_DEMAND"].memory_mib == allocatable_memory_mib(8192)
    assert hourly_interruption_rate(4) == pytest.approx(0.25 / 730)


def test_store_form_jobs_build_a_solvable_problem_and_environments() -> None:
    types, prices, bands = _catalog()
    t0 = pd.Timestamp("2026-01-05 00:00:00")
    jobs = pd.DataFrame(
        {
            "job_id": ["a", "b", "c", "d"],
            "queue": ["batch", "batch", "critical", "batch"],
            "job_name": "j",
            "created_at": [t0, t0, t0 + pd.Timedelta(minutes=5), t0],
            "started_at": [t0, t0 + pd.Timedelta(minutes=1), t0 + pd.Timedelta(minutes=6), None],
            "stopped_at": [
                t0 + pd.Timedelta(hours=2),
                t0 + pd.Timedelta(minutes=30),
                t0 + pd.Timedelta(hours=1),
                None,
            ],
            "vcpus": [2.0, 1.0, 4.0, 1.0],
            "memory_mib": [3000, 1000, 6000, 1000],
            "gpus": [0, 0, 0, 0],
        }
    )
    problem = build_problem_from_frames(
        jobs, types, prices, bands, Policy(time_limit_seconds=5), on_demand_queues=frozenset({"critical"})
    )
    assert problem.n_buckets == 2
    by_id = {s.id: s for s in problem.shapes}
    assert any(not s.spot_ok and s.vcpus == 4 for s in by_id.values())
    plan = run(problem)
    assert plan.has_solution and validate_plan(problem, plan) == []
    envs = recommend_environments(problem, plan, "batch")
    kinds = {e["computeResources"]["type"]: e for e in envs["computeEnvironments"]}
    assert kinds["SPOT"]["computeResources"]["allocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert kinds["EC2"]["computeResources"]["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    for env in kinds.values():
        res = env["computeResources"]
        assert 0 <= res["minvCpus"] <= res["maxvCpus"] and res["instanceTypes"]
    order = envs["jobQueues"][0]["computeEnvironmentOrder"]
    assert [o["computeEnvironment"] for o in order] == ["batchopt-spot", "batchopt-ondemand"]
    assert envs["notes"]  # the on-demand-only shapes need their own queue


def test_real_price_table_and_spot_advisor_read() -> None:
    types, prices = read_price_csv(shared("prices", "ec2-ondemand-us-east-1-2026-07.csv"), "us-east-1")
    bands = read_spot_advisor(shared("spot-advisor", "spot-advisor-data_2025-06-28.json"), "us-east-1")
    assert set(types["arch"]) == {"x86_64", "arm64"}
    assert len(prices) == len(types) > 1000
    offs = offerings_from_frames(types, prices, bands, region="us-east-1")
    spot = [o for o in offs if o.is_spot]
    assert len(spot) > 500
    assert all(o.price_per_hour > 0 for o in spot)
    nominal = dict(zip(types["instance_type"], types["memory_mib"], strict=True))
    assert all(0 < o.memory_mib < nominal[o.instance_type] for o in offs)
