"""Gang-formation idle measured twice: by the replay while it schedules a gang, and by cost
attribution from the replay's own records (what the collector would have read). They are the same
quantity (instances in service, held and empty, until the gang's last node joins), so they agree."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from optimizer.analysis.cost import attribute_costs
from optimizer.analysis.multinode import mnp_job_costs
from optimizer.simulate import parse_config, replay
from optimizer.simulate.records import to_store_frames
from tests.simulate_helpers import ce, queue, tiny_catalog
from tests.unit.test_simulate_gangs import _frame, _gang

pytestmark = pytest.mark.any_date

ANCHOR = datetime(2026, 11, 2)


def _catalog_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """n.4xlarge (16 vCPU, 64 GiB, $0.80/h on demand) as the store's catalog and price tables."""
    types = pd.DataFrame(
        {
            "region": ["us-east-1"],
            "instance_type": ["n.4xlarge"],
            "vcpus": [16],
            "memory_mib": [65536],
            "allocatable_memory_mib": [65536],
            "gpus": [0],
            "arch": ["x86_64"],
        }
    )
    ondemand = pd.DataFrame(
        {
            "region": ["us-east-1"],
            "instance_type": ["n.4xlarge"],
            "effective_date": pd.to_datetime(["2026-01-01"]),
            "price_per_hour": [0.80],
            "source": "snapshot",
        }
    )
    spot = pd.DataFrame(columns=["region", "availability_zone", "instance_type", "timestamp", "price"])
    return types, ondemand, spot


def test_attribution_of_a_replayed_gang_finds_the_replay_s_formation_idle() -> None:
    """The replay's hand-worked gang (`test_simulate_gangs`): launch delay 180 s; A (16 vCPU)
    runs 180..380 on I0; MNP job M (2 nodes of 16 vCPU) submitted at 400 takes I0 (in service,
    empty) and launches I1, which joins at 580; both nodes run 580..1580.

    Formation idle by hand: I0 held empty 400..580 = 180 s; I1 booted 400..580 and was the last
    node, 0 s. 180 s x $0.80/h = $0.04. Attribution of the stored records (I1 launched at 400,
    no earlier job on it) used to count I1's boot as well: 360 s, $0.08."""
    catalog = tiny_catalog({"n.4xlarge": (16, 65536, 0, 0.80, 0.24, 2)})
    rows = [
        {"job_id": "A", "submit_s": 0, "runtime_s": 200, "vcpus": 16, "memory_mib": 16384},
        *_gang("M", 2, submit_s=400, runtime_s=1000, vcpus=16, memory_mib=16384),
    ]
    document = {
        "computeEnvironments": [ce("od", "EC2", 64, ["n.4xlarge"], allocationStrategy="BEST_FIT")],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"launchDelaySeconds": 180, "scaleInIdleSeconds": 300},
    }
    result = replay(_frame(rows), parse_config(document, catalog))
    assert result.summary["gang_formation_idle_instance_hours"] == pytest.approx(180 / 3600)
    assert result.summary["gang_formation_idle_cost_usd"] == pytest.approx(0.04)

    stored = to_store_frames(result, anchor=ANCHOR, dataset="sim")
    types, ondemand, spot = _catalog_frames()
    costs = attribute_costs(
        stored["instances"], stored["job_attempts"], stored["jobs"], types, ondemand, spot
    )
    rolled = mnp_job_costs(
        costs.attempts, costs.instances, stored["job_attempts"], stored["instances"], stored["jobs"]
    )
    assert rolled["job_id"].tolist() == ["sim:M"]
    assert rolled.loc[0, "gang_formation_idle_hours"] == pytest.approx(180 / 3600)
    assert rolled.loc[0, "gang_formation_idle_usd"] == pytest.approx(0.04)
