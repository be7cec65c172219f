"""MNP jobs in cost attribution: each node pays its whole instance; costs roll up to the MNP job."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.analysis.cost import attribute_costs
from optimizer.analysis.multinode import mnp_job_costs
from tests import analysis_helpers as h

pytestmark = pytest.mark.any_date


def _estate() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """MNP job `mnp` (created hour 0, 2 nodes of 2 vCPU / 4000 MiB) on two on-demand m5.xlarge
    ($0.192/h): i-n0 launched at hour 0, i-n1 at hour 1; both nodes run hours 1..3; both instances
    end at hour 3. A single job `solo` (1 vCPU) shares nothing with them, on i-solo 0..1."""
    instances = pd.DataFrame(
        {
            "instance_id": ["i-n0", "i-n1", "i-solo"],
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "compute_environment_arn": "ce-mnp",
            "instance_type": "m5.xlarge",
            "capacity_type": "ON_DEMAND",
            "launch_time": [h.at(0), h.at(1), h.at(0)],
            "first_seen": [h.at(0), h.at(1), h.at(0)],
            "last_seen": [h.at(3), h.at(3), h.at(1)],
            "terminated_at": [h.at(3), h.at(3), h.at(1)],
        }
    )
    jobs = pd.DataFrame(
        {
            "job_id": ["mnp", "mnp#0", "mnp#1", "solo"],
            "queue": "hpc",
            "job_definition_name": "mpi",
            "job_name": "mpi-1",
            "created_at": [h.at(0)] * 4,
            "vcpus": [2.0, 2.0, 2.0, 1.0],
            "memory_mib": [4000, 4000, 4000, 4000],
            "gpus": 0,
            "is_multinode": [True, True, True, False],
            "array_parent_id": [None, "mnp", "mnp", None],
            "node_count": [2, None, None, None],
        }
    )
    attempts = pd.DataFrame(
        {
            "job_id": ["mnp#0", "mnp#1", "solo"],
            "attempt": [0, 0, 0],
            "instance_id": ["i-n0", "i-n1", "i-solo"],
            "started_at": [h.at(1), h.at(1), h.at(0)],
            "stopped_at": [h.at(3), h.at(3), h.at(1)],
            "exit_code": [0, 0, 0],
            "is_spot_reclaim": False,
            "is_oom": False,
        }
    )
    return instances, jobs, attempts


def test_nodes_pay_their_whole_instance_and_roll_up_with_the_gang_formation_idle() -> None:
    instances, jobs, attempts = _estate()
    result = attribute_costs(instances, attempts, jobs, h.instance_types(), h.ondemand(), h.spot_prices())
    att = result.attempts.set_index("job_id")
    assert att.loc["mnp#0", "share"] == 1.0 and att.loc["mnp#0", "cost_usd"] == pytest.approx(2 * 0.192)
    # an ordinary job keeps its requested share: (1/4 + 4000/16000) / 2
    assert att.loc["solo", "share"] == pytest.approx(0.25)
    inst = result.instances.set_index("instance_id")
    assert inst.loc["i-n0", "idle_usd"] == pytest.approx(0.192)  # held from hour 0, gang started at 1
    assert inst.loc["i-n1", "idle_usd"] == pytest.approx(0.0)
    assert result.instances["total_usd"].sum() == pytest.approx(
        result.instances["attributed_usd"].sum() + result.instances["idle_usd"].sum()
    )
    rolled = mnp_job_costs(result.attempts, result.instances, attempts, instances, jobs).set_index("job_id")
    assert rolled.index.tolist() == ["mnp"]
    row = rolled.loc["mnp"]
    assert (row["queue"], row["nodes"], row["node_attempts"]) == ("hpc", 2, 2)
    assert row["cost_usd"] == pytest.approx(4 * 0.192)
    assert row["gang_formation_idle_hours"] == pytest.approx(1.0)
    assert row["gang_formation_idle_usd"] == pytest.approx(0.192)
    assert row["failed_usd"] == 0.0 and row["spot_reclaim_usd"] == 0.0


def test_a_reclaimed_node_makes_the_gang_attempt_reclaim_waste() -> None:
    instances, jobs, attempts = _estate()
    attempts.loc[attempts["job_id"] == "mnp#1", ["exit_code", "is_spot_reclaim"]] = [None, True]
    attempts.loc[attempts["job_id"] == "mnp#0", "exit_code"] = 1
    result = attribute_costs(instances, attempts, jobs, h.instance_types(), h.ondemand(), h.spot_prices())
    row = (
        mnp_job_costs(result.attempts, result.instances, attempts, instances, jobs)
        .set_index("job_id")
        .loc["mnp"]
    )
    assert row["spot_reclaim_usd"] == pytest.approx(2 * 0.192) and row["failed_usd"] == pytest.approx(
        2 * 0.192
    )


def test_no_mnp_jobs_gives_an_empty_table() -> None:
    result = attribute_costs(
        h.instances(), h.attempts(), h.jobs(), h.instance_types(), h.ondemand(), h.spot_prices()
    )
    assert mnp_job_costs(result.attempts, result.instances, h.attempts(), h.instances(), h.jobs()).empty


def test_gang_formation_starts_when_the_instance_s_previous_job_ended() -> None:
    instances, jobs, attempts = _estate()
    # `solo` ran on i-n0 until hour 0.5: the instance was held for the gang only from then on
    attempts.loc[attempts["job_id"] == "solo", ["instance_id", "stopped_at"]] = ["i-n0", h.at(0.5)]
    result = attribute_costs(instances, attempts, jobs, h.instance_types(), h.ondemand(), h.spot_prices())
    row = (
        mnp_job_costs(result.attempts, result.instances, attempts, instances, jobs)
        .set_index("job_id")
        .loc["mnp"]
    )
    assert row["gang_formation_idle_hours"] == pytest.approx(0.5)
    assert row["gang_formation_idle_usd"] == pytest.approx(0.5 * 0.192)


def test_a_new_instance_s_boot_is_not_gang_formation_idle() -> None:
    """MNP job `g` (created hour 0, 3 nodes) on three on-demand m5.xlarge ($0.192/h):

        instance  launched  joined (boot 0.25 h)  node starts
        i-a       -1        -1 (in service, idle)  0.35
        i-b        0         0.25                  0.35
        i-c        0.1       0.35                  0.35

    The gang starts when its last instance, i-c, has joined: 0.35, so the join delay is
    0.35 - 0.1 = 0.25 h. Held idle while the gang formed, by hand: i-a from its creation 0 to
    0.35 = 0.35 h; i-b from joining at 0.25 to 0.35 = 0.1 h; i-c 0 (it was the last). Total
    0.45 h x $0.192 = $0.0864. Counting from the launch instead (boot included) would give
    0.35 + 0.35 + 0.25 = 0.95 h: every new node's boot, which a single job on a new instance pays
    as well and the replay does not count as formation idle."""
    instances = pd.DataFrame(
        {
            "instance_id": ["i-a", "i-b", "i-c"],
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "compute_environment_arn": "ce-mnp",
            "instance_type": "m5.xlarge",
            "capacity_type": "ON_DEMAND",
            "launch_time": [h.at(-1), h.at(0), h.at(0.1)],
            "first_seen": [h.at(-1), h.at(0), h.at(0.1)],
            "last_seen": [h.at(1.35)] * 3,
            "terminated_at": [h.at(1.35)] * 3,
        }
    )
    jobs = pd.DataFrame(
        {
            "job_id": ["g", "g#0", "g#1", "g#2"],
            "queue": "hpc",
            "job_definition_name": "mpi",
            "job_name": "mpi-1",
            "created_at": [h.at(0)] * 4,
            "vcpus": 2.0,
            "memory_mib": 4000,
            "gpus": 0,
            "is_multinode": True,
            "array_parent_id": [None, "g", "g", "g"],
            "node_count": [3, None, None, None],
        }
    )
    attempts = pd.DataFrame(
        {
            "job_id": ["g#0", "g#1", "g#2"],
            "attempt": 0,
            "instance_id": ["i-a", "i-b", "i-c"],
            "started_at": [h.at(0.35)] * 3,
            "stopped_at": [h.at(1.35)] * 3,
            "exit_code": 0,
            "is_spot_reclaim": False,
            "is_oom": False,
        }
    )
    result = attribute_costs(instances, attempts, jobs, h.instance_types(), h.ondemand(), h.spot_prices())
    row = (
        mnp_job_costs(result.attempts, result.instances, attempts, instances, jobs)
        .set_index("job_id")
        .loc["g"]
    )
    assert row["gang_formation_idle_hours"] == pytest.approx(0.45)
    assert row["gang_formation_idle_usd"] == pytest.approx(0.45 * 0.192)
