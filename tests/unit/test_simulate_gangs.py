"""Multi-node parallel jobs in the replay: a hand-worked gang schedule and gang invariants (hypothesis)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.simulate import parse_config, replay
from tests.simulate_helpers import ce, jobs_frame, queue, tiny_catalog
from tests.unit.test_simulate_invariants import CATALOG, TYPE_NAMES, check_invariants, configurations

EPS = 1e-6


def _gang(parent: str, nodes: int, **row: Any) -> list[dict[str, Any]]:
    return [{**row, "job_id": f"{parent}#{k}", "mnp_parent": parent, "node_index": k} for k in range(nodes)]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = jobs_frame(rows)
    frame["mnp_parent"] = [r.get("mnp_parent") for r in rows]
    frame["node_index"] = pd.array([r.get("node_index") for r in rows], dtype="Int64")
    frame["num_nodes"] = pd.array(
        [sum(1 for o in rows if o.get("mnp_parent") == r.get("mnp_parent")) if r.get("mnp_parent") else None
         for r in rows],
        dtype="Int64",
    )  # fmt: skip
    return frame


def test_gang_waits_for_its_last_node_holding_an_idle_instance() -> None:
    """One on-demand CE, BEST_FIT (strict maxvCpus 64), one type n.4xlarge (16 vCPU, $0.80/h);
    launch delay 180 s, idle scale-in 300 s.

        job   submit  run    vCPUs
        A     0       200    16
        M     400     1000   2 nodes x 16 (MNP, node 0 main)
        B     500     100    4

    By hand:
    - 0: A launches I0 (CE 16 vCPU); I0 joins 180, A runs 180..380; I0 idle from 380.
    - 400: M needs two empty instances: I0 (in service, empty) takes node 0 and is held whole;
      node 1 launches I1 (CE 32). I1 joins 580: both nodes start at 580 and end at 1580. I0
      waited held and idle 400..580: 180 s of gang formation, 180 x $0.80/h = $0.04. I0's
      scale-in check at 680 (idle since 380) does not apply: it is held.
    - 500: B (4 vCPU) cannot use the 12 vCPUs I0 or I1 leave (a node holds its instance whole):
      I2 launches (CE 48), joins 680, B runs 680..780, I2 terminates at 1080.
    - 1580: M ends; I0 and I1 idle, terminated at 1880.
    Cost: I0 0..1880 = 1880 s, I1 400..1880 = 1480 s, I2 500..1080 = 580 s; 3940 s x $0.80/h =
    $0.875556.
    """
    catalog = tiny_catalog({"n.4xlarge": (16, 65536, 0, 0.80, 0.24, 2)})
    rows = [
        {"job_id": "A", "submit_s": 0, "runtime_s": 200, "vcpus": 16, "memory_mib": 16384},
        *_gang("M", 2, submit_s=400, runtime_s=1000, vcpus=16, memory_mib=16384),
        {"job_id": "B", "submit_s": 500, "runtime_s": 100, "vcpus": 4, "memory_mib": 4096},
    ]
    document = {
        "computeEnvironments": [ce("od", "EC2", 64, ["n.4xlarge"], allocationStrategy="BEST_FIT")],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"launchDelaySeconds": 180, "scaleInIdleSeconds": 300},
    }
    result = replay(_frame(rows), parse_config(document, catalog))
    attempts = result.attempts.set_index("job_id")
    assert attempts.loc[["A", "M#0", "M#1", "B"], "started_at"].tolist() == [180.0, 580.0, 580.0, 680.0]
    assert attempts.loc[["A", "M#0", "M#1", "B"], "ended_at"].tolist() == [380.0, 1580.0, 1580.0, 780.0]
    instance = attempts["instance_id"]
    assert instance["M#0"] == instance["A"] and len({instance["M#0"], instance["M#1"], instance["B"]}) == 3
    instances = result.instances.set_index("instance_id")
    assert instances.loc[instance["A"], "terminated_at"] == 1880.0
    assert instances.loc[instance["M#1"], ["launched_at", "terminated_at"]].tolist() == [400.0, 1880.0]
    assert instances.loc[instance["B"], ["launched_at", "terminated_at"]].tolist() == [500.0, 1080.0]
    summary = result.summary
    assert summary["total_cost_usd"] == pytest.approx(3940 * 0.80 / 3600, abs=1e-6)
    assert summary["mnp_jobs"] == 1 and summary["mnp_node_jobs"] == 2 and summary["gang_formations"] == 1
    assert summary["gang_formation_idle_instance_hours"] == pytest.approx(180 / 3600)
    assert summary["gang_formation_idle_cost_usd"] == pytest.approx(0.04)
    assert set(result.jobs["status"]) == {"SUCCEEDED"}


def test_a_gang_no_environment_can_hold_fails_at_once_and_dependents_on_its_id_wait_for_it() -> None:
    catalog = tiny_catalog({"n.4xlarge": (16, 65536, 0, 0.80, 0.24, 2)})
    rows = [
        *_gang("wide", 5, submit_s=0, runtime_s=100, vcpus=16, memory_mib=1024),  # 80 vCPUs > 64
        *_gang("ok", 2, submit_s=0, runtime_s=100, vcpus=8, memory_mib=1024),
        {"job_id": "after", "submit_s": 0, "runtime_s": 10, "depends_on": ["ok"]},
    ]
    document = {
        "computeEnvironments": [ce("od", "EC2", 64, ["n.4xlarge"], allocationStrategy="BEST_FIT")],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"launchDelaySeconds": 60, "scaleInIdleSeconds": 60},
    }
    result = replay(_frame(rows), parse_config(document, catalog))
    jobs = result.jobs.set_index("job_id")
    assert (jobs.loc[[f"wide#{k}" for k in range(5)], "status"] == "FAILED").all()
    assert "can hold all 5 nodes" in jobs.loc["wide#3", "status_reason"]
    attempts = result.attempts.set_index("job_id")
    assert attempts.loc["after", "started_at"] >= attempts.loc["ok#1", "ended_at"] == 160.0


@st.composite
def gang_histories(draw: st.DrawFn) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, 12))):
        row = {
            "submit_s": draw(st.integers(0, 4000)),
            "runtime_s": draw(st.sampled_from([1, 30, 400, 3000, 7200, 2_000_000])),
            "vcpus": draw(st.sampled_from([0.5, 1, 2, 4, 8, 16])),
            "memory_mib": draw(st.sampled_from([512, 1024, 4096, 16000])),
            "gpus": draw(st.sampled_from([0, 0, 0, 1])),
            "queue": draw(st.sampled_from(["a", "b", "c", "unknown"])),
            "arch": draw(st.sampled_from([None, None, "x86_64", "arm64"])),
            "status": draw(st.sampled_from(["SUCCEEDED"] * 4 + ["FAILED"])),
        }
        nodes = draw(st.sampled_from([1, 1, 2, 3, 4]))
        if nodes == 1:
            rows.append({**row, "job_id": f"j{k}"})
        else:
            rows.extend(_gang(f"g{k}", nodes, **row))
    frame = _frame(rows)
    # Some node ranges name their own instance types (a random subset of the catalogue's).
    frame["node_instance_types"] = [
        draw(st.one_of(st.none(), st.lists(st.sampled_from(TYPE_NAMES), min_size=1, max_size=3, unique=True)))
        if isinstance(parent, str)
        else None
        for parent in frame["mnp_parent"]
    ]
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=gang_histories(), document=configurations())
def test_gang_invariants_hold(jobs: pd.DataFrame, document: dict[str, Any]) -> None:
    """Besides every replay invariant: a gang's node attempts start at the same second and end at
    the same second, one per node (never fewer than numNodes running), each alone on its own
    instance of one compute environment (of its node range's types, where it names them); all its
    node jobs end with the same status."""
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    attempts, out = result.attempts, result.jobs.set_index("job_id")
    parent = jobs.set_index("job_id")["mnp_parent"]
    attempts = attempts.assign(gang=attempts["job_id"].map(parent))
    allowed = attempts["job_id"].map(jobs.set_index("job_id")["node_instance_types"])
    for types, instance_type in zip(allowed, attempts["instance_type"], strict=True):
        assert types is None or instance_type in types  # a node range's own instance types
    for gang, nodes in jobs[jobs["mnp_parent"].notna()].groupby("mnp_parent"):
        ids = nodes["job_id"].tolist()
        assert out.loc[ids, "status"].nunique() == 1, gang
        mine = attempts[attempts["gang"] == gang].sort_values(["started_at", "job_id"])
        assert mine.groupby("job_id").size().reindex(ids, fill_value=0).nunique() == 1, gang
        for _, together in mine.groupby("started_at"):
            assert sorted(together["job_id"]) == sorted(ids), gang
            assert together["ended_at"].nunique() == 1
            assert together["compute_environment"].nunique() == 1
            assert together["instance_id"].notna().all() and together["instance_id"].is_unique
            start, end = together["started_at"].iat[0], together["ended_at"].iat[0]
            others = attempts[
                attempts["instance_id"].isin(together["instance_id"])
                & (attempts["gang"] != gang)
                & (attempts["started_at"] < end - EPS)
                & (attempts["ended_at"] > start + EPS)
            ]
            assert others.empty, (gang, others)
    again = replay(jobs, config)
    pd.testing.assert_frame_equal(result.attempts, again.attempts)
    assert result.summary == again.summary


def test_node_ranges_take_their_own_instance_types() -> None:
    """Main node range `0` asks for m.4xlarge, range `1:` for the CE's choice (BEST_FIT: the
    cheapest that fits, c.4xlarge); a gang whose range names a type no CE has fails at once."""
    catalog = tiny_catalog(
        {"c.4xlarge": (16, 32768, 0, 0.68, None, None), "m.4xlarge": (16, 65536, 0, 0.77, None, None)}
    )
    rows = [
        *_gang("mixed", 3, submit_s=0, runtime_s=100, vcpus=16, memory_mib=8192),
        *_gang("odd", 2, submit_s=0, runtime_s=100, vcpus=16, memory_mib=8192),
    ]
    frame = _frame(rows)
    frame["node_instance_types"] = [["m.4xlarge"], None, None, ["x.9xlarge"], None]
    document = {
        "computeEnvironments": [
            ce("od", "EC2", 256, ["c.4xlarge", "m.4xlarge"], allocationStrategy="BEST_FIT")
        ],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"launchDelaySeconds": 60},
    }
    result = replay(frame, parse_config(document, catalog))
    attempts = result.attempts.set_index("job_id")
    assert attempts.loc[["mixed#0", "mixed#1", "mixed#2"], "instance_type"].tolist() == [
        "m.4xlarge",
        "c.4xlarge",
        "c.4xlarge",
    ]
    assert attempts.loc[["mixed#0", "mixed#2"], "started_at"].tolist() == [60.0, 60.0]
    jobs = result.jobs.set_index("job_id")
    assert (jobs.loc[["odd#0", "odd#1"], "status"] == "FAILED").all()
    assert "odd#0" not in attempts.index


def test_a_reclaimed_node_ends_the_gang_and_the_retry_reuses_the_surviving_instances() -> None:
    """Three 16-vCPU nodes on spot (band 4, seed 1: the main node's host is reclaimed during the
    first attempt). At that second all three attempts end (one reclaim, two "another node's host
    terminated"); the retry strategy retries the gang, which takes the two surviving instances
    back at once and launches one: it starts 60 s later (the launch delay), two instances having
    waited held for those 60 s."""
    catalog = tiny_catalog({"s.4xlarge": (16, 65536, 0, 0.80, 0.24, 4)})
    rows = _gang("M", 3, submit_s=0, runtime_s=2_000_000, vcpus=16, memory_mib=16384)
    retry = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    document = {
        "computeEnvironments": [
            ce("spot", "SPOT", 256, ["s.4xlarge"], allocationStrategy="SPOT_CAPACITY_OPTIMIZED")
        ],
        "jobQueues": [queue("q", 1, "spot")],
        "simulation": {
            "seed": 1,
            "launchDelaySeconds": 60,
            "scaleInIdleSeconds": 300,
            "defaultRetryStrategy": retry,
        },
    }
    result = replay(_frame(rows), parse_config(document, catalog))
    attempts = result.attempts
    first, second = attempts[attempts["attempt"] == 0], attempts[attempts["attempt"] == 1]
    assert first["is_spot_reclaim"].sum() == 1 and first["ended_at"].nunique() == 1
    lost = first.loc[first["is_spot_reclaim"], "instance_id"].iat[0]
    others = first[~first["is_spot_reclaim"]]
    assert others["reason"].str.startswith("Multi-node parallel job: another node's host terminated").all()
    reclaimed_at = first["ended_at"].iat[0]
    assert second["started_at"].tolist() == [reclaimed_at + 60] * 3
    assert set(others["instance_id"]) < set(second["instance_id"]) and lost not in set(second["instance_id"])
    assert set(result.jobs["status"]) == {"SUCCEEDED"} and (result.jobs["attempt_count"] == 2).all()
    summary = result.summary
    assert summary["gang_formations"] == 2 and summary["instances_launched"] == 4
    assert summary["gang_formation_idle_instance_hours"] == pytest.approx(2 * 60 / 3600, abs=1e-6)
