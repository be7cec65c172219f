"""Each strategy on a small hand-made estate: what it recommends, and what it must leave alone."""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from optimizer.domain import RiskLevel, UpdateKind
from optimizer.recommend.base import risk_level
from optimizer.recommend.strategies import (
    FargateSettings,
    FargateStrategy,
    GravitonStrategy,
    InstanceMixSettings,
    InstanceMixStrategy,
    RightSizingSettings,
    RightSizingStrategy,
    ScalingSettings,
    ScalingStrategy,
    SpotAdoptionStrategy,
)
from optimizer.recommend.workload import (
    concurrency,
    expected_lost_share,
    retries_host_loss,
    time_weighted_quantile,
)
from tests.recommend_helpers import ce_item, history, inputs_for, jobdef_item, queue_item, standard_estate


@pytest.fixture(scope="module")
def estate() -> dict[str, Any]:
    return standard_estate()


@pytest.fixture(scope="module")
def inputs(estate: dict[str, Any]) -> Any:
    return inputs_for(estate)


def by_target(recs: list[Any]) -> dict[str, Any]:
    return {r.target_name: r for r in recs}


def test_scaling_drops_the_idle_floor_and_caps_max(inputs: Any) -> None:
    recs = by_target(ScalingStrategy().run(inputs))
    assert set(recs) == {"od-ce"}  # sim-ce already has minvCpus 0 and a sane max
    rec = recs["od-ce"]
    assert rec.current == {"min_vcpus": 16, "max_vcpus": 256}
    assert rec.proposed["min_vcpus"] == 0
    # the cap is at least one m5.4xlarge (16 vCPUs) and at least the measured peak
    assert rec.proposed["max_vcpus"] >= max(16, rec.evidence["demand"]["peak_vcpus"])
    assert rec.update_kind == UpdateKind.SCALING
    replay = rec.evidence["replay"]
    assert replay["proposed_cost_usd"] < replay["current_cost_usd"]
    assert rec.monthly_savings_usd == pytest.approx(
        (replay["current_cost_usd"] - replay["proposed_cost_usd"]) * 30 / replay["window_days"], abs=0.01
    )


def test_scaling_keeps_a_measured_floor(estate: dict[str, Any]) -> None:
    """Jobs that keep vCPUs busy all day justify a floor above 0 (but below an idle 400)."""
    steady = copy.deepcopy(estate)
    jobs, attempts = history("etl", "etl", n=400, runtime_s=(20000, 20000), days=1.0, seed=5)
    steady["jobs"], steady["attempts"] = jobs, attempts
    steady["ces"][0]["computeResources"].update(minvCpus=400, desiredvCpus=400, maxvCpus=1024)
    rec = by_target(ScalingStrategy().run(inputs_for(steady)))["od-ce"]
    floor = rec.evidence["demand"]["floor_vcpus"]
    assert 0 < floor < 400
    assert rec.proposed["min_vcpus"] == floor


def test_scaling_judges_and_states_the_wait_of_the_ces_own_queues() -> None:
    """tight-ce caps its queue at one m5.4xlarge (2 of its 8-vCPU jobs at once) and the queue waits
    hours; 4,000 short jobs of another queue never wait. The estate-wide p95 is a couple of minutes,
    the tight queue's many hours: the title and the risk state the tight queue's p95 before and
    after, the figure the wait cut is judged on."""
    wide_jobs, wide_attempts = history(
        "wide", "wide", n=4000, vcpus=2, memory_mib=4096, runtime_s=(300, 600), days=2.0, seed=3
    )
    tight_jobs, tight_attempts = history(
        "tight", "tight", n=100, vcpus=8, memory_mib=8192, runtime_s=(3000, 4000), days=1.0, seed=4
    )
    estate = {
        "ces": [ce_item("wide-ce", max_vcpus=1024), ce_item("tight-ce", max_vcpus=16)],
        "queues": [queue_item("wide", "wide-ce"), queue_item("tight", "tight-ce")],
        "defs": [jobdef_item("wide", 2, 4096), jobdef_item("tight", 8, 8192)],
        "jobs": pd.concat([wide_jobs, tight_jobs], ignore_index=True),
        "attempts": pd.concat([wide_attempts, tight_attempts], ignore_index=True),
    }
    rec = by_target(ScalingStrategy().run(inputs_for(estate)))["tight-ce"]
    assert rec.proposed["max_vcpus"] > 16
    replay = rec.evidence["replay"]
    before = replay["current_summary"]["queue_wait_s"]
    after = replay["proposed_summary"]["queue_wait_s"]
    assert before["tight"]["p95_s"] > 3600 > 10 * before["ALL"]["p95_s"]
    assert rec.risk["queue_wait"] == (
        f"p95 wait of tight (the worst) {before['tight']['p95_s']:,.0f}s now,"
        f" {after['tight']['p95_s']:,.0f}s in the replay"
    )
    cut = (before["tight"]["p95_s"] - after["tight"]["p95_s"]) / before["tight"]["p95_s"]
    assert rec.evidence["demand"]["wait_p95_cut"] == round(cut, 4)
    if rec.monthly_savings_usd < ScalingSettings().min_monthly_savings_usd:  # money for wait: said so
        assert f"p95 queue wait {before['tight']['p95_s']:,.0f}s -> " in rec.title


def test_spot_adoption_only_for_retrying_short_jobs(inputs: Any) -> None:
    recs = by_target(SpotAdoptionStrategy().run(inputs))
    assert set(recs) == {"sim"}  # etl jobs do not retry; legacy runs on an unmanaged CE
    rec = recs["sim"]
    assert rec.current == {"compute_environment_order": ["sim-ce"]}
    assert rec.proposed["compute_environment_order"] == ["sim-ce-spot", "sim-ce"]
    assert rec.proposed["new_compute_environment"]["based_on"] == "sim-ce"
    assert rec.proposed["new_compute_environment"]["platform"] == "SPOT"
    assert rec.update_kind == UpdateKind.QUEUE_ORDER
    assert rec.monthly_savings_usd > 0
    assert rec.evidence["tolerance"]["retry_tolerant_share"] == 1.0


@pytest.mark.parametrize(
    "change",
    ["multinode", "no-retry-on-host-loss", "long-jobs"],
)
def test_spot_adoption_refuses(estate: dict[str, Any], change: str) -> None:
    other = copy.deepcopy(estate)
    kwargs: dict[str, Any] = {"n": 300, "vcpus": 1, "memory_mib": 12288, "seed": 2}
    if change == "multinode":
        kwargs.update(retry={"attempts": 3}, multinode=True)
    elif change == "no-retry-on-host-loss":
        kwargs["retry"] = {
            "attempts": 3,
            "evaluateOnExit": [
                {"onStatusReason": "Host EC2*", "action": "EXIT"},
                {"onReason": "*", "action": "RETRY"},
            ],
        }
    else:
        kwargs.update(retry={"attempts": 3}, runtime_s=(40 * 3600, 60 * 3600), days=20)
    sim_jobs, sim_attempts = history("sim", "sim", **kwargs)
    keep = other["jobs"]["queue"] != "sim"
    other["jobs"] = pd.concat([other["jobs"][keep], sim_jobs], ignore_index=True)
    kept = other["attempts"]["job_id"].isin(other["jobs"]["job_id"][keep])
    other["attempts"] = pd.concat([other["attempts"][kept], sim_attempts], ignore_index=True)
    assert "sim" not in by_target(SpotAdoptionStrategy().run(inputs_for(other)))


def test_retry_rules_for_host_loss() -> None:
    assert retries_host_loss({"attempts": 2})
    assert not retries_host_loss({"attempts": 1})
    assert not retries_host_loss(None)
    assert retries_host_loss(
        {"attempts": 3, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"}]}
    )
    assert not retries_host_loss(
        {
            "attempts": 3,
            "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}],
        }
    )


def test_expected_lost_share_grows_with_runtime() -> None:
    import numpy as np

    rate = 0.001
    short = expected_lost_share(np.full(10, 600.0), rate)
    long = expected_lost_share(np.full(10, 36000.0), rate)
    assert 0 < short < long < 0.5
    assert expected_lost_share(np.full(10, 600.0), 0.0) == 0.0


def test_concurrency_quantiles() -> None:
    jobs = pd.DataFrame(
        {
            "started_at": pd.to_datetime(["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-01 01:00"]),
            "stopped_at": pd.to_datetime(["2026-01-01 02:00", "2026-01-01 01:00", "2026-01-01 02:00"]),
            "vcpus": [2.0, 4.0, 8.0],
        }
    )
    durations, levels = concurrency(jobs)
    assert list(levels) == [6.0, 10.0]
    assert list(durations) == [3600.0, 3600.0]
    assert time_weighted_quantile(durations, levels, 0.0) == 6.0
    assert time_weighted_quantile(durations, levels, 1.0) == 10.0


def test_rightsizing_cuts_memory_above_the_p99_peak(inputs: Any, estate: dict[str, Any]) -> None:
    recs = by_target(RightSizingStrategy().run(inputs))
    assert "sim" in recs and "legacy" not in recs  # legacy has only 60 measured jobs (< 99 for 1%)
    rec = recs["sim"]
    peaks = estate["attempts"].merge(estate["jobs"][["job_id", "queue"]])
    peaks = peaks[peaks["queue"] == "sim"]["peak_memory_mib"]
    assert rec.proposed["memory_mib"] >= peaks.quantile(0.99) * 1.1
    assert rec.proposed["memory_mib"] % 128 == 0
    assert rec.proposed["memory_mib"] < 12288
    assert rec.current == {"vcpus": 1.0, "memory_mib": 12288}
    assert rec.target_arn.endswith(":job-definition/sim")  # no revision: the latest ACTIVE one
    assert rec.update_kind == UpdateKind.NEW_REVISION
    assert rec.evidence["replay"]["jobs_changed"]["jobs"] == 300
    assert rec.monthly_savings_usd > 0


def test_rightsizing_raises_memory_after_oom_kills(estate: dict[str, Any]) -> None:
    other = copy.deepcopy(estate)
    sim_jobs, sim_attempts = history(
        "sim", "sim", n=300, vcpus=1, memory_mib=12288, retry={"attempts": 3}, seed=2, oom_share=0.05
    )
    keep = other["jobs"]["queue"] != "sim"
    other["jobs"] = pd.concat([other["jobs"][keep], sim_jobs])
    other["attempts"] = pd.concat(
        [other["attempts"][other["attempts"]["job_id"].isin(other["jobs"]["job_id"][keep])], sim_attempts]
    )
    rec = by_target(RightSizingStrategy(RightSizingSettings(max_oom_rate=0.01)).run(inputs_for(other)))["sim"]
    assert rec.proposed == {"memory_mib": 18432}  # 12288 x 1.5
    assert "OOM" in rec.title


def test_graviton_is_advice_and_respects_pinned_arch(inputs: Any, estate: dict[str, Any]) -> None:
    recs = by_target(GravitonStrategy().run(inputs))
    assert {"od-ce", "sim-ce"} <= set(recs)
    rec = recs["od-ce"]
    assert rec.update_kind == UpdateKind.ADVICE and not rec.applicable
    assert all(inputs.baseline.catalog.types[t].arch == "arm64" for t in rec.proposed["instance_types"])
    assert "multi-architecture" in rec.risk["compatibility"]
    pinned = copy.deepcopy(estate)
    pinned["jobs"]["tags"] = [{"arch": "x86_64"}] * len(pinned["jobs"])
    assert GravitonStrategy().run(inputs_for(pinned)) == []


def test_fargate_only_for_small_short_jobs(inputs: Any) -> None:
    recs = by_target(FargateStrategy().run(inputs))
    assert "sim" in recs and "legacy" not in recs
    rec = recs["sim"]
    assert rec.proposed["new_compute_environment"]["platform"] == "FARGATE_SPOT"  # the jobs retry
    assert not rec.applicable and rec.update_kind == UpdateKind.ADVICE
    strict = FargateStrategy(FargateSettings(max_memory_mib=8192)).run(inputs)
    assert "sim" not in by_target(strict)  # 12 GiB jobs exceed the limit


def test_instance_mix_from_the_solver(estate: dict[str, Any]) -> None:
    inputs = inputs_for(estate, with_catalog=True)
    inputs.clock = time.monotonic
    recs = by_target(InstanceMixStrategy(InstanceMixSettings(time_limit_seconds=3)).run(inputs))
    rec = recs["od-ce"]
    assert rec.proposed["instance_types"] != ["m5.4xlarge"]
    assert rec.evidence["plan"]["status"] in ("OPTIMAL", "FEASIBLE")
    assert rec.update_kind == UpdateKind.INFRASTRUCTURE  # BEST_FIT_PROGRESSIVE with the service-linked role
    assert rec.monthly_savings_usd > 0
    onprem = recs["onprem"]
    assert not onprem.applicable and onprem.update_kind == UpdateKind.ADVICE
    assert onprem.monthly_savings_usd == 0.0 and onprem.proposed["fleets"]


def test_ids_are_stable_and_disabled_strategies_run_nothing(estate: dict[str, Any]) -> None:
    first = ScalingStrategy().run(inputs_for(estate))
    again = ScalingStrategy().run(inputs_for(estate))
    assert [r.id for r in first] == [r.id for r in again]
    assert [r.monthly_savings_usd for r in first] == [r.monthly_savings_usd for r in again]


def test_risk_level_from_scores() -> None:
    assert risk_level({}) == RiskLevel.LOW
    assert risk_level({"a": 0.05, "b": 0.2}) == RiskLevel.MEDIUM
    assert risk_level({"a": 0.5}) == RiskLevel.HIGH


def test_settings_are_typed() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RightSizingSettings(alpha=0.9)
    with pytest.raises(ValidationError):
        FargateSettings(unknown=1)  # type: ignore[call-arg]


def test_hourly_means_of_the_step_function() -> None:
    from optimizer.recommend.workload import bucket_means, concurrency_steps

    jobs = pd.DataFrame(
        {
            "started_at": pd.to_datetime(["2026-01-01 00:00", "2026-01-01 00:30"]),
            "stopped_at": pd.to_datetime(["2026-01-01 02:00", "2026-01-01 01:00"]),
            "vcpus": [2.0, 4.0],
        }
    )
    chart = bucket_means(*concurrency_steps(jobs))
    assert chart["bucket_seconds"] == 3600
    assert chart["mean"] == [4.0, 2.0]  # 2 all hour + 4 for half an hour; then 2


def test_measured_reclaim_rates_can_veto_spot(estate: dict[str, Any]) -> None:
    inputs = inputs_for(estate)
    inputs.spot_rates = {"c5.2xlarge": 0.5}  # a reclaim every two instance-hours in this estate
    assert "sim" not in by_target(SpotAdoptionStrategy().run(inputs))
    inputs.spot_rates = {"c5.2xlarge": 1e-5}
    rec = by_target(SpotAdoptionStrategy().run(inputs))["sim"]
    assert rec.evidence["tolerance"]["measured_types"] == ["c5.2xlarge"]


def test_spot_rates_from_the_estates_own_spot_instances() -> None:
    from optimizer.recommend.inputs import spot_rates

    t0 = pd.Timestamp("2026-01-01")
    instances = pd.DataFrame(
        {
            "instance_id": ["i-1", "i-2"],
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "instance_type": "c5.2xlarge",
            "capacity_type": "SPOT",
            "launch_time": [t0, t0],
            "first_seen": [t0, t0],
            "last_seen": [t0 + pd.Timedelta(hours=10)] * 2,
            "terminated_at": [t0 + pd.Timedelta(hours=10)] * 2,
        }
    )
    calm = pd.DataFrame({"instance_id": ["i-1"], "is_spot_reclaim": [False]})
    rough = pd.DataFrame({"instance_id": ["i-1", "i-2"], "is_spot_reclaim": [True, True]})
    bands = pd.DataFrame({"region": ["us-east-1"], "instance_type": ["c5.2xlarge"], "band": [0]})
    assert (
        spot_rates(instances, rough, bands)["c5.2xlarge"] > spot_rates(instances, calm, bands)["c5.2xlarge"]
    )


def test_evidence_carries_chart_data(inputs: Any) -> None:
    scaling = by_target(ScalingStrategy().run(inputs))["od-ce"]
    series = scaling.evidence["chart"]["running_vcpus"]["mean"]
    assert len(series) >= 48 and max(series) <= scaling.evidence["demand"]["peak_vcpus"]
    sizing = by_target(RightSizingStrategy().run(inputs))["sim"]
    assert sum(sizing.evidence["chart"]["peak_memory_mib"]["counts"]) == 300


def test_estate_document_leaves_out_what_the_replay_cannot_price(estate: dict[str, Any]) -> None:
    from optimizer.recommend.estate import estate_document
    from optimizer.simulate import parse_config
    from tests.recommend_helpers import catalog, ce_item, queue_item

    odd = copy.deepcopy(estate)
    odd["ces"] += [
        ce_item("mystery", types=("zz9.huge",)),
        ce_item("fargate", platform="FARGATE"),
        ce_item("gpu-spot", platform="SPOT", strategy="SPOT_CAPACITY_OPTIMIZED", types=("m5.large",)),
    ]
    odd["ces"][-1]["computeResources"]["instanceTypes"] = ["zz9.huge"]
    odd["queues"] += [queue_item("mixed", "mystery", "od-ce"), queue_item("only-mystery", "mystery")]
    doc = estate_document(odd["ces"], odd["queues"], catalog(), seed=1)
    names = [b["computeEnvironmentName"] for b in doc["computeEnvironments"]]
    assert names == ["fargate", "od-ce", "sim-ce"]  # unmanaged, unknown types and unpriced spot left out
    queues = {q["jobQueueName"]: q for q in doc["jobQueues"]}
    assert "only-mystery" not in queues and "legacy" not in queues
    assert [e["computeEnvironment"] for e in queues["mixed"]["computeEnvironmentOrder"]] == ["od-ce"]
    assert doc["simulation"] == {"seed": 1}
    parse_config(doc, catalog())  # replayable as a whole
    recs = ScalingStrategy().run(inputs_for(odd))
    assert "od-ce" in by_target(recs)


def test_strategies_are_pure_and_skip_switched_off_resources(estate: dict[str, Any]) -> None:
    import subprocess
    import sys

    code = (
        "import sys, optimizer.recommend.strategies;"
        "print(sorted(m for m in ('boto3', 'botocore', 'sqlalchemy') if m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "[]\n"
    )
    off = copy.deepcopy(estate)
    off["ces"][0]["state"] = "DISABLED"
    off["queues"][1]["state"] = "DISABLED"
    assert "od-ce" not in by_target(ScalingStrategy().run(inputs_for(off)))
    assert "sim" not in by_target(SpotAdoptionStrategy().run(inputs_for(off)))


def test_burstable_and_special_purpose_types_are_not_proposed(inputs: Any) -> None:
    from optimizer.catalog.requirements import InstanceRequirements

    default = InstanceRequirements()
    assert all(default.allows_type(t) for t in ("m5.large", "c7gn.xlarge", "x8i.large"))
    assert not any(
        default.allows_type(t) for t in ("t3a.large", "t4g.xlarge", "m2.2xlarge", "m7i.metal-24xl")
    )
    assert not any(default.hosts_cpu_jobs_on(t) for t in ("inf1.2xlarge", "trn1.2xlarge", "inf2.48xlarge"))
    recs = GravitonStrategy().run(inputs)
    assert recs
    for rec in recs:
        assert all(default.allows_type(t) for t in rec.proposed["instance_types"])
    # A family the operator excluded is never proposed either.
    proposed = {t.split(".")[0] for rec in recs for t in rec.proposed["instance_types"]}
    narrowed = replace(inputs, requirements=InstanceRequirements(excluded_families=tuple(proposed)))
    for rec in GravitonStrategy().run(narrowed):
        assert not {t.split(".")[0] for t in rec.proposed["instance_types"]} & proposed


def test_rightsizing_below_a_memory_cliff_unblocks_jobs(estate: dict[str, Any]) -> None:
    """16 GiB requests do not fit a c5.2xlarge (16 GiB nominal, less allocatable): the jobs never
    run, and right-sizing them is recommended even though running them costs money."""
    other = copy.deepcopy(estate)
    sim_jobs, sim_attempts = history(
        "sim", "sim", n=300, vcpus=1, memory_mib=16384, retry={"attempts": 3}, seed=2
    )
    keep = other["jobs"]["queue"] != "sim"
    kept = other["attempts"]["job_id"].isin(other["jobs"]["job_id"][keep])
    other["attempts"] = pd.concat([other["attempts"][kept], sim_attempts], ignore_index=True)
    other["jobs"] = pd.concat([other["jobs"][keep], sim_jobs], ignore_index=True)
    other["defs"][1]["containerProperties"]["resourceRequirements"][1]["value"] = "16384"
    rec = by_target(RightSizingStrategy().run(inputs_for(other)))["sim"]
    assert rec.proposed["memory_mib"] < 16384
    assert (
        rec.evidence["replay"]["proposed_summary"]["failed"]
        < rec.evidence["replay"]["current_summary"]["failed"]
    )
    cliff = rec.evidence["usage"]["memory_cliff"]
    assert cliff["allocatable_mib"] < 16384 and cliff["p99_fits"]


def test_json_clean_makes_strict_json() -> None:
    import json

    import numpy as np

    from optimizer.recommend.base import json_clean

    dirty = {"a": np.int64(3), "b": [np.float64(1.5), float("nan")], "c": (1, float("inf")), 4: True}
    clean = json_clean(dirty)
    assert clean == {"a": 3, "b": [1.5, None], "c": [1, None], "4": True}
    assert type(clean["a"]) is int
    json.dumps(clean, allow_nan=False)


def test_graviton_becomes_applicable_once_confirmed(estate: dict[str, Any]) -> None:
    from optimizer.apply.planner import CurrentState, plan_change

    confirmed = copy.deepcopy(estate)
    confirmed["ces"][0]["tags"] = {"batchopt:multiarch-confirmed": "true"}
    recs = by_target(GravitonStrategy().run(inputs_for(confirmed)))
    rec = recs["od-ce"]
    assert rec.applicable and rec.update_kind == UpdateKind.INFRASTRUCTURE
    assert not recs["sim-ce"].applicable  # only the tagged CE
    plan = plan_change(
        rec, CurrentState(confirmed["ces"][0], (confirmed["queues"][0],), tuple(confirmed["ces"]))
    )
    [call] = plan.calls
    assert call.params["computeResources"]["instanceTypes"] == rec.proposed["instance_types"]


def test_spot_ce_names_do_not_collide_when_queues_share_an_on_demand_ce(estate: dict[str, Any]) -> None:
    from tests.recommend_helpers import queue_item

    shared = copy.deepcopy(estate)
    shared["queues"].append(queue_item("sim2", "sim-ce"))
    more_jobs, more_attempts = history(
        "sim2", "sim", n=100, vcpus=1, memory_mib=12288, retry={"attempts": 3}, seed=9
    )
    shared["jobs"] = pd.concat([shared["jobs"], more_jobs], ignore_index=True)
    shared["attempts"] = pd.concat([shared["attempts"], more_attempts], ignore_index=True)
    recs = by_target(SpotAdoptionStrategy().run(inputs_for(shared)))
    names = {q: recs[q].proposed["new_compute_environment"]["name"] for q in ("sim", "sim2")}
    assert names == {"sim": "sim-ce-sim-spot", "sim2": "sim-ce-sim2-spot"}
    for rec in recs.values():
        assert set(rec.risk) >= {"interruption", "oom", "queue_wait", "scores"}


def test_scaling_lowers_min_vcpus_only_where_batch_keeps_fewer_instances() -> None:
    """Batch keeps whole instances for minvCpus: beside 16-vCPU types, 8 and 4 both keep one, so
    the demo's "gpu-training min_vcpus 8 -> 4" changed nothing Batch does."""
    import numpy as np

    from optimizer.recommend.strategies.scaling import _Demand, _spend_ceiling

    none = np.zeros(0)
    demand = _Demand(none, none, none, floor=4, peak=300.0, cap=375, smallest=16, dearest_per_vcpu=0.125)
    strategy = ScalingStrategy()
    assert "min_vcpus" not in strategy._limits({"min_vcpus": 8, "max_vcpus": 400}, demand)
    assert strategy._limits({"min_vcpus": 32, "max_vcpus": 400}, demand) == {"min_vcpus": 4}
    assert strategy._limits({"min_vcpus": 16, "max_vcpus": 400}, replace(demand, floor=0)) == {"min_vcpus": 0}
    # A higher cap says how much more the CE may then spend an hour.
    raised = strategy._limits({"min_vcpus": 0, "max_vcpus": 256}, demand)
    assert raised == {"max_vcpus": 375}
    assert _spend_ceiling({"min_vcpus": 0, "max_vcpus": 256}, raised, demand) == {
        "spend_ceiling": "raises the most this CE can spend from $32.00/h to $46.88/h"
        " (maxvCpus x its dearest type's on-demand price per vCPU)"
    }
    assert _spend_ceiling({"min_vcpus": 32, "max_vcpus": 400}, {"min_vcpus": 4}, demand) == {}
