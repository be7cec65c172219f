"""Replay behaviours on small hand-made histories: each test states the schedule Batch would produce."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer.errors import ConfigError
from optimizer.simulate import parse_config, replay
from optimizer.simulate.allocation import choose_instance_type
from optimizer.simulate.fargate import fargate_size
from optimizer.simulate.records import to_store_frames
from optimizer.simulate.retry import RetryStrategy, reclaim_status_reason
from tests.simulate_helpers import ce, jobs_frame, queue, tiny_catalog

CATALOG = tiny_catalog(
    {
        "s.large": (2, 8192, 0, 0.10, 0.03, 4),
        "m.2xlarge": (8, 32768, 0, 0.40, 0.10, 0),
        "m.4xlarge": (16, 65536, 0, 0.80, 0.16, 1),
        "g.2xlarge": (8, 61440, 1, 1.00, None, None),
    }
)
FAST = {"launchDelaySeconds": 0, "scaleInIdleSeconds": 1000}


def _config(environments: list[dict], queues: list[dict], **simulation: Any) -> Any:
    document = {
        "computeEnvironments": environments,
        "jobQueues": queues,
        "simulation": {**FAST, **simulation},
    }
    return parse_config(document, CATALOG)


def _starts(result: Any) -> dict[str, float]:
    return dict(zip(result.jobs["job_id"], result.jobs["started_at"], strict=True))


def test_higher_priority_queue_gets_freed_capacity_first() -> None:
    config = _config(
        [ce("od", "EC2", 2, ["s.large"], allocationStrategy="BEST_FIT")],
        [queue("low", 1, "od"), queue("high", 10, "od")],
    )
    jobs = jobs_frame(
        [
            {"job_id": "running", "queue": "low", "submit_s": 0, "runtime_s": 100, "vcpus": 2},
            {"job_id": "early-low", "queue": "low", "submit_s": 10, "runtime_s": 100, "vcpus": 2},
            {"job_id": "late-high", "queue": "high", "submit_s": 20, "runtime_s": 100, "vcpus": 2},
        ]
    )
    starts = _starts(replay(jobs, config))
    assert starts == {"running": 0.0, "late-high": 100.0, "early-low": 200.0}


def test_a_waiting_large_job_does_not_block_a_small_one_that_fits() -> None:
    config = _config(
        [ce("od", "EC2", 8, ["m.2xlarge"], allocationStrategy="BEST_FIT")], [queue("q", 1, "od")]
    )
    jobs = jobs_frame(
        [
            {"job_id": "a", "submit_s": 0, "runtime_s": 100, "vcpus": 6},
            {"job_id": "big", "submit_s": 1, "runtime_s": 10, "vcpus": 4},
            {"job_id": "small", "submit_s": 2, "runtime_s": 10, "vcpus": 2},
        ]
    )
    assert _starts(replay(jobs, config)) == {"a": 0.0, "big": 100.0, "small": 2.0}


@pytest.mark.parametrize(("strategy", "instances"), [("BEST_FIT", 1), ("BEST_FIT_PROGRESSIVE", 2)])
def test_max_vcpus_is_strict_for_best_fit_and_exceeded_by_one_instance_otherwise(
    strategy: str, instances: int
) -> None:
    config = _config([ce("od", "EC2", 10, ["m.2xlarge"], allocationStrategy=strategy)], [queue("q", 1, "od")])
    jobs = jobs_frame([{"job_id": f"j{k}", "submit_s": 0, "runtime_s": 50, "vcpus": 8} for k in range(3)])
    result = replay(jobs, config)
    assert result.summary["instances_launched"] == instances
    assert len(set(result.attempts[result.attempts["started_at"] == 0]["instance_id"])) == instances


def test_dependencies_wait_for_success_and_fail_with_their_dependency() -> None:
    config = _config([ce("od", "EC2", 64, ["m.2xlarge"])], [queue("q", 1, "od")])
    jobs = jobs_frame(
        [
            {"job_id": "a", "submit_s": 0, "runtime_s": 100},
            {"job_id": "b", "submit_s": 5, "runtime_s": 10, "depends_on": ["a"]},
            {"job_id": "bad", "submit_s": 0, "runtime_s": 30, "status": "FAILED"},
            {"job_id": "after-bad", "submit_s": 1, "depends_on": ["bad"]},
        ]
    )
    result = replay(jobs, config)
    out = result.jobs.set_index("job_id")
    assert out.loc["b", "started_at"] == 100.0 and out.loc["b", "status"] == "SUCCEEDED"
    assert out.loc["bad", "status"] == "FAILED" and out.loc["after-bad", "status"] == "FAILED"
    assert (
        out.loc["after-bad", "attempt_count"] == 0
        and "dependency bad failed" in out.loc["after-bad", "status_reason"]
    )


def test_unrunnable_jobs_fail_with_a_reason_and_unknown_queues_use_the_first() -> None:
    config = _config([ce("od", "EC2", 64, ["m.2xlarge"])], [queue("first", 1, "od")])
    jobs = jobs_frame(
        [
            {"job_id": "gpu", "gpus": 1},
            {"job_id": "huge", "vcpus": 32},
            {"job_id": "elsewhere", "queue": "not-in-config"},
        ]
    )
    out = replay(jobs, config).jobs.set_index("job_id")
    assert (
        out.loc["gpu", "status"] == "FAILED"
        and "can run 1 vCPU, 1024 MiB, 1 GPU" in out.loc["gpu", "status_reason"]
    )
    assert out.loc["huge", "status"] == "FAILED"
    assert out.loc["elsewhere", "queue"] == "first" and out.loc["elsewhere", "status"] == "SUCCEEDED"


def _spot_config(action: str) -> Any:
    retry = {"attempts": 5, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": action}]}
    return _config(
        [ce("spot", "SPOT", 64, ["s.large"], allocationStrategy="SPOT_CAPACITY_OPTIMIZED")],
        [queue("q", 1, "spot")],
        seed=3,
        defaultRetryStrategy=retry,
    )


def test_spot_reclaims_are_retried_as_the_retry_strategy_says() -> None:
    # s.large is in band 4 (>20% a month): over a year-long job a reclaim is all but certain.
    jobs = jobs_frame([{"job_id": f"j{k}", "runtime_s": 365 * 86400, "vcpus": 2} for k in range(4)])
    retried = replay(jobs, _spot_config("RETRY"))
    reclaimed = retried.attempts[retried.attempts["is_spot_reclaim"]]
    assert len(reclaimed) >= 1
    first = reclaimed.iloc[0]
    assert first["reason"] == reclaim_status_reason(first["instance_id"])
    later = retried.attempts[retried.attempts["job_id"] == first["job_id"]]
    assert later["attempt"].max() >= 1 + int(first["attempt"])  # another attempt followed
    assert retried.summary["instances_reclaimed"] >= 1

    exited = replay(jobs, _spot_config("EXIT"))
    victims = exited.attempts[exited.attempts["is_spot_reclaim"]]["job_id"]
    out = exited.jobs.set_index("job_id")
    assert len(victims) and (out.loc[victims, "status"] == "FAILED").all()
    assert (out.loc[victims, "attempt_count"] == 1).all()
    # Same seed, same history: the same reclaims.
    assert replay(jobs, _spot_config("EXIT")).attempts.equals(exited.attempts)


def test_fargate_jobs_are_priced_per_task_and_rounded_to_a_valid_size() -> None:
    config = _config(
        [ce("fg", "FARGATE", 16), ce("fgs", "FARGATE_SPOT", 16)],
        [queue("on", 1, "fg"), queue("spot", 1, "fgs")],
        fargateStartDelaySeconds=0,
    )
    jobs = jobs_frame(
        [
            {"job_id": "a", "queue": "on", "runtime_s": 3600, "vcpus": 0.75, "memory_mib": 1500},
            {"job_id": "b", "queue": "spot", "runtime_s": 10, "vcpus": 1, "memory_mib": 2048},
        ]
    )
    result = replay(jobs, config)
    attempts = result.attempts.set_index("job_id")
    assert (attempts.loc["a", "vcpus"], attempts.loc["a", "memory_mib"]) == (1.0, 2048.0)
    assert attempts.loc["a", "fargate_cost_usd"] == pytest.approx(0.04048 + 2 * 0.004445)
    # 10 s is billed as the 1-minute minimum, at the Fargate Spot discount.
    assert attempts.loc["b", "fargate_cost_usd"] == pytest.approx((0.04048 + 2 * 0.004445) / 60 * 0.3)
    assert result.summary["cost_by_capacity_type"].keys() == {"FARGATE", "FARGATE_SPOT"}
    assert attempts["instance_id"].isna().all()


def test_min_vcpus_keeps_instances_while_idle_ones_above_it_scale_in() -> None:
    config = _config(
        [ce("od", "EC2", 64, ["m.2xlarge"], minvCpus=8, allocationStrategy="BEST_FIT")],
        [queue("q", 1, "od")],
        scaleInIdleSeconds=60,
    )
    jobs = jobs_frame([{"job_id": f"j{k}", "submit_s": 100, "runtime_s": 1000, "vcpus": 8} for k in range(2)])
    instances = replay(jobs, config).instances.sort_values("terminated_at")
    # The min instance starts with the replay (t=100), a second is launched for the second job; both
    # go idle at 1100: the first idle check (60 s later) may go, the other is kept for minvCpus until
    # the end of the replay (the last job's end, 1100).
    assert instances["launched_at"].tolist() == [100.0, 100.0]
    assert instances["terminated_at"].tolist() == [1100.0, 1160.0]
    assert instances["end_reason"].tolist() == ["end of replay", "scale-in: idle"]


def test_retry_strategy_matches_like_batch() -> None:
    strategy = RetryStrategy.from_api(
        {
            "attempts": 3,
            "evaluateOnExit": [
                {"onStatusReason": "Host EC2*", "action": "RETRY"},
                {"onExitCode": "13*", "action": "RETRY"},
                {"onReason": "*", "action": "EXIT"},
            ],
        }
    )
    host = reclaim_status_reason("i-0abc")
    assert strategy.should_retry(1, host, None, None)
    assert not strategy.should_retry(3, host, None, None)  # attempts exhausted
    assert strategy.should_retry(1, "Essential container in task exited", None, 137)
    assert not strategy.should_retry(1, "Essential container in task exited", None, 1)
    assert RetryStrategy(attempts=2).should_retry(1, "anything", None, 1)  # no condition matches: retry
    with pytest.raises(ConfigError, match=r"retryStrategy.attempts: must be an integer from 1 to 10"):
        RetryStrategy.from_api({"attempts": 11})
    with pytest.raises(ConfigError, match=r"evaluateOnExit\[0\].action"):
        RetryStrategy.from_api({"attempts": 2, "evaluateOnExit": [{"onReason": "*", "action": "MAYBE"}]})


def test_fargate_sizes() -> None:
    assert fargate_size(0.25, 100, 0) == (0.25, 512.0)
    assert fargate_size(1, 9000, 0) == (2.0, 9216.0)  # 1 vCPU tops out at 8 GiB
    assert fargate_size(3, 1024, 0) == (4.0, 8192.0)
    assert fargate_size(16, 122880, 0) == (16.0, 122880.0)
    assert fargate_size(17, 1024, 0) == (32.0, 61440.0)  # the 32-vCPU sizes
    assert fargate_size(33, 1024, 0) is None and fargate_size(1, 1024, 1) is None


def test_allocation_strategies_pick_as_documented() -> None:
    types = list(CATALOG.types.values())
    one = choose_instance_type(types, "BEST_FIT", False, 2, 4096, 0, waiting=1)
    many = choose_instance_type(types, "BEST_FIT", False, 2, 4096, 0, waiting=8)
    assert one.instance_type == "s.large"  # $0.10 for the one job
    assert many.instance_type == "s.large"  # still the lowest price per job hosted ($0.10 vs $0.20)
    spot = [t for t in types if t.spot_price is not None]
    co = choose_instance_type(spot, "SPOT_CAPACITY_OPTIMIZED", True, 2, 4096, 0, waiting=1)
    pco = choose_instance_type(spot, "SPOT_PRICE_CAPACITY_OPTIMIZED", True, 2, 4096, 0, waiting=8)
    assert co.instance_type == "m.2xlarge"  # band 0 beats band 4 whatever the price
    assert pco.instance_type == "m.4xlarge"  # bands 0-1: $0.16 / 8 jobs beats $0.10 / 4 jobs
    capped = choose_instance_type(types, "BEST_FIT", False, 4, 4096, 0, waiting=4, headroom_vcpus=8)
    assert capped.instance_type == "m.2xlarge"  # the 16-vCPU type would exceed the headroom


def test_configuration_problems_are_all_reported_with_their_field() -> None:
    document = {
        "computeEnvironments": [
            ce("a", "EC2", 16, ["nope.large"], allocationStrategy="SPOT_CAPACITY_OPTIMIZED"),
            ce("f", "FARGATE", 16),
        ],
        "jobQueues": [queue("q", 1, "a", "f", "missing")],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(document, CATALOG, source="c.json")
    lines = str(info.value).splitlines()
    assert any("instanceTypes: 'nope.large' is not an instance type" in line for line in lines)
    assert any(
        "allocationStrategy: SPOT_CAPACITY_OPTIMIZED is not valid for EC2 compute environments" in line
        for line in lines
    )
    assert any("unknown compute environment 'missing'" in line for line in lines)
    assert any("EC2 and Fargate compute environments in one queue" in line for line in lines)
    assert all(line.startswith("c.json: ") for line in lines)


def test_optimal_is_the_default_x86_64_bundle() -> None:
    """Batch API reference (botocore 1.44): `optimal` is "semantically equivalent to default_x86_64"
    (m6i, c6i, r6i, c7i) since the 2025-11-01 change; it used to mean c4/m4/r4."""
    from tests.simulate_helpers import real_catalog

    families = {}
    for alias in ("optimal", "default_x86_64", "default_arm64"):
        config = parse_config(
            {"computeEnvironments": [ce("od", "EC2", 16, [alias])], "jobQueues": [queue("q", 1, "od")]},
            real_catalog(),
        )
        families[alias] = {t.family for t in config.compute_environments[0].instance_types}
    assert families["optimal"] == families["default_x86_64"] == {"m6i", "c6i", "r6i", "c7i"}
    assert families["default_arm64"] == {"m6g", "c6g", "r6g", "c7g"}


def test_store_frames_use_the_store_columns_and_namespaced_ids() -> None:
    from datetime import datetime

    from optimizer.store.schema import instances, job_attempts, jobs

    config = _config([ce("od", "EC2", 64, ["m.2xlarge"])], [queue("q", 1, "od")])
    result = replay(jobs_frame([{"job_id": "1", "submit_s": 10, "runtime_s": 5}]), config)
    frames = to_store_frames(result, anchor=datetime(2026, 1, 1), dataset="what-if")
    for table in (jobs, job_attempts, instances):
        assert set(frames[table.name].columns) <= set(table.c.keys())
    job = frames["jobs"].iloc[0]
    assert job["job_id"] == "what-if:1" and job["dataset"] == "what-if"
    assert job["created_at"] == datetime(2026, 1, 1, 0, 0, 10) and job["stopped_at"] == datetime(
        2026, 1, 1, 0, 0, 15
    )
    assert frames["job_attempts"].iloc[0]["instance_id"] == frames["instances"].iloc[0]["instance_id"]


def test_a_bad_jobs_table_is_rejected_naming_the_job() -> None:
    from optimizer.errors import InputError

    config = _config([ce("od", "EC2", 64, ["m.2xlarge"])], [queue("q", 1, "od")])
    jobs = jobs_frame([{"job_id": "ok"}, {"job_id": "neg", "runtime_s": -5}])
    with pytest.raises(InputError, match=r"job neg: field 'runtime_s': must be a finite number >= 0"):
        replay(jobs, config)


def test_reclaimed_min_capacity_is_replaced_while_work_remains() -> None:
    config = _config(
        [ce("spot", "SPOT", 64, ["s.large"], minvCpus=4, allocationStrategy="SPOT_CAPACITY_OPTIMIZED")],
        [queue("q", 1, "spot")],
        seed=5,
        defaultRetryStrategy={"attempts": 10},
    )
    jobs = jobs_frame([{"job_id": "long", "runtime_s": 300 * 86400, "vcpus": 2}])
    result = replay(jobs, config)
    reclaimed = result.instances[result.instances["end_reason"] == "spot reclaim"]
    assert len(reclaimed) >= 1
    # After every reclaim before the job's end, the CE is back at minvCpus (2 x 2 vCPU) at once.
    end = float(result.jobs["ended_at"].iat[0])
    assert (reclaimed["terminated_at"] <= end).all()  # nothing is reclaimed once the work is done
    for t in reclaimed["terminated_at"][reclaimed["terminated_at"] < end]:
        instances = result.instances
        alive = instances[(instances["launched_at"] <= t) & (instances["terminated_at"] > t)]
        assert alive["vcpus"].sum() >= 4


def test_fields_the_batch_api_does_not_have_and_bad_states_are_named() -> None:
    # `maxVcpus` for maxvCpus (and a misspelt queue field) were ignored: the CE replayed with no
    # maxvCpus at all. `"Disabled"` replayed as ENABLED. Fields of the Describe output are accepted,
    # since the current estate replays as described.
    with pytest.raises(ConfigError) as info:
        _config(
            [
                {
                    **ce("od", "EC2", 2, ["s.large"], maxVcpus=4),
                    "state": "Disabled",
                    "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/od",
                    "status": "VALID",
                }
            ],
            [{**queue("q", 1, "od"), "priorty": 5, "jobQueueArn": "arn:aws:batch:x", "status": "VALID"}],
        )
    lines = str(info.value).splitlines()
    assert lines == [
        "config: computeEnvironments[0] (od).computeResources.maxVcpus: unknown field"
        " (not in ComputeResource)",
        "config: computeEnvironments[0] (od).state: 'Disabled': must be ENABLED or DISABLED",
        "config: jobQueues[0] (q).priorty: unknown field (not in CreateJobQueue or DescribeJobQueues)",
    ]


def test_a_configuration_whose_queues_are_all_disabled_is_refused_for_simulate() -> None:
    from optimizer.simulate.config import refuse_all_disabled

    config = _config([ce("od", "EC2", 2, ["s.large"])], [{**queue("q", 1, "od"), "state": "DISABLED"}])
    with pytest.raises(ConfigError, match=r"^next.json: jobQueues: every queue is DISABLED: the history"):
        refuse_all_disabled(config, "next.json")
    refuse_all_disabled(_config([ce("od", "EC2", 2, ["s.large"])], [queue("q", 1, "od")]), "next.json")
