"""Applying `mnp-node-size`: a RegisterJobDefinition revision of the MNP definition with the new node
count and node size, validated by botocore's model (Stubber), read back, and rolled back by
deregistering it."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from optimizer.apply.planner import CurrentState, plan_change
from optimizer.apply.rollback import build_rollback
from optimizer.apply.verify import verify_call
from optimizer.domain import UpdateKind
from optimizer.errors import RefusedError
from tests.apply_helpers import ACCOUNT, make_recommendation

ARN = f"{ACCOUNT}:job-definition/mpi-solver:4"


def definition() -> dict[str, Any]:
    return {
        "jobDefinitionName": "mpi-solver",
        "jobDefinitionArn": ARN,
        "revision": 4,
        "status": "ACTIVE",
        "type": "multinode",
        "containerOrchestrationType": "ECS",
        "retryStrategy": {"attempts": 2},
        "timeout": {"attemptDurationSeconds": 86400},
        "tags": {"team": "cfd"},
        "platformCapabilities": ["EC2"],
        "nodeProperties": {
            "numNodes": 16,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0:15",
                    "container": {
                        "image": "mpi:4",
                        "command": ["mpirun", "solver"],
                        "vcpus": 6,
                        "resourceRequirements": [{"type": "MEMORY", "value": "12288"}],
                        "environment": [{"name": "OMP_NUM_THREADS", "value": "1"}],
                    },
                }
            ],
        },
    }


def rec(proposed: dict[str, Any], current: dict[str, Any] | None = None) -> Any:
    return make_recommendation(
        "mnp-node-size",
        f"{ACCOUNT}:job-definition/mpi-solver",
        "job-definition",
        proposed,
        update_kind=UpdateKind.NEW_REVISION,
        current=current or {"num_nodes": 16, "vcpus_per_node": 6.0, "memory_mib_per_node": 12288},
    )


PROPOSED = {"num_nodes": 12, "vcpus_per_node": 8.0, "memory_mib_per_node": 16384}


def test_the_revision_changes_node_count_and_size_and_keeps_everything_else() -> None:
    item = definition()
    plan = plan_change(rec(PROPOSED), CurrentState(copy.deepcopy(item)))
    [call] = plan.calls
    assert (call.operation, plan.update_kind) == ("register_job_definition", UpdateKind.NEW_REVISION)
    params = call.params
    assert params["type"] == "multinode" and params["jobDefinitionName"] == "mpi-solver"
    assert (params["retryStrategy"], params["timeout"], params["tags"]) == (
        {"attempts": 2},
        {"attemptDurationSeconds": 86400},
        {"team": "cfd"},
    )
    assert "revision" not in params and "status" not in params  # read-only fields dropped
    props = params["nodeProperties"]
    assert props["numNodes"] == 12 and props["mainNode"] == 0
    [node_range] = props["nodeRangeProperties"]
    assert node_range["targetNodes"] == "0:"  # "0:15" of 16 nodes would leave nodes uncovered
    container = node_range["container"]
    assert container["resourceRequirements"] == [
        {"type": "MEMORY", "value": "16384"},
        {"type": "VCPU", "value": "8"},
    ]
    assert "vcpus" not in container and container["environment"][0]["name"] == "OMP_NUM_THREADS"
    assert "16 nodes of 6 vCPU / 12288 MiB -> 12 nodes of 8 vCPU / 16384 MiB" in call.description

    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stubber:  # botocore validates the request against the Batch model
        answer = {"jobDefinitionName": "mpi-solver", "jobDefinitionArn": ARN[:-1] + "5", "revision": 5}
        stubber.add_response("register_job_definition", answer, params)
        response = client.register_job_definition(**params)

    observed = {
        **item,
        **copy.deepcopy(params),
        "jobDefinitionArn": response["jobDefinitionArn"],
        "revision": 5,
    }
    assert verify_call(call, observed, item, response).landed
    wrong = copy.deepcopy(observed)
    wrong["nodeProperties"]["numNodes"] = 16
    assert not verify_call(call, wrong, item, response).landed

    rollback = build_rollback(plan, [(0, response)], {})
    assert rollback is not None
    [undo] = rollback.calls
    assert undo.operation == "deregister_job_definition"
    assert undo.params == {"jobDefinition": response["jobDefinitionArn"]}


def test_a_changed_definition_is_stale_and_a_missing_main_node_is_refused() -> None:
    item = definition()
    item["nodeProperties"]["numNodes"] = 20
    with pytest.raises(RefusedError, match="stale"):
        plan_change(rec(PROPOSED), CurrentState(item))
    main_last = definition()
    main_last["nodeProperties"]["mainNode"] = 14
    with pytest.raises(Exception, match="main node 14 is not among 12 nodes"):
        plan_change(rec(PROPOSED), CurrentState(main_last))
