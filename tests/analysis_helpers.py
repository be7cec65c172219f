"""Small hand-made estates for the analysis tests: instances, attempts, jobs, catalog and prices."""

from __future__ import annotations

import pandas as pd

T0 = pd.Timestamp("2026-11-02 00:00:00")  # a Monday


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def instance_types() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["us-east-1"] * 3,
            "instance_type": ["m5.large", "m5.xlarge", "p3.2xlarge"],
            "vcpus": [2, 4, 8],
            "memory_mib": [8192, 16384, 62464],
            "allocatable_memory_mib": [8000, 16000, 60000],
            "gpus": [0, 0, 1],
            "arch": ["x86_64"] * 3,
        }
    )


def ondemand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["us-east-1"] * 4,
            "instance_type": ["m5.large", "m5.xlarge", "p3.2xlarge", "m5.large"],
            "effective_date": pd.to_datetime(["2026-07-01", "2026-07-01", "2026-07-01", "2025-01-01"]),
            "price_per_hour": [0.096, 0.192, 3.06, 0.5],  # the 2025 row is older: must be ignored
            "source": "snapshot",
        }
    )


def spot_prices() -> pd.DataFrame:
    """m5.xlarge in us-east-1a: 0.04 until hour 1, then 0.08 (a real series lists changes only)."""
    return pd.DataFrame(
        {
            "region": "us-east-1",
            "availability_zone": ["us-east-1a", "us-east-1a", "us-east-1b"],
            "instance_type": ["m5.xlarge", "m5.xlarge", "m5.xlarge"],
            "timestamp": [at(-5), at(1), at(-3)],
            "price": [0.04, 0.08, 0.05],
        }
    )


def instances() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instance_id": ["i-od", "i-spot", "i-gpu", "i-nospot"],
            "dataset": "aws",
            "region": "us-east-1",
            "availability_zone": ["us-east-1a", "us-east-1a", "us-east-1b", "us-east-1c"],
            "compute_environment_arn": ["ce-od", "ce-spot", "ce-gpu", "ce-spot"],
            "instance_type": ["m5.large", "m5.xlarge", "p3.2xlarge", "m5.xlarge"],
            "capacity_type": ["ON_DEMAND", "SPOT", "ON_DEMAND", "SPOT"],
            "launch_time": [at(0), at(0), at(22), pd.NaT],
            "first_seen": [at(0), at(0), at(22), at(0)],
            "last_seen": [at(2), at(2), at(26), at(1)],
            "terminated_at": [at(2), at(2), at(26), pd.NaT],
        }
    )


def jobs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "job_id": ["j-a", "j-b", "j-c", "j-gpu", "j-fail"],
            "dataset": "aws",
            "queue": ["q-main", "q-main", "q-spot", "q-gpu", "q-spot"],
            "job_definition_name": ["align", "align", "sort", "train", "sort"],
            "job_name": ["align-1", "align-2", "sort-1", "train-1", "sort-2"],
            "status": ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED"],
            "created_at": [at(0)] * 5,
            "vcpus": [1.0, 1.0, 4.0, 4.0, 2.0],
            "memory_mib": [4000, 4000, 8000, 30000, 8000],
            "gpus": [0, 0, 0, 1, 0],
            "tags": [{"team": "genomics"}, {"team": "genomics"}, {"team": "infra"}, None, {"team": "infra"}],
        }
    )


def attempts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "job_id": ["j-a", "j-b", "j-c", "j-c", "j-gpu", "j-fail"],
            "attempt": [0, 0, 0, 1, 0, 0],
            "instance_id": ["i-od", "i-od", "i-spot", "i-spot", "i-gpu", "i-nospot"],
            "started_at": [at(0), at(0), at(0), at(1), at(23), at(0)],
            "stopped_at": [at(2), at(1), at(0.5), at(2), at(25), at(1)],
            "exit_code": [0, 0, None, 0, 0, 1],
            "is_spot_reclaim": [False, False, True, False, False, False],
            "is_oom": [False] * 6,
            "peak_memory_mib": [1000.0, None, 4000.0, 6000.0, 30000.0, 100.0],
            "peak_vcpus": [0.5, None, 4.0, 4.0, 4.0, 0.1],
        }
    )
