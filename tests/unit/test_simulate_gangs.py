"""Multi-node parallel jobs in the replay: a hand-worked gang schedule and gang invariants (hypothesis)."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.simulate import gangs, parse_config, replay
from optimizer.simulate.gangs import SPOT_ONLY_REASON
from optimizer.simulate.head_blocking import AT_ONCE, BY_OWNER
from optimizer.simulate.results import blocked_heads
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


def _old_rule(environment: Any) -> bool:
    """The rule before Batch's spot refusal was modelled: any EC2 compute environment."""
    return not environment.is_fargate


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=gang_histories(), document=configurations(), cancel_s=st.sampled_from([0, 0, 900]))
def test_no_gang_node_starts_on_spot_and_without_spot_nothing_changes(
    jobs: pd.DataFrame, document: dict[str, Any], cancel_s: int
) -> None:
    """No node attempt of a gang is on a SPOT compute environment. A gang whose queue has a SPOT CE
    but no on-demand EC2 one never starts: it is in the blocked heads with `SPOT_ONLY_REASON`,
    removed by its owner's cancel (or at once without that delay), never by a time limit action.
    A configuration without SPOT EC2 CEs replays field for field as under the rule that let gangs use
    any EC2 CE (`gangs.gang_may_use` swapped for it): the rule touches nothing else."""
    document["simulation"]["blockedJobCancelSeconds"] = cancel_s
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    parent = jobs.set_index("job_id")["mnp_parent"]
    attempts = result.attempts
    on_gangs = attempts[attempts["job_id"].map(parent).notna()]
    assert (on_gangs["capacity_type"] == "ON_DEMAND").all(), on_gangs["capacity_type"].unique()
    names = {q.name for q in config.queues}
    kinds = {
        q.name: {config.environment(c).capacity_type for c in q.compute_environments} for q in config.queues
    }
    mains = jobs[jobs["mnp_parent"].notna() & (jobs["node_index"] == 0)]
    spot_only = {
        job_id
        for job_id, queue_name in zip(mains["job_id"], mains["queue"], strict=True)
        if (own := kinds[queue_name if queue_name in names else config.queues[0].name]) >= {"SPOT"}
        and "ON_DEMAND" not in own
    }
    heads = blocked_heads(result)
    mine = heads[heads["reason"] == SPOT_ONLY_REASON]
    # Exactly the gangs of spot-only queues (the histories have no dependencies to fail them first).
    assert set(mine["job_id"]) == spot_only and mine["job_id"].is_unique
    assert (mine["removed_by"] == (BY_OWNER if cancel_s else AT_ONCE)).all()
    assert not spot_only & set(attempts["job_id"].map(parent).dropna().map(lambda p: f"{p}#0"))
    if any(environment.kind == "SPOT" for environment in config.compute_environments):
        return
    with patch.object(gangs, "gang_may_use", _old_rule):
        before = replay(jobs, config)
    for table in ("jobs", "attempts", "instances", "blocked"):
        pd.testing.assert_frame_equal(getattr(result, table), getattr(before, table))
    assert result.summary == before.summary


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


def test_a_failed_gang_fails_together_and_its_retry_takes_its_instances_back_at_once() -> None:
    """Three 16-vCPU nodes on one on-demand CE; the history records the job FAILED and its retry
    strategy allows two attempts; launch delay 60 s, idle scale-in 300 s.

    By hand: 0: three instances launch, join at 60, every node runs 60..160 and exits 1. At 160 the
    whole gang's attempt ends, its three instances are empty again and the retry takes them back
    at once: 160..260, exit 1, no attempt left. Idle from 260, terminated at 560: 3 x 560 s x
    $0.80/h. No instance waited held (both formations found every instance in service or joining
    together)."""
    catalog = tiny_catalog({"n.4xlarge": (16, 65536, 0, 0.80, 0.24, 2)})
    rows = _gang("M", 3, submit_s=0, runtime_s=100, vcpus=16, memory_mib=16384, status="FAILED")
    document = {
        "computeEnvironments": [ce("od", "EC2", 64, ["n.4xlarge"], allocationStrategy="BEST_FIT")],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {
            "launchDelaySeconds": 60,
            "scaleInIdleSeconds": 300,
            "defaultRetryStrategy": {"attempts": 2},
        },
    }
    result = replay(_frame(rows), parse_config(document, catalog))
    attempts = result.attempts.sort_values(["attempt", "job_id"])
    assert attempts["started_at"].tolist() == [60.0] * 3 + [160.0] * 3
    assert attempts["ended_at"].tolist() == [160.0] * 3 + [260.0] * 3
    first, second = attempts[attempts["attempt"] == 0], attempts[attempts["attempt"] == 1]
    assert first["instance_id"].tolist() == second["instance_id"].tolist()
    assert set(result.jobs["status"]) == {"FAILED"} and (result.jobs["attempt_count"] == 2).all()
    assert result.instances["terminated_at"].tolist() == [560.0] * 3
    summary = result.summary
    assert summary["total_cost_usd"] == pytest.approx(3 * 560 * 0.80 / 3600, abs=1e-6)
    assert summary["gang_formations"] == 2 and summary["gang_formation_idle_instance_hours"] == 0.0


# One type with a spot price in the lowest interruption band: s.4xlarge, 16 vCPUs, $0.80/h on
# demand, $0.24/h spot. Every hand-worked case below checks that no spot instance was reclaimed.
SPOT_CATALOG = {"s.4xlarge": (16, 65536, 0, 0.80, 0.24, 0)}
SPOT_CE = ce("spot", "SPOT", 64, ["s.4xlarge"], allocationStrategy="SPOT_CAPACITY_OPTIMIZED")
OD_CE = ce("od", "EC2", 64, ["s.4xlarge"], allocationStrategy="BEST_FIT")
GANG_THEN_TWO = [
    *_gang("M", 2, submit_s=0, runtime_s=1000, vcpus=16, memory_mib=16384),
    {"job_id": "A", "submit_s": 100, "runtime_s": 200, "vcpus": 4, "memory_mib": 4096},
    {"job_id": "B", "submit_s": 200, "runtime_s": 300, "vcpus": 4, "memory_mib": 4096},
]


def test_a_gang_in_a_spot_only_queue_blocks_its_head_until_its_owner_cancels_it() -> None:
    """Queue q's only CE is SPOT; M (2 x 16 vCPU) is submitted at 0, A and B (4 vCPU) at 100 and
    200; launch delay 60 s, idle scale-in 300 s, the owner cancels a blocked job after 3600 s.

    By hand: Batch runs no MNP job on spot, so M never starts: it heads q from 0, RUNNABLE, and A
    and B wait behind it (no instance is launched). At 3600 its owner cancels it (both node jobs
    FAILED at 3600); A and B go in FIFO order: A launches I0 (s.4xlarge spot), B takes room on it
    while it joins; I0 joins at 3660, A runs 3660..3860, B 3660..3960; I0 idle from 3960,
    terminated at 4260. Cost: 660 s x $0.24/h = $0.044. Blocked: 3600 s, 2 jobs delayed; A waited
    3560 s, B 3460 s. No jobStateTimeLimitActions reason names this case, so only the owner's
    cancel ends it; without that delay M fails at once and blocks nothing."""
    catalog = tiny_catalog(SPOT_CATALOG)
    document = {
        "computeEnvironments": [SPOT_CE],
        "jobQueues": [queue("q", 1, "spot")],
        "simulation": {"launchDelaySeconds": 60, "scaleInIdleSeconds": 300, "blockedJobCancelSeconds": 3600},
    }
    result = replay(_frame(GANG_THEN_TWO), parse_config(document, catalog))
    jobs = result.jobs.set_index("job_id")
    assert jobs.loc[["M#0", "M#1"], "status"].tolist() == ["FAILED", "FAILED"]
    assert jobs.loc[["M#0", "M#1"], "ended_at"].tolist() == [3600.0, 3600.0]
    assert jobs["started_at"].isna().loc[["M#0", "M#1"]].all()
    assert jobs.loc["M#1", "status_reason"] == (
        f"cancelled by its owner after 3600 s blocking queue q ({SPOT_ONLY_REASON})"
    )
    attempts = result.attempts.set_index("job_id")
    assert set(attempts.index) == {"A", "B"}
    assert attempts.loc[["A", "B"], "started_at"].tolist() == [3660.0, 3660.0]
    assert attempts.loc[["A", "B"], "ended_at"].tolist() == [3860.0, 3960.0]
    assert attempts.loc[["A", "B"], "capacity_type"].tolist() == ["SPOT", "SPOT"]
    instances = result.instances
    assert instances[["launched_at", "terminated_at"]].values.tolist() == [[3600.0, 4260.0]]
    summary = result.summary
    assert summary["spot_reclaims"] == 0 and summary["mnp_jobs_failed"] == 1
    assert summary["total_cost_usd"] == pytest.approx(660 * 0.24 / 3600, abs=1e-9)
    assert (jobs.loc[["A", "B"], "started_at"] - jobs.loc[["A", "B"], "submitted_at"]).tolist() == [
        3560.0,
        3460.0,
    ]
    assert blocked_heads(result).to_dict("records") == [
        {
            "queue": "q",
            "job_id": "M#0",
            "reason": SPOT_ONLY_REASON,
            "head_at_s": 0.0,
            "blocked_s": 3600.0,
            "jobs_delayed": 2,
            "removed_by": BY_OWNER,
        }
    ]

    document["simulation"]["blockedJobCancelSeconds"] = 0
    at_once = replay(_frame(GANG_THEN_TWO), parse_config(document, catalog))
    jobs = at_once.jobs.set_index("job_id")
    assert jobs.loc["M#0", "status_reason"] == SPOT_ONLY_REASON and jobs.loc["M#0", "ended_at"] == 0.0
    # A launches I0 at 100 (joins at 160); B arrives at 200 to find room on it.
    assert jobs.loc[["A", "B"], "started_at"].tolist() == [160.0, 200.0]
    assert blocked_heads(at_once)["removed_by"].tolist() == [AT_ONCE]


def test_a_gang_skips_the_spot_ce_for_the_on_demand_one_while_single_jobs_use_spot() -> None:
    """Queue q lists the spot CE first, then the on-demand one; same jobs, launch delay 60 s,
    idle scale-in 300 s.

    By hand: 0: M skips spot (Batch runs no MNP job there) and launches I0, I1 on demand; both
    join at 60 and M's nodes run 60..1060. 100: A goes to the spot CE first: I2 (spot) launches,
    joins at 160, A runs 160..360. 200: B fits the 12 vCPUs I2 has left: 200..500. I2 idle from
    500, terminated at 800; I0 and I1 idle from 1060, terminated at 1360. Cost: 2 x 1360 s x
    $0.80/h + 700 s x $0.24/h. Nothing blocks."""
    catalog = tiny_catalog(SPOT_CATALOG)
    document = {
        "computeEnvironments": [SPOT_CE, OD_CE],
        "jobQueues": [queue("q", 1, "spot", "od")],
        "simulation": {"launchDelaySeconds": 60, "scaleInIdleSeconds": 300, "blockedJobCancelSeconds": 3600},
    }
    result = replay(_frame(GANG_THEN_TWO), parse_config(document, catalog))
    attempts = result.attempts.set_index("job_id")
    order = ["M#0", "M#1", "A", "B"]
    assert attempts.loc[order, "started_at"].tolist() == [60.0, 60.0, 160.0, 200.0]
    assert attempts.loc[order, "ended_at"].tolist() == [1060.0, 1060.0, 360.0, 500.0]
    assert attempts.loc[order, "compute_environment"].tolist() == ["od", "od", "spot", "spot"]
    instances = result.instances.set_index("instance_id")
    assert instances.loc[attempts.loc["M#0", "instance_id"], "terminated_at"] == 1360.0
    assert instances.loc[attempts.loc["A", "instance_id"], ["launched_at", "terminated_at"]].tolist() == [
        100.0,
        800.0,
    ]
    summary = result.summary
    assert summary["spot_reclaims"] == 0 and set(result.jobs["status"]) == {"SUCCEEDED"}
    assert summary["total_cost_usd"] == pytest.approx((2 * 1360 * 0.80 + 700 * 0.24) / 3600, abs=1e-6)
    assert blocked_heads(result).empty


@pytest.mark.parametrize("strategy", ["BEST_FIT_PROGRESSIVE", "BEST_FIT"])
def test_a_gang_the_ce_can_hold_is_placed_on_smaller_types_than_the_strategy_prefers(strategy: str) -> None:
    """maxvCpus 64; types s.4xlarge (16 vCPU, $0.80/h: $0.050 per vCPU) and b.9xlarge (36 vCPU,
    $1.44/h: $0.040 per vCPU, which BEST_FIT_PROGRESSIVE ranks first). A gang of 4 nodes x 16
    vCPUs needs 64 vCPUs: on b.9xlarge the third node could not launch (72 vCPUs already, and
    one instance over the maximum at most), so the gang takes four s.4xlarge instead of failing
    as "never placed" on a CE the fit check accepts. Launch delay 180 s: all four nodes start
    at 180 and end at 1180; cost 4 x 1480 s (scale-in 300 s after) x $0.80/h."""
    catalog = tiny_catalog(
        {"s.4xlarge": (16, 65536, 0, 0.80, 0.24, 2), "b.9xlarge": (36, 73728, 0, 1.44, 0.43, 2)}
    )
    rows = _gang("M", 4, submit_s=0, runtime_s=1000, vcpus=16, memory_mib=16384)
    document = {
        "computeEnvironments": [ce("od", "EC2", 64, ["s.4xlarge", "b.9xlarge"], allocationStrategy=strategy)],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"launchDelaySeconds": 180, "scaleInIdleSeconds": 300},
    }
    result = replay(_frame(rows), parse_config(document, catalog))
    attempts = result.attempts.set_index("job_id")
    assert attempts["started_at"].tolist() == [180.0] * 4
    assert attempts["ended_at"].tolist() == [1180.0] * 4
    instances = result.instances
    assert instances["instance_type"].tolist() == ["s.4xlarge"] * 4
    assert result.summary["total_cost_usd"] == pytest.approx(4 * 1480 * 0.80 / 3600)
