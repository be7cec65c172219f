"""Fair-share scheduling in the replay (`optimizer.simulate.fair_share`).

Hand-worked cases give the order Batch's fair-share rule produces (lowest weighted usage first,
usage decaying over shareDecaySeconds, computeReservation holding capacity for shares not yet
active); the properties check, from the records alone, that every start taken while another
share waited went to a share whose weighted usage (recomputed from the attempts) was not higher,
and that a queue with one share replays exactly as the FIFO queue does.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.errors import ConfigError
from optimizer.simulate import parse_config, replay
from optimizer.simulate.fair_share import SchedulingPolicy
from optimizer.simulate.records import to_store_frames
from optimizer.simulate.results import share_waits
from optimizer.traces.files import parse_text
from tests.simulate_helpers import ce, jobs_frame, queue
from tests.unit.test_simulate_invariants import CATALOG, check_invariants, configurations, histories

EPS = 1e-6
FAST = {"launchDelaySeconds": 0, "scaleInIdleSeconds": 1000}


def _policy(name: str = "teams", **fairshare: Any) -> dict[str, Any]:
    return {"name": name, "fairsharePolicy": fairshare}


def _document(max_vcpus: int, policy: dict[str, Any] | None, **resources: Any) -> dict[str, Any]:
    body = queue("q", 1, "od")
    document: dict[str, Any] = {
        "computeEnvironments": [
            ce("od", "EC2", max_vcpus, ["s.large"], allocationStrategy="BEST_FIT", **resources)
        ],
        "jobQueues": [body],
        "simulation": dict(FAST),
    }
    if policy is not None:
        body["schedulingPolicyArn"] = (
            f"arn:aws:batch:us-east-1:123456789012:scheduling-policy/{policy['name']}"
        )
        document["schedulingPolicies"] = [policy]
    return document


def _jobs(rows: list[tuple[str, str, float]], runtime: float = 100.0) -> pd.DataFrame:
    """(job_id, share, submit_s) rows of 1-vCPU jobs."""
    frame = jobs_frame([{"job_id": j, "submit_s": t, "vcpus": 1, "runtime_s": runtime} for j, _, t in rows])
    return frame.assign(share_identifier=[share for _, share, _ in rows])


TEAMS = _jobs(
    [("a1", "A", 0), ("a2", "A", 0), ("a3", "A", 0), ("a4", "A", 0), ("b1", "B", 1), ("b2", "B", 1)]
)


def test_the_share_with_the_lowest_usage_takes_the_freed_room() -> None:
    # One s.large (2 vCPUs): two 1-vCPU jobs at a time. FIFO runs A's four jobs, then B's two.
    fifo = replay(TEAMS, parse_config(_document(2, None), CATALOG)).jobs.set_index("job_id")["started_at"]
    assert fifo.to_dict() == {"a1": 0, "a2": 0, "a3": 100, "a4": 100, "b1": 200, "b2": 200}
    # Fair share (decay 0 = Batch's 600 s window, equal weights). At 100, a1 ends first: A's usage
    # is 1 placed vCPU + its decayed average 2(1 - e^(-100/600)) = 1.307, B's 0: b1 starts. Then a2
    # ends: A 0 + 0.307 < B 1 + 0: a3 starts. At 200 b1 ends first: B 0 + 1(1 - e^(-1/6)) = 0.154
    # < A 1 + 0.413: b2; then a3 ends: A 0.413 < B 1.154: a4.
    result = replay(TEAMS, parse_config(_document(2, _policy(shareDecaySeconds=0)), CATALOG))
    started = result.jobs.set_index("job_id")["started_at"]
    assert started.to_dict() == {"a1": 0, "a2": 0, "a3": 100, "a4": 200, "b1": 100, "b2": 200}
    waits = share_waits(result).set_index("share")
    # A waited 0, 0, 100, 200 s; B 99 and 199 s (numpy's linear quantiles).
    assert waits.loc["A"].to_dict() == {"queue": "q", "jobs": 4, "p50_wait_s": 50.0, "p95_wait_s": 185.0}
    assert waits.loc["B"].to_dict() == {"queue": "q", "jobs": 2, "p50_wait_s": 149.0, "p95_wait_s": 194.0}
    assert result.summary["share_wait_s"]["q"]["B"] == {"jobs": 2, "p50_s": 149.0, "p95_s": 194.0}
    # Same jobs, same one instance from 0 to 300 (+1000 s idle): the same cost as FIFO.
    assert result.summary["total_cost_usd"] == pytest.approx(1300 * 0.10 / 3600, abs=1e-6)


def test_a_lower_weight_factor_wins_against_more_usage() -> None:
    # B weighs 0.125: at 100 A scores 1.307, B 0 -> b1; then A 0.307 vs B 0.125 x 1 = 0.125 -> b2.
    policy = _policy(
        shareDecaySeconds=0, shareDistribution=[{"shareIdentifier": "B*", "weightFactor": 0.125}]
    )
    started = replay(TEAMS, parse_config(_document(2, policy), CATALOG)).jobs.set_index("job_id")[
        "started_at"
    ]
    assert started[["b1", "b2"]].tolist() == [100.0, 100.0]
    assert started[["a3", "a4"]].tolist() == [200.0, 200.0]


def test_compute_reservation_keeps_room_for_a_share_not_yet_active() -> None:
    # maxvCpus 4 (two s.large). computeReservation 50: with one share active 50 % of 4 vCPUs is
    # kept back, so A runs two jobs at a time although the CE could launch a second instance.
    # B arrives at 10: two shares active, 25 % kept, 3 vCPUs usable: b1 starts at once.
    jobs = _jobs([("a1", "A", 0), ("a2", "A", 0), ("a3", "A", 0), ("a4", "A", 0), ("b1", "B", 10)])
    policy = _policy(shareDecaySeconds=600, computeReservation=50)
    result = replay(jobs, parse_config(_document(4, policy), CATALOG))
    started = result.jobs.set_index("job_id")["started_at"]
    assert started.to_dict() == {"a1": 0, "a2": 0, "a3": 100, "a4": 100, "b1": 10}
    assert result.instances["launched_at"].tolist() == [0.0, 10.0]
    # Without the reservation A's four jobs start at 0 on two instances.
    free = replay(jobs, parse_config(_document(4, _policy(shareDecaySeconds=600)), CATALOG))
    assert free.jobs.set_index("job_id")["started_at"][["a3", "a4"]].tolist() == [0.0, 0.0]


def test_scheduling_priority_orders_jobs_within_a_share() -> None:
    jobs = TEAMS.assign(scheduling_priority=[0, 0, 0, 9, 0, 0])  # a4 outranks a3 within A
    started = replay(jobs, parse_config(_document(2, _policy()), CATALOG)).jobs.set_index("job_id")[
        "started_at"
    ]
    assert started["a4"] == 100.0 and started["a3"] == 200.0


def test_a_describe_jobs_trace_brings_its_share_identifiers_and_priorities() -> None:
    def job(job_id: str, created_s: int, share: str, priority: int) -> dict[str, Any]:
        created = 1_700_000_000_000 + created_s * 1000
        return {
            "jobId": job_id,
            "jobName": job_id,
            "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
            "status": "SUCCEEDED",
            "createdAt": created,
            "startedAt": created,
            "stoppedAt": created + 100_000,
            "container": {"vcpus": 1, "memory": 1024},
            "shareIdentifier": share,
            "schedulingPriority": priority,
        }

    items = [job("a1", 0, "A", 0), job("a2", 0, "A", 0), job("a3", 0, "A", 0), job("a4", 0, "A", 5)]
    items += [job("b1", 1, "B", 0), job("b2", 1, "B", 0)]
    jobs = parse_text(json.dumps({"jobs": items}), "batch-json", "jobs.json").jobs
    assert jobs["share_identifier"].tolist() == ["A", "A", "A", "A", "B", "B"]
    result = replay(jobs, parse_config(_document(2, _policy(shareDecaySeconds=0)), CATALOG))
    started = result.jobs.set_index("job_id")["started_at"]
    # As in the first case, with a4 (schedulingPriority 5) ahead of a3 within share A.
    assert started.to_dict() == {"a1": 0, "a2": 0, "a4": 100, "a3": 200, "b1": 100, "b2": 200}
    assert share_waits(result)["share"].tolist() == ["A", "B"]
    # Saved as a dataset, the jobs keep their shares (the store's jobs.share_identifier).
    saved = to_store_frames(result, anchor=datetime(2026, 1, 1), dataset="what-if")["jobs"]
    assert dict(zip(saved["job_id"], saved["share_identifier"], strict=True))["what-if:b1"] == "B"


def test_policy_weights_match_exact_names_then_the_longest_prefix() -> None:
    policy = SchedulingPolicy("p", share_distribution=(("team*", 2.0), ("teamx*", 0.5), ("ops", 0.25)))
    assert [policy.weight(s) for s in ("ops", "team-a", "teamx1", "other")] == [0.25, 2.0, 0.5, 1.0]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["schedulingPolicies"][0]["fairsharePolicy"].update(computeReservation=100),
         r"schedulingPolicies\[0\] \(teams\)\.fairsharePolicy\.computeReservation"),
        (lambda d: d["schedulingPolicies"][0]["fairsharePolicy"].update(shareDecaySeconds=604801),
         r"fairsharePolicy\.shareDecaySeconds"),
        (lambda d: d["schedulingPolicies"][0]["fairsharePolicy"].update(decay=5),
         r"fairsharePolicy\.decay: unknown field"),
        (lambda d: d["schedulingPolicies"][0].update(quotaSharePolicy={}),
         r"schedulingPolicies\[0\]\.quotaSharePolicy: unknown field"),
        (lambda d: d["schedulingPolicies"][0]["fairsharePolicy"].update(
            shareDistribution=[{"shareIdentifier": "A", "weightFactor": 0}]),
         r"shareDistribution\[0\]\.weightFactor"),
        (lambda d: d["schedulingPolicies"][0]["fairsharePolicy"].update(
            shareDistribution=[{"shareIdentifier": "A", "weight": 1}]),
         r"shareDistribution\[0\]\.weight: unknown field"),
        (lambda d: d["schedulingPolicies"][0]["fairsharePolicy"].update(
            shareDistribution=[{"shareIdentifier": "UserA*"}, {"shareIdentifier": "UserA1"}]),
         r"'UserA\*' and 'UserA1' overlap"),
        (lambda d: d["jobQueues"][0].update(schedulingPolicyArn="missing"),
         r"jobQueues\[0\] \(q\)\.schedulingPolicyArn: 'missing' names no entry"),
    ],
)  # fmt: skip
def test_bad_policies_name_their_field(edit: Any, field: str) -> None:
    document = _document(2, _policy())
    edit(document)
    with pytest.raises(ConfigError, match=field):
        parse_config(document, CATALOG)


# ----------------------------------------------------------------- properties


def _usage(start: np.ndarray, end: np.ndarray, vcpus: np.ndarray, t: float, decay: float) -> float:
    """A share's usage at t from its attempts placed before: vCPUs placed now plus their average
    decayed over `decay` (the integral of placed vCPUs x e^(-(t - tau)/decay) / decay)."""
    placed = float(vcpus[end > t + EPS].sum())
    average = float((vcpus * (np.exp((np.minimum(end, t) - t) / decay) - np.exp((start - t) / decay))).sum())
    return placed + average


@st.composite
def shared_histories(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, float], int]:
    shares = draw(
        st.lists(st.sampled_from(["ops", "lab-a", "lab-b", "web"]), min_size=2, max_size=4, unique=True)
    )
    weights = {s: draw(st.sampled_from([0.125, 0.5, 1.0, 1.0, 4.0])) for s in shares}
    rows = []
    for k in range(draw(st.integers(4, 30))):
        rows.append(
            {
                "job_id": f"j{k}",
                "submit_s": draw(st.integers(0, 3000)),
                "runtime_s": draw(st.integers(1, 2000)),
                "vcpus": 1,
                "share": draw(st.sampled_from(shares)),
            }
        )
    frame = jobs_frame(rows).assign(share_identifier=[r["share"] for r in rows])
    return frame, weights, draw(st.sampled_from([2, 4, 8]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=shared_histories(), decay=st.sampled_from([600, 3600]))
def test_every_start_while_another_share_waits_goes_to_the_lowest_weighted_usage(
    history: tuple[pd.DataFrame, dict[str, float], int], decay: int
) -> None:
    jobs, weights, slots = history
    distribution = [{"shareIdentifier": s, "weightFactor": w} for s, w in weights.items()]
    policy = _policy(shareDecaySeconds=decay, shareDistribution=distribution)
    # A fixed fleet (minvCpus = maxvCpus, instances up from the start): every free slot fits any job.
    document = _document(slots, policy, minvCpus=slots)
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    attempts = result.attempts.reset_index(drop=True)  # rows in the order attempts started
    share_of = jobs.set_index("job_id")["share_identifier"]
    first_start = result.jobs.set_index("job_id")["started_at"]
    submitted = jobs.set_index("job_id")["submit_s"]
    ends = attempts["ended_at"].round(9).value_counts()
    share = attempts["job_id"].map(share_of).to_numpy()
    start, end = attempts["started_at"].to_numpy(float), attempts["ended_at"].to_numpy(float)
    vcpus = attempts["vcpus"].to_numpy(float)
    for a in range(len(attempts)):
        t = start[a]
        if ends.get(round(t, 9), 0) > 1:
            continue  # two attempts ended at this instant: their order is not in the records
        # Jobs submitted at this very instant may have arrived after the start: not counted.
        waiting = first_start[(submitted < t - EPS) & (first_start > t + EPS)].index
        others = {share_of[j] for j in waiting} - {share[a]}
        if not others:
            continue

        def usage(name: str, a: int = a, t: float = t) -> float:
            mask = share[:a] == name
            return weights[name] * _usage(start[:a][mask], end[:a][mask], vcpus[:a][mask], t, decay)

        own = usage(share[a])
        for other in others:
            assert own <= usage(other) + 1e-6


def _with_one_share(document: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    out["schedulingPolicies"] = [_policy("everyone", shareDecaySeconds=900)]
    for body in out["jobQueues"]:
        body["schedulingPolicyArn"] = "everyone"
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=histories(), document=configurations())
def test_one_share_replays_exactly_as_fifo(jobs: pd.DataFrame, document: dict[str, Any]) -> None:
    jobs = jobs.assign(share_identifier="everyone")
    fifo = replay(jobs, parse_config(document, CATALOG))
    fair = replay(jobs, parse_config(_with_one_share(document), CATALOG))
    pd.testing.assert_frame_equal(fair.jobs, fifo.jobs)
    pd.testing.assert_frame_equal(fair.attempts, fifo.attempts)
    pd.testing.assert_frame_equal(fair.instances, fifo.instances)
    assert fair.summary == fifo.summary


def test_two_saturated_equal_shares_stay_within_one_job_of_each_other() -> None:
    # Six slots, 40 jobs per share at 0 (interleaved), all 100 s: every round splits evenly.
    rows = [(f"{s}{k}", s, 0.0) for k in range(40) for s in ("A", "B")]
    result = replay(
        _jobs(rows), parse_config(_document(6, _policy(shareDecaySeconds=3600), minvCpus=6), CATALOG)
    )
    out = result.jobs.assign(share=[r[1] for r in rows])
    for t in sorted(out["started_at"].unique()):
        counts = out[out["started_at"] <= t].groupby("share").size()
        assert abs(int(counts.get("A", 0)) - int(counts.get("B", 0))) <= 1
