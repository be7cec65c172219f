"""Capacity shortages in the replay (`optimizer.simulate.shortages`).

Hand-worked cases read the drawn spans off a calendar of the same seed and state where Batch puts
the work: during a spot shortage a spot-first queue's job goes to its on-demand CE, a spot-only
queue's job waits until the shortage ends. The hypothesis property checks on any history that no
instance is launched in a pool while that pool is short, and the usual invariants still hold.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.errors import ConfigError
from optimizer.simulate import parse_config, replay
from optimizer.simulate.shortages import ShortageCalendar, shortages_from_api
from tests.simulate_helpers import ce, jobs_frame, queue
from tests.unit.test_simulate_invariants import CATALOG, check_invariants, configurations, histories

FAST = {"launchDelaySeconds": 0, "scaleInIdleSeconds": 0}
SPOT_RULE = [{"capacityType": "SPOT", "instanceTypes": ["s.*"], "perDay": 4, "meanDurationSeconds": 7200}]


def first_span(
    rules: list[dict[str, Any]], seed: int, instance_type: str, capacity: str
) -> tuple[float, float]:
    calendar = ShortageCalendar(shortages_from_api(rules), seed)
    calendar.short_until(instance_type, capacity, 0.0)
    return calendar.spans(instance_type, capacity)[0]


def _config(order: tuple[str, ...], seed: int = 3) -> Any:
    document = {
        "computeEnvironments": [
            ce("spot", "SPOT", 64, ["s.large"], allocationStrategy="SPOT_PRICE_CAPACITY_OPTIMIZED"),
            ce("od", "EC2", 64, ["s.large"], allocationStrategy="BEST_FIT_PROGRESSIVE"),
        ],
        "jobQueues": [queue("q", 1, *order)],
        "simulation": {**FAST, "seed": seed, "capacityShortages": SPOT_RULE},
    }
    return parse_config(document, CATALOG)


def test_a_spot_shortage_sends_work_to_the_on_demand_ce_behind_spot() -> None:
    start, end = first_span(SPOT_RULE, 3, "s.large", "SPOT")
    assert end > start + 60
    inside, after = start + 30.0, end + 30.0
    jobs = jobs_frame(
        [
            {"job_id": "before", "submit_s": 0.0, "runtime_s": 10},
            {"job_id": "inside", "submit_s": inside, "runtime_s": 10},
            {"job_id": "after", "submit_s": after, "runtime_s": 10},
        ]
    )
    calendar = ShortageCalendar(shortages_from_api(SPOT_RULE), 3)
    assert [calendar.short_until("s.large", "SPOT", t) for t in (0.0, inside, after)] == [None, end, None]
    result = replay(jobs, _config(("spot", "od")))
    where = result.attempts.set_index("job_id")["compute_environment"].to_dict()
    assert where == {"before": "spot", "inside": "od", "after": "spot"}
    assert result.summary["capacity_shortages"]["launches_refused"] == 1


def test_a_spot_only_queue_waits_for_the_shortage_to_end() -> None:
    start, end = first_span(SPOT_RULE, 3, "s.large", "SPOT")
    jobs = jobs_frame([{"job_id": "inside", "submit_s": start + 30.0, "runtime_s": 10}])
    result = replay(jobs, _config(("spot",)))
    [attempt] = result.attempts.itertuples()
    assert attempt.compute_environment == "spot"
    assert attempt.started_at == pytest.approx(end)  # launched when the pool has capacity again
    waits = result.summary["queue_wait_s"]["q"]
    assert waits["p95_s"] == pytest.approx(end - start - 30.0, abs=1e-3)  # summary rounds to ms


def test_each_pool_draws_its_own_calendar_whatever_else_the_replay_asks() -> None:
    rules = shortages_from_api(SPOT_RULE)
    one, two = ShortageCalendar(rules, 7), ShortageCalendar(rules, 7)
    one.short_until("s.large", "SPOT", 5e5)
    for t in range(0, 500_000, 1000):
        two.short_until("m.2xlarge", "SPOT", float(t))  # not covered by the rule: no pool
        two.short_until("s.large", "SPOT", float(t))
    assert one.spans("s.large", "SPOT") == two.spans("s.large", "SPOT")
    assert two.spans("m.2xlarge", "SPOT") == []
    other = ShortageCalendar(rules, 8)
    other.short_until("s.large", "SPOT", 5e5)
    assert other.spans("s.large", "SPOT") != one.spans("s.large", "SPOT")  # another seed, another draw


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"capacityType": "SPOT"}, r"capacityShortages: expected a list"),
        ([{"capacityType": "spot", "perDay": 1, "meanDurationSeconds": 60}], r"\[0\]\.capacityType"),
        ([{"capacityType": "SPOT", "perDay": 0, "meanDurationSeconds": 60}], r"\[0\]\.perDay"),
        ([{"capacityType": "SPOT", "perDay": 1, "meanDurationSeconds": -1}], r"\[0\]\.meanDurationSeconds"),
        (
            [{"capacityType": "SPOT", "instanceTypes": [], "perDay": 1, "meanDurationSeconds": 9}],
            "instanceTypes",
        ),
        ([{"capacityType": "SPOT", "perDay": 1, "meanDurationSeconds": 9, "pool": 1}], r"\[0\]\.pool"),
    ],
)
def test_bad_rules_name_the_field(rules: Any, message: str) -> None:
    document = {
        "computeEnvironments": [ce("od", "EC2", 8, ["s.large"])],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"capacityShortages": rules},
    }
    with pytest.raises(ConfigError, match=message):
        parse_config(document, CATALOG)


@st.composite
def short_configurations(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(configurations())
    rules = [
        {
            "capacityType": capacity,
            "instanceTypes": draw(st.sampled_from([["*"], ["s.*", "m.*"], ["b.8xlarge"]])),
            "perDay": draw(st.sampled_from([2, 24, 200])),
            "meanDurationSeconds": draw(st.sampled_from([60, 900, 7200])),
        }
        for capacity in draw(st.sets(st.sampled_from(["SPOT", "ON_DEMAND"]), min_size=1))
    ]
    document["simulation"]["capacityShortages"] = rules
    return document


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=histories(), document=short_configurations())
def test_no_launch_while_its_pool_is_short(jobs: pd.DataFrame, document: dict[str, Any]) -> None:
    config = parse_config(document, CATALOG)
    result = replay(jobs, config)
    check_invariants(jobs, config, CATALOG, result)
    calendar = ShortageCalendar(config.options.capacity_shortages, config.options.seed)
    # minvCpus top-ups ignore shortages (documented); every other launch respects them.
    without_minimum = {c.name for c in config.compute_environments if c.min_vcpus == 0}
    instances = result.instances[result.instances["compute_environment"].isin(without_minimum)]
    for row in instances.sort_values("launched_at").itertuples():
        assert calendar.short_until(row.instance_type, row.capacity_type, row.launched_at) is None, row
