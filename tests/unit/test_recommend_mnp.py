"""MNP advice: node size priced by replaying the history split again, an on-demand CE for a queue
whose gangs can reach only spot (Batch runs none there), and the node-split edit both share with
`simulate --node-split`."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from optimizer.apply.planner import CurrentState, plan_change
from optimizer.domain import UpdateKind
from optimizer.errors import InputError
from optimizer.recommend.estate import estate_document
from optimizer.recommend.headline import COSTS_MONEY, savings_headline
from optimizer.recommend.inputs_model import RecommendInputs
from optimizer.recommend.savings import ReplayBaseline
from optimizer.recommend.strategies import (
    MnpNodeSizeSettings,
    MnpNodeSizeStrategy,
    MnpOnDemandStrategy,
)
from optimizer.recommend.strategies.mnp_node_size import node_requests
from optimizer.recommend.strategies.mnp_on_demand import gang_table
from optimizer.simulate.gang_runtime import BASIS_NONE, estimate_gang_runtimes
from optimizer.simulate.gangs import SPOT_ONLY_REASON
from optimizer.simulate.node_split import (
    NodeSplit,
    format_node_split,
    parse_node_split,
    resized_node_ranges,
    split_gangs,
)
from tests.recommend_helpers import PREFIX, REGION, catalog, ce_item, queue_item
from tests.unit.test_apply_request_limits import assert_model_valid


def mnp_definition(name: str, nodes: int, vcpus: int, memory: int, **extra: Any) -> dict[str, Any]:
    return {
        "jobDefinitionName": name,
        "jobDefinitionArn": f"{PREFIX}:job-definition/{name}:3",
        "revision": 3,
        "status": "ACTIVE",
        "type": "multinode",
        "nodeProperties": {
            "numNodes": nodes,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0:",
                    "container": {
                        "image": "mpi:1",
                        "resourceRequirements": [
                            {"type": "VCPU", "value": str(vcpus)},
                            {"type": "MEMORY", "value": str(memory)},
                        ],
                    },
                }
            ],
        },
        **extra,
    }


def gangs(
    n: int, *, totals: tuple[int, ...] = (96,), per_node: int = 6, queue: str = "hpc", retry: Any = None
) -> pd.DataFrame:
    """Canonical rows of `n` MNP jobs of `mpi` (totals cycling through `totals` vCPUs, `per_node`
    vCPUs and 2 GiB per vCPU a node), one every 3 hours, each running 2 hours."""
    rows = []
    for g in range(n):
        total = totals[g % len(totals)]
        count = -(-total // per_node)
        for k in range(count):
            rows.append(
                {
                    "job_id": f"g{g}#{k}",
                    "submit_s": g * 10800.0,
                    "runtime_s": 7200.0,
                    "vcpus": float(per_node),
                    "memory_mib": 2048.0 * per_node,
                    "gpus": 0,
                    "queue": queue,
                    "job_name": f"mpi-{g}",
                    "arch": None,
                    "status": "SUCCEEDED",
                    "depends_on": [],
                    "retry_strategy": retry,
                    "job_definition_name": "mpi",
                    "mnp_parent": f"g{g}",
                    "node_index": k,
                    "num_nodes": count,
                }
            )
    frame = pd.DataFrame(rows)
    for column in ("node_index", "num_nodes"):
        frame[column] = pd.array(frame[column], dtype="Int64")
    return frame


def inputs(jobs: pd.DataFrame, ces: list[dict[str, Any]], queues: list[dict[str, Any]], defs: list) -> Any:
    cat = catalog()
    baseline = ReplayBaseline(
        dataset="aws", jobs=jobs, catalog=cat, current_document=estate_document(ces, queues, cat, 0)
    )
    return RecommendInputs(
        region=REGION,
        dataset="aws",
        compute_environments=ces,
        job_queues=queues,
        job_definitions=defs,
        jobs=pd.DataFrame(),
        attempts=pd.DataFrame(),
        baseline=baseline,
    )


def test_split_gangs_keeps_total_vcpus_memory_per_vcpu_and_the_main_node_row() -> None:
    jobs = gangs(3, totals=(96, 72, 102))
    other = jobs.iloc[[0]].assign(
        job_id="single", mnp_parent=None, node_index=pd.NA, num_nodes=pd.NA, job_definition_name="etl"
    )
    history = pd.concat([jobs, other], ignore_index=True)
    split, changed = split_gangs(history, {"mpi": NodeSplit(16)})
    assert changed == 3
    nodes = split[split["mnp_parent"].notna()]
    sizes = nodes.groupby("mnp_parent").agg(
        n=("job_id", "size"), v=("vcpus", "first"), total=("vcpus", "sum")
    )
    # 96 -> 6 x 16; 72 -> 5 x 15 (equal whole-vCPU shares, never fewer vCPUs); 102 -> 7 x 15.
    assert sizes.loc["g0"].tolist() == [6, 16.0, 96.0]
    assert sizes.loc["g1"].tolist() == [5, 15.0, 75.0]
    assert sizes.loc["g2"].tolist() == [7, 15.0, 105.0]
    assert (nodes["memory_mib"] == nodes["vcpus"] * 2048.0).all()
    assert sorted(nodes.loc[nodes["mnp_parent"] == "g1", "job_id"]) == [f"g1#{k}" for k in range(5)]
    assert (nodes["num_nodes"] == nodes["mnp_parent"].map(sizes["n"])).all()
    assert split.set_index("job_id").loc["single", "vcpus"] == 6.0  # not a gang: untouched
    assert (nodes["runtime_s"] == 7200.0).all()  # exponent 0: runtime unchanged


def test_runtime_exponent_charges_more_nodes() -> None:
    split, _ = split_gangs(gangs(1), {"mpi": NodeSplit(3, runtime_exponent=0.1)})
    # 16 nodes -> 32 nodes: runtime x 2 ** 0.1.
    assert len(split) == 32
    assert split["runtime_s"].iat[0] == pytest.approx(7200.0 * 2**0.1)


def test_node_split_argument_round_trips_and_names_bad_fields() -> None:
    name, split = parse_node_split("mpi-solver:vcpus_per_node=16,runtime_exponent=0.05")
    assert (name, split) == ("mpi-solver", NodeSplit(16, 0.05))
    assert parse_node_split(format_node_split(name, split)) == (name, split)
    with pytest.raises(InputError, match="vcpus_per_node=N is required"):
        parse_node_split("mpi:runtime_exponent=0.1")
    with pytest.raises(InputError, match="runtime_exponent must be between"):
        parse_node_split("mpi:vcpus_per_node=8,runtime_exponent=3")
    with pytest.raises(InputError, match="'cores=2' is not"):
        parse_node_split("mpi:cores=2")


def test_node_requests_reads_only_uniform_mnp_definitions() -> None:
    assert node_requests(mnp_definition("mpi", 16, 6, 12288)) == (16, 0, 6.0, 12288)
    pinned = mnp_definition("mpi", 16, 6, 12288)
    pinned["nodeProperties"]["nodeRangeProperties"][0]["instanceTypes"] = ["c6i.2xlarge"]
    assert node_requests(pinned) is None
    assert node_requests({"type": "container", "containerProperties": {}}) is None


def test_six_vcpu_nodes_become_eight_vcpu_nodes_priced_by_the_replay() -> None:
    """16 nodes of 6 vCPUs / 12 GiB each hold a c6i.2xlarge (8 vCPUs), two idle vCPUs per node;
    the same 96 vCPUs as 12 nodes of 8 fill m6i.2xlarge instances. The strategy replays every
    dividing size of the CE's families and proposes the cheapest, with the assumption stated."""
    ces = [ce_item("hpc-od", strategy="BEST_FIT", types=("c6i", "m6i"), max_vcpus=1024)]
    queues = [queue_item("hpc", "hpc-od")]
    defs = [mnp_definition("mpi", 16, 6, 12288)]
    snapshot = inputs(gangs(12), ces, queues, defs)
    [rec] = MnpNodeSizeStrategy().run(snapshot)
    assert (rec.strategy, rec.target_kind, rec.target_name) == ("mnp-node-size", "job-definition", "mpi")
    assert rec.target_arn == f"{PREFIX}:job-definition/mpi"
    assert rec.update_kind == UpdateKind.NEW_REVISION
    assert rec.current == {"num_nodes": 16, "vcpus_per_node": 6.0, "memory_mib_per_node": 12288}
    size = rec.proposed["vcpus_per_node"]
    assert rec.proposed["num_nodes"] * size == 96 and rec.proposed["memory_mib_per_node"] == 2048 * size
    evidence = rec.evidence["node_size"]
    tried = {c["vcpus_per_node"]: c["monthly_savings_usd"] for c in evidence["candidates"]}
    assert size in tried and tried[size] == max(tried.values()) == rec.monthly_savings_usd > 0
    assert set(tried) <= {2.0, 4.0, 8.0, 16.0, 32.0, 48.0}
    # Every gang still runs at every size: a gang counts once, however many node rows it has.
    assert all(c["failed_jobs_delta"] == 0 for c in evidence["candidates"])
    idle = evidence["gang_formation_idle_usd_per_month_before"]
    assert f"replayed gang-formation idle ${idle:,.2f}" in rec.title
    assert "runtime unchanged" in evidence["assumption"] and evidence["runtime_exponent"] == 0.0
    replay = rec.evidence["replay"]
    assert replay["commands"][1].endswith(f"--node-split mpi:vcpus_per_node={size:g}")
    # The monthly figure is the two replays' difference over the window.
    window = snapshot.baseline.window_days
    assert rec.monthly_savings_usd == pytest.approx(
        (replay["current_cost_usd"] - replay["proposed_cost_usd"]) * 30.0 / window, abs=0.01
    )
    assert rec.evidence["metadata"] == {
        "implementation_effort": "low",
        "restarts_running_jobs": False,
        "reversible": True,
    }


def test_no_node_size_advice_below_min_gangs_or_for_pinned_ranges() -> None:
    ces = [ce_item("hpc-od", strategy="BEST_FIT", types=("c6i", "m6i"), max_vcpus=1024)]
    queues = [queue_item("hpc", "hpc-od")]
    few = inputs(gangs(12), ces, queues, [mnp_definition("mpi", 16, 6, 12288)])
    assert MnpNodeSizeStrategy(MnpNodeSizeSettings(min_gangs=13)).run(few) == []
    pinned = mnp_definition("mpi", 16, 6, 12288)
    pinned["nodeProperties"]["nodeRangeProperties"][0]["instanceTypes"] = ["c6i.2xlarge"]
    assert MnpNodeSizeStrategy().run(inputs(gangs(12), ces, queues, [pinned])) == []


SPOT_CE = ce_item("hpc-spot", platform="SPOT", strategy="SPOT_PRICE_CAPACITY_OPTIMIZED", types=("c5",))
OD_CE = ce_item("hpc-od", strategy="BEST_FIT_PROGRESSIVE", types=("c5",))


def gangs_and_singles(n: int) -> pd.DataFrame:
    """`gangs(n)` of 4 nodes x 8 vCPUs, each followed 600 s later by a single 2-vCPU job of 30 min
    on the same queue (the jobs a blocked gang holds back)."""
    nodes = gangs(n, totals=(32,), per_node=8)
    singles = nodes[nodes["node_index"] == 0].assign(
        job_id=[f"s{g}" for g in range(n)],
        submit_s=nodes.loc[nodes["node_index"] == 0, "submit_s"] + 600.0,
        runtime_s=1800.0,
        vcpus=2.0,
        memory_mib=4096.0,
        job_name="etl",
        job_definition_name="etl",
        mnp_parent=None,
        node_index=pd.NA,
        num_nodes=pd.NA,
    )
    return pd.concat([nodes, singles], ignore_index=True)


def test_a_spot_only_queue_gets_an_on_demand_copy_for_its_gangs_priced_by_replay() -> None:
    """hpc lists only a spot CE: Batch runs none of its 10 MNP jobs. Replayed with the assumed
    owner cancel (a day, stuck-job-limits' assumption): each gang heads the queue for 86,400 s,
    one after another, and holds the single job submitted behind it. With an on-demand copy of the
    spot CE after it in the order, every gang runs there and the single jobs on spot at once: the
    queue's p95 wait falls, the gangs' hours now cost money, so the item is listed, not counted."""
    snapshot = inputs(gangs_and_singles(10), [SPOT_CE], [queue_item("hpc", "hpc-spot")], [])
    [rec] = MnpOnDemandStrategy().run(snapshot)
    assert (rec.strategy, rec.target_kind, rec.target_name) == ("mnp-on-demand", "job-queue", "hpc")
    assert rec.update_kind == UpdateKind.QUEUE_ORDER
    assert rec.current == {"compute_environment_order": ["hpc-spot"]}
    assert rec.proposed == {
        "compute_environment_order": ["hpc-spot", "hpc-spot-ondemand"],
        "new_compute_environment": {
            "name": "hpc-spot-ondemand",
            "based_on": "hpc-spot",
            "platform": "EC2",
            "allocation_strategy": "BEST_FIT_PROGRESSIVE",
            "min_vcpus": 0,
        },
    }
    evidence = rec.evidence
    assert evidence["gangs"]["mnp_jobs"] == 10 and evidence["gangs"]["node_jobs"] == 40
    assert (
        evidence["gangs"]["mnp_jobs_blocked_before"] == 10 and evidence["gangs"]["mnp_jobs_run_after"] == 10
    )
    assert "aren't supported on compute environments that use Spot" in evidence["gangs"]["rule"]
    blocked = evidence["blocked"]
    assert blocked["reason"] == SPOT_ONLY_REASON
    # Gang k (RUNNABLE at 10,800k) leaves the head at 86,400(k + 1); the singles held then are
    # s_k .. s_min(9, 8k + 7): 8, 9, 8, 7, ..., 1 for k = 0..9, 53 in all (a held job counts once
    # for every blocked head it waited behind).
    assert blocked["before"] == {"blocked_jobs": 10, "blocked_s": 864000.0, "jobs_delayed": 53}
    assert blocked["after"] == {"blocked_jobs": 0, "blocked_s": 0.0, "jobs_delayed": 0}
    assert (blocked["owner_cancel_s"], blocked["owner_cancel_assumed"]) == (86400.0, True)
    wait = evidence["wait_improvement"]
    assert wait["scope"] == "queue hpc" and wait["p95_wait_after_s"] < wait["p95_wait_before_s"]
    # Both replays ran with the same owner cancel; the proposed one has the copy, on demand, min 0.
    replay = evidence["replay"]
    for side in ("current_config", "proposed_config"):
        assert replay[side]["simulation"]["blockedJobCancelSeconds"] == 86400.0
    new = next(
        c for c in replay["proposed_config"]["computeEnvironments"]
        if c["computeEnvironmentName"] == "hpc-spot-ondemand"
    )  # fmt: skip
    resources = new["computeResources"]
    assert (resources["type"], resources["allocationStrategy"], resources["minvCpus"]) == (
        "EC2",
        "BEST_FIT_PROGRESSIVE",
        0,
    )
    assert "bidPercentage" not in resources and "spotIamFleetRole" not in resources
    window = snapshot.baseline.window_days
    assert rec.monthly_savings_usd == pytest.approx(
        (replay["current_cost_usd"] - replay["proposed_cost_usd"]) * 30.0 / window, abs=0.01
    )
    assert rec.monthly_savings_usd < 0 and f"costs ${-rec.monthly_savings_usd:,.0f}/month more" in rec.title
    [item] = savings_headline([(rec, "open")]).items
    assert item.verdict == COSTS_MONEY and not item.counted and item.wait == wait
    assert rec.confidence == 0.5  # the owner cancel delay is assumed


def test_the_estates_own_owner_cancel_delay_prices_the_blocked_wait() -> None:
    """With `simulation.blockedJobCancelSeconds` 3600 in the estate's document, each gang blocks
    hpc for an hour (gangs are 3 h apart: no chain), and the evidence says it was not assumed."""
    snapshot = inputs(gangs_and_singles(10), [SPOT_CE], [queue_item("hpc", "hpc-spot")], [])
    snapshot.baseline.current_document["simulation"] = {"blockedJobCancelSeconds": 3600}
    [rec] = MnpOnDemandStrategy().run(snapshot)
    blocked = rec.evidence["blocked"]
    assert blocked["before"] == {"blocked_jobs": 10, "blocked_s": 36000.0, "jobs_delayed": 10}
    assert (blocked["owner_cancel_s"], blocked["owner_cancel_assumed"]) == (3600.0, False)
    assert rec.confidence == 0.7


def with_never_started(jobs: pd.DataFrame, estimated: list[str], unknown: list[str]) -> pd.DataFrame:
    """`jobs` whose gangs `estimated` and `unknown` never started in the history, as `load_dataset`
    gives them (`gang_runtime.py`): 5 completed 4-node runs of mpi (in an older queue, median 2 h)
    give the first an estimate; the second are of cfd, with no run of their kind, so 0 s."""
    runs = pd.DataFrame(
        {
            "job_definition_name": "mpi",
            "node_count": 4,
            "queue": "old",
            "runtime_s": [3600.0, 5400, 7200, 7200, 9000],
        }
    )
    definitions = ["mpi"] * len(estimated) + ["cfd"] * len(unknown)
    parents = pd.DataFrame(
        {"job_id": estimated + unknown, "job_definition_name": definitions, "node_count": 4}
    )
    found = estimate_gang_runtimes(runs, parents.assign(queue="hpc", timeout_s=None))
    records = found.astype(object).where(found.notna(), None).to_dict("index")
    never = jobs["mnp_parent"].isin(estimated + unknown)
    return jobs.assign(
        never_started=never,
        runtime_s=jobs["runtime_s"].where(~never, jobs["mnp_parent"].map(found["runtime_s"])),
        runtime_estimate=[
            records.get(p) if n else None for p, n in zip(jobs["mnp_parent"], never, strict=True)
        ],
    )


def test_the_evidence_says_what_the_never_started_gangs_ran_for() -> None:
    """Of 4 gangs, 2 never started and have an estimate (2 h, the median of 5 runs of mpi with 4
    nodes), 1 never started with no run of its kind (0 s), 1 ran. The replay prices the estimated
    ones' hours: the copy costs more than when they run for 0 s. The evidence counts each kind,
    quotes the estimate's sentence, and the title and the cost risk say which hours are left out."""
    jobs = with_never_started(gangs_and_singles(4), ["g0", "g1"], ["g2"])
    snapshot = inputs(jobs, [SPOT_CE], [queue_item("hpc", "hpc-spot")], [])
    [rec] = MnpOnDemandStrategy().run(snapshot)
    run_time = rec.evidence["never_started_run_time"]
    assert (run_time["mnp_jobs"], run_time["estimated"], run_time["unknown"]) == (3, 2, 1)
    first, second = run_time["estimates"]
    assert (first["mnp_jobs"], first["basis"], first["samples"], first["runtime_s"]) == (
        2,
        "definition-and-nodes",
        5,
        7200.0,
    )
    assert first["text"] == "run time 2.0 h estimated from 5 completed runs of mpi with 4 nodes (median)"
    assert (second["mnp_jobs"], second["basis"], second["runtime_s"]) == (1, BASIS_NONE, 0.0)
    assert second["text"].startswith("run time unknown (no completed run of job definition cfd")
    assert rec.risk["cost"] == (
        f"3 of the MNP jobs never started in the history; 2 never started: {first['text']};"
        f" 1 never started: {second['text']}."
        " The cost leaves out the hours of the 1 whose run time is unknown"
    )
    assert (
        "before the run time of 1 that never ran (unknown), counting 2 that never ran at their" in rec.title
    )
    assert rec.evidence["gangs"]["mnp_jobs_never_started_in_history"] == 3
    # The same history with every never-started gang at 0 s: the copy costs less than with the estimate.
    zero = jobs.assign(runtime_s=jobs["runtime_s"].where(~jobs["never_started"], 0.0))
    [unpriced] = MnpOnDemandStrategy().run(inputs(zero, [SPOT_CE], [queue_item("hpc", "hpc-spot")], []))
    assert rec.monthly_savings_usd < unpriced.monthly_savings_usd


def test_gangs_that_all_have_an_estimate_leave_no_hours_out() -> None:
    jobs = with_never_started(gangs_and_singles(3), ["g0", "g1", "g2"], [])
    [rec] = MnpOnDemandStrategy().run(inputs(jobs, [SPOT_CE], [queue_item("hpc", "hpc-spot")], []))
    assert "unknown" not in rec.title and "counting 3 that never ran at their estimated run time" in rec.title
    assert "leaves out" not in rec.risk["cost"] and "5 completed runs of mpi" in rec.risk["cost"]


def test_queues_whose_gangs_reach_on_demand_or_that_are_full_get_nothing() -> None:
    """Spot first, then on demand: Batch already runs the gangs on the on-demand CE. Three spot CEs:
    a queue takes no fourth. A queue without MNP jobs: nothing to move."""
    jobs = gangs_and_singles(4)
    both = inputs(jobs, [SPOT_CE, OD_CE], [queue_item("hpc", "hpc-spot", "hpc-od")], [])
    assert MnpOnDemandStrategy().run(both) == []
    three = [
        ce_item(n, platform="SPOT", strategy="SPOT_PRICE_CAPACITY_OPTIMIZED", types=("c5",))
        for n in ("s1", "s2", "s3")
    ]
    full = inputs(jobs, three, [queue_item("hpc", "s1", "s2", "s3")], [])
    assert MnpOnDemandStrategy().run(full) == []
    other = inputs(jobs.assign(queue="etl"), [SPOT_CE], [queue_item("hpc", "hpc-spot")], [])
    assert MnpOnDemandStrategy().run(other) == []


def test_gang_table_reads_the_main_node() -> None:
    jobs = gangs(2, totals=(16, 24), per_node=8)
    jobs.loc[jobs["job_id"] == "g1#0", "queue"] = "main-queue"
    table = gang_table(jobs).set_index("mnp_parent")
    assert table["nodes"].tolist() == [2, 3]
    assert table["queue"].tolist() == ["hpc", "main-queue"]
    assert gang_table(jobs.drop(columns=["mnp_parent"])).empty


def test_the_on_demand_copy_plans_as_a_create_and_a_queue_update() -> None:
    """The proposal goes through the planner as spot adoption's does: CreateComputeEnvironment of
    an EC2 copy of the spot CE, then UpdateJobQueue with the copy after the spot CE; both requests
    pass botocore's ParamValidator for their operation's input shape."""
    ces, queues = [SPOT_CE], [queue_item("hpc", "hpc-spot")]
    [rec] = MnpOnDemandStrategy().run(inputs(gangs_and_singles(4), ces, queues, []))
    plan = plan_change(rec, CurrentState(queues[0], compute_environments=tuple(ces)))
    create, update = plan.calls
    assert (create.operation, update.operation) == ("create_compute_environment", "update_job_queue")
    resources = create.params["computeResources"]
    assert create.params["computeEnvironmentName"] == "hpc-spot-ondemand"
    assert (resources["type"], resources["allocationStrategy"], resources["minvCpus"]) == (
        "EC2",
        "BEST_FIT_PROGRESSIVE",
        0,
    )
    assert "bidPercentage" not in resources and "spotIamFleetRole" not in resources
    assert update.params["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": f"{PREFIX}:compute-environment/hpc-spot"},
        {"order": 2, "computeEnvironment": f"{PREFIX}:compute-environment/hpc-spot-ondemand"},
    ]
    for call in plan.calls:
        assert_model_valid(call)


def ranged_definition(targets: list[str], nodes: int = 16) -> dict[str, Any]:
    """`mpi` with the node ranges `targets`, all asking for 6 vCPUs / 12 GiB (main + workers)."""
    item = mnp_definition("mpi", nodes, 6, 12288)
    [only] = item["nodeProperties"]["nodeRangeProperties"]
    item["nodeProperties"]["nodeRangeProperties"] = [
        {**only, "targetNodes": t, "container": {**only["container"], "command": [f"role-{i}"]}}
        for i, t in enumerate(targets)
    ]
    return item


def test_resized_node_ranges_follow_the_last_range_and_keep_the_others() -> None:
    # Main "0:0" + workers "1:" / "1:15": the workers follow numNodes.
    assert resized_node_ranges(["0:0", "1:"], 0, 16, 4) == ["0:0", "1:"]
    assert resized_node_ranges(["0:0", "1:15"], 0, 16, 32) == ["0:0", "1:"]
    assert resized_node_ranges([":15"], 0, 16, 20) == ["0:"]
    # A nested override keeps its nodes while they exist.
    assert resized_node_ranges(["0:", "4:5"], 0, 16, 8) == ["0:", "4:5"]
    refused = [
        ((["0:7", "8:15"], 0, 16, 4), "node range '0:7' does not fit 4 nodes"),
        ((["0:", "4:5"], 0, 16, 4), "node range '4:5' does not fit 4 nodes"),
        ((["0:", "15:15"], 0, 16, 32), "'0:' and '15:15' both reach the last node"),
        ((["0:0", "1:"], 0, 16, 1), "node range '1:' does not fit 1 nodes"),
        ((["0:3", "4:15"], 5, 16, 4), "main node 5 is not among 4 nodes"),
        ((["0:3", "6:15"], 0, 16, 8), "node 4 of 16 is in no node range"),
        ((["0:0", "x:"], 0, 16, 8), "'x:' is not n, n:m, n: or :m"),
    ]
    for args, message in refused:
        with pytest.raises(InputError, match=re.escape(message)):
            resized_node_ranges(*args)


def test_a_main_and_workers_definition_is_resized_range_by_range_and_plans_cleanly() -> None:
    """Two ranges, "0:0" main + "1:15" workers: the proposal keeps the main node's range and opens
    the workers' to the new count, and the planner registers exactly those ranges."""
    ces = [ce_item("hpc-od", strategy="BEST_FIT", types=("c6i", "m6i"), max_vcpus=1024)]
    queues = [queue_item("hpc", "hpc-od")]
    item = ranged_definition(["0:0", "1:15"])
    [rec] = MnpNodeSizeStrategy().run(inputs(gangs(12), ces, queues, [item]))
    nodes = rec.proposed["num_nodes"]
    assert rec.evidence["node_size"]["node_ranges"] == {"before": ["0:0", "1:15"], "after": ["0:0", "1:"]}
    [call] = plan_change(rec, CurrentState(item)).calls
    props = call.params["nodeProperties"]
    assert props["numNodes"] == nodes and props["mainNode"] == 0
    assert [r["targetNodes"] for r in props["nodeRangeProperties"]] == ["0:0", "1:"]
    assert [r["container"]["command"] for r in props["nodeRangeProperties"]] == [["role-0"], ["role-1"]]
    assert_model_valid(call)  # the request is one the Batch model accepts


def test_node_counts_a_multi_range_definition_cannot_take_are_skipped_with_the_reason() -> None:
    """ "0:7" + "8:15" keeps its first 8 nodes: 96 vCPUs as 6, 3 or 2 nodes would leave "0:7" past
    the last node, so those sizes are not replayed, the evidence says why, and whatever is proposed
    plans through the same rule."""
    ces = [ce_item("hpc-od", strategy="BEST_FIT", types=("c6i", "m6i"), max_vcpus=1024)]
    queues = [queue_item("hpc", "hpc-od")]
    item = ranged_definition(["0:7", "8:15"])
    [rec] = MnpNodeSizeStrategy().run(inputs(gangs(12), ces, queues, [item]))
    candidates = rec.evidence["node_size"]["candidates"]
    skipped = {c["nodes"]: c["skipped"] for c in candidates if "skipped" in c}
    assert skipped and all(n < 9 for n in skipped)
    assert all(reason == f"node range '0:7' does not fit {n} nodes" for n, reason in skipped.items())
    assert all("monthly_savings_usd" in c for c in candidates if "skipped" not in c)
    assert rec.proposed["num_nodes"] >= 9
    [call] = plan_change(rec, CurrentState(item)).calls
    assert [r["targetNodes"] for r in call.params["nodeProperties"]["nodeRangeProperties"]] == ["0:7", "8:"]
