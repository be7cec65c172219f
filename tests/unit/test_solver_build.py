"""Building problems from frames, and recommending compute environments from a plan."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from optimizer.catalog.files import read_price_file
from optimizer.catalog.from_store import catalog_for_region
from optimizer.catalog.interruptions import band_hourly_hazard
from optimizer.catalog.memory import allocatable_memory_mib
from optimizer.catalog.provider import CatalogProvider, build_provider
from optimizer.solver.build import build_problem, offerings_from_catalog
from optimizer.solver.compute_environments import environment_notes, recommend_environments, warm_floor
from optimizer.solver.problem import Policy
from optimizer.solver.validate import validate_plan
from tests.data_paths import shared
from tests.solver_helpers import run


def _catalog() -> CatalogProvider:
    prices = pd.DataFrame(
        {
            "instance_type": ["m5.large", "c5.xlarge", "m5.xlarge", "g4dn.xlarge"],
            "vcpus": [2.0, 4.0, 4.0, 4.0],
            "memory_mib": [8192, 8192, 16384, 16384],
            "gpus": [0, 0, 0, 1],
            "arch": "x86_64",
            "ondemand_price": [0.096, 0.17, 0.192, 0.526],
        }
    )
    bands = pd.DataFrame({"instance_type": ["m5.large"], "band": [2], "savings_pct": [60.0]})
    return build_provider(prices, bands, region="us-east-1")


def test_offerings_use_the_catalogue_spot_estimate_and_band_hazard() -> None:
    offs = {o.key: o for o in offerings_from_catalog(_catalog())}
    assert set(offs) == {
        "m5.large/ON_DEMAND",
        "m5.large/SPOT",
        "c5.xlarge/ON_DEMAND",
        "m5.xlarge/ON_DEMAND",
        "g4dn.xlarge/ON_DEMAND",
    }
    assert offs["m5.large/ON_DEMAND"].price_per_hour == 0.096
    assert offs["m5.large/SPOT"].price_per_hour == pytest.approx(0.096 * 0.4)
    # The one band -> hazard rule: -ln(1 - 12.5%) / 730 h, not the linear 0.125 / 730.
    assert offs["m5.large/SPOT"].interruption_rate == pytest.approx(-math.log(1 - 0.125) / 730)
    assert offs["m5.large/SPOT"].interruption_rate == band_hourly_hazard(2)
    assert offs["m5.large/ON_DEMAND"].memory_mib == allocatable_memory_mib(8192)


def test_collected_spot_prices_replace_the_estimate_and_say_so() -> None:
    series = pd.DataFrame(
        {
            "instance_type": ["m5.large"] * 3,
            "availability_zone": ["us-east-1a", "us-east-1a", "us-east-1b"],
            "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-02"]),
            "price": [0.05, 0.03, 0.04],
        }
    )
    base = _catalog()
    provider = build_provider(
        base.table, pd.DataFrame({"instance_type": ["m5.large"], "band": [2], "savings_pct": [60.0]}), series,
        region="us-east-1",
    )  # fmt: skip
    row = provider.row("m5.large")
    assert row is not None and row["spot_price_source"] == "collected"
    assert row["spot_price"] == pytest.approx(0.035)  # latest per AZ (0.03, 0.04), median across AZs
    assert base.row("m5.large")["spot_price_source"] == "estimate"


def test_store_form_jobs_build_a_solvable_problem_and_environments() -> None:
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
    problem = build_problem(
        jobs, _catalog(), Policy(time_limit_seconds=5), on_demand_queues=frozenset({"critical"})
    )
    assert problem.n_buckets == 2
    by_id = {s.id: s for s in problem.shapes}
    assert any(not s.spot_ok and s.vcpus == 4 for s in by_id.values())
    plan = run(problem)
    assert plan.has_solution and validate_plan(problem, plan) == []
    # CPU-only jobs never land on the GPU type under the default instance requirements, although
    # g4dn.xlarge could host the 4 vCPU / 8 GiB shape.
    assert not any(key.startswith("g4dn") for key in plan.selected)
    envs = recommend_environments(problem, plan, "batch")
    kinds = {e["computeResources"]["type"]: e for e in envs["computeEnvironments"]}
    assert kinds["SPOT"]["computeResources"]["allocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert kinds["EC2"]["computeResources"]["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    for env in kinds.values():
        res = env["computeResources"]
        assert 0 <= res["minvCpus"] <= res["maxvCpus"] and res["instanceTypes"]
    order = envs["jobQueues"][0]["computeEnvironmentOrder"]
    assert [o["computeEnvironment"] for o in order] == ["batchopt-spot", "batchopt-ondemand"]
    assert set(envs) == {"computeEnvironments", "jobQueues"}  # exactly what `simulate --config` reads
    assert environment_notes(problem, plan)  # the on-demand-only shapes need their own queue


def test_real_price_table_and_spot_advisor_read() -> None:
    provider = catalog_for_region(
        None,
        "us-east-1",
        prices_path=str(shared("prices", "ec2-ondemand-us-east-1-2026-07.csv")),
        spot_advisor_path=str(shared("spot-advisor", "spot-advisor-data_2025-06-28.json")),
    )
    table = provider.table
    assert set(table["arch"]) == {"x86_64", "arm64"}
    assert len(table) > 1000
    offs = offerings_from_catalog(provider)
    spot = [o for o in offs if o.is_spot]
    assert len(spot) > 500
    assert all(o.price_per_hour > 0 for o in spot)
    nominal = dict(zip(table["instance_type"], table["memory_mib"], strict=True))
    assert all(0 < o.memory_mib < nominal[o.instance_type] for o in offs)
    # The same file read directly: one parser whatever the spelling of its columns.
    raw = read_price_file(shared("prices", "ec2-ondemand-us-east-1-2026-07.csv"))
    assert raw["ondemand_price"].notna().sum() >= len(table)


def test_the_warm_floor_is_whole_instances_of_the_largest_type() -> None:
    """A floor of a few vCPUs on a CE listing a 192-vCPU type would keep that instance up all
    month (Batch meets minvCpus with any of the CE's types): below one largest instance it is 0,
    above it whole largest instances, never more than the quietest bucket runs."""
    assert warm_floor([4.0, 96.0, 400.0], 192) == 0
    assert warm_floor([400.0, 500.0], 192) == 384
    assert warm_floor([192.0], 192) == 192
    assert warm_floor([], 192) == 0


def test_gpu_jobs_are_planned_on_nvidia_types_only() -> None:
    """Batch gives the GPU resource requirement only NVIDIA GPUs: g4ad's AMD Radeon Pro is cheaper
    per GPU here, and a plan on it would leave the GPU jobs RUNNABLE for ever."""
    prices = pd.DataFrame(
        {
            "instance_type": ["g4ad.xlarge", "g4dn.xlarge", "m5.xlarge"],
            "vcpus": [4.0, 4.0, 4.0],
            "memory_mib": [16384, 16384, 16384],
            "gpus": [1, 1, 0],
            # (DescribeInstanceTypes' GpuInfo manufacturer and name, as the collector stores them)
            "gpu_model": ["AMD Radeon Pro V520", "NVIDIA T4", None],
            "arch": "x86_64",
            "ondemand_price": [0.379, 0.526, 0.192],
        }
    )
    catalog = build_provider(prices, region="us-east-1")
    assert catalog.row("g4ad.xlarge")["gpus"] == 0 and catalog.row("g4dn.xlarge")["gpus"] == 1
    assert catalog.row("g4ad.xlarge")["category"] == "accelerated"  # (still kept from CPU jobs)
    t0 = pd.Timestamp("2026-01-05 00:00:00")
    jobs = pd.DataFrame(
        {
            "job_id": ["gpu", "cpu"],
            "queue": "batch",
            "job_name": "j",
            "created_at": t0,
            "started_at": t0,
            "stopped_at": t0 + pd.Timedelta(hours=2),
            "vcpus": [2.0, 2.0],
            "memory_mib": [4000, 4000],
            "gpus": [1, 0],
        }
    )
    problem = build_problem(jobs, catalog, Policy(time_limit_seconds=5))
    plan = run(problem)
    assert plan.has_solution and validate_plan(problem, plan) == []
    assert {key.split("/")[0] for key in plan.selected} == {"g4dn.xlarge", "m5.xlarge"}
