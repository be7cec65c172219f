"""Pure parts of the demo: the trace window, the emulator's update rules and paging, fleet-mix advice."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.demo.emulator.batch_jobs import _passes, decode_token, encode_token, summary
from optimizer.demo.emulator.compute_resources import merged_resources
from optimizer.demo.history import DAY, busiest_window

pytestmark = pytest.mark.any_date  # dates are fixed and "now" is injected: the same on any date


def test_busiest_window_finds_the_densest_days() -> None:
    submits = pd.Series([0.5 * DAY, 10.2 * DAY, 10.7 * DAY, 11.1 * DAY, 12.9 * DAY, 30.0 * DAY])
    assert busiest_window(submits, 3) == 10 * DAY
    assert busiest_window(submits, 100) == 0.0  # shorter trace than the window: from the start


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=60 * DAY), min_size=1, max_size=200), st.integers(1, 20))
def test_busiest_window_is_at_least_as_full_as_any_day_aligned_window(values: list[float], days: int) -> None:
    submits = pd.Series(values)
    start = busiest_window(submits, days)
    assert start % DAY == 0
    inside = int(((submits >= start) & (submits < start + days * DAY)).sum())
    for other in np.arange(0, 61) * DAY:
        if other + days * DAY <= (int(submits.max() // DAY) + 1) * DAY:
            assert inside >= int(((submits >= other) & (submits < other + days * DAY)).sum())


@given(st.integers(min_value=0, max_value=10**9))
def test_page_tokens_round_trip(offset: int) -> None:
    assert decode_token(encode_token(offset)) == offset


def test_bad_tokens_are_rejected() -> None:
    assert decode_token("not-a-token") is None
    negative = base64.urlsafe_b64encode(json.dumps({"offset": -1}).encode()).decode()
    assert decode_token(negative) is None
    wrong_key = base64.urlsafe_b64encode(json.dumps({"page": 2}).encode()).decode()
    assert decode_token(wrong_key) is None


def test_scaling_updates_merge_and_check_limits() -> None:
    current = {
        "type": "EC2",
        "allocationStrategy": "BEST_FIT",
        "minvCpus": 16,
        "maxvCpus": 256,
        "desiredvCpus": 16,
    }
    merged, _ = merged_resources(current, {"minvCpus": 0})
    assert merged is not None and merged["minvCpus"] == 0 and merged["maxvCpus"] == 256
    refused, why = merged_resources(current, {"minvCpus": 300})
    assert refused is None and "maxvCpus" in why
    refused, why = merged_resources(current, {"instanceTypes": ["m6i"]})
    assert refused is None and "BEST_FIT_PROGRESSIVE" in why
    refused, why = merged_resources(current, {"type": "SPOT"})
    assert refused is None and "type" in why


def test_infrastructure_updates_on_progressive_clear_desired() -> None:
    current = {
        "type": "EC2",
        "allocationStrategy": "BEST_FIT_PROGRESSIVE",
        "minvCpus": 0,
        "maxvCpus": 64,
        "desiredvCpus": 8,
        "instanceTypes": ["m5"],
    }
    merged, _ = merged_resources(current, {"instanceTypes": ["m6i", "c6i"]})
    assert merged is not None and merged["instanceTypes"] == ["m6i", "c6i"] and "desiredvCpus" not in merged


def test_list_jobs_filters() -> None:
    item = {
        "jobName": "nightly-7",
        "createdAt": 1000,
        "jobDefinition": "arn:aws:batch:r:1:job-definition/etl:3",
    }
    assert _passes(item, [{"name": "JOB_NAME", "values": ["nightly*"]}])
    assert not _passes(item, [{"name": "JOB_NAME", "values": ["nightly"]}])
    assert _passes(item, [{"name": "JOB_DEFINITION", "values": ["etl"]}])
    assert _passes(item, [{"name": "JOB_DEFINITION", "values": ["etl:3"]}])
    assert not _passes(item, [{"name": "JOB_DEFINITION", "values": ["etl:2"]}])
    assert _passes(item, [{"name": "AFTER_CREATED_AT", "values": ["999"]}])
    assert not _passes(item, [{"name": "AFTER_CREATED_AT", "values": ["1000"]}])
    assert not _passes(item, [{"name": "BEFORE_CREATED_AT", "values": ["1000"]}])
    assert summary({**item, "jobId": "j", "container": {"exitCode": 0, "image": "x"}})["container"] == {
        "exitCode": 0
    }


ENVIRONMENT = {
    "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/cpu",
    "computeEnvironmentName": "cpu",
    "computeResources": {
        "type": "EC2",
        "allocationStrategy": "BEST_FIT",
        "minvCpus": 16,
        "maxvCpus": 256,
        "instanceTypes": ["optimal"],
    },
}


def _planned(*bodies: dict[str, object]) -> dict[str, object]:
    return {
        "computeEnvironments": list(bodies),
        "jobQueues": [{"jobQueueName": "q", "computeEnvironmentOrder": []}],
    }


def _body(kind: str, strategy: str, types: list[str]) -> dict[str, object]:
    return {
        "computeEnvironmentName": f"q-{kind}",
        "computeResources": {
            "type": kind,
            "allocationStrategy": strategy,
            "minvCpus": 0,
            "maxvCpus": 128,
            "instanceTypes": types,
        },
    }


def test_instance_collector_takes_the_termination_time_from_ec2() -> None:
    """The collector change the demo needs: a terminated instance ends when EC2 says, not at collection."""
    from datetime import datetime

    from optimizer.collectors.instances import _gone_at

    now = datetime(2026, 11, 27, 12, 0)
    assert _gone_at({"StateTransitionReason": "User initiated (2026-11-02 10:15:00 GMT)"}, now) == datetime(
        2026, 11, 2, 10, 15
    )
    assert _gone_at(
        {"StateTransitionReason": "Service initiated (2026-11-03 01:02:03 GMT)"}, now
    ) == datetime(2026, 11, 3, 1, 2, 3)
    assert _gone_at({"StateTransitionReason": ""}, now) == now
    assert _gone_at({"StateTransitionReason": "User initiated (2027-01-01 00:00:00 GMT)"}, now) == now
