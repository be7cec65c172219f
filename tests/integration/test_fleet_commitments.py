"""Commitments in force: from `[[commitments]]` and the store's bill, and what a replay charges for them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from optimizer.config import load_settings
from optimizer.errors import ConfigError
from optimizer.fleet.commitments import commitments_in_force
from optimizer.simulate import parse_config, replay
from optimizer.solver.problem import Commitment
from optimizer.store.tables.billing import bill_commitment_hours, bill_commitments
from tests.simulate_helpers import ce, jobs_frame, queue, tiny_catalog

SINCE, UNTIL = datetime(2026, 9, 1), datetime(2026, 9, 8)
PRICES = {"m6i.large": 0.096, "m6i.xlarge": 0.192, "c6i.large": 0.085}
SP_ARN = "arn:aws:savingsplans::123456789012:savingsplan/sp-1"
RI_ARN = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/ri-1"

CONFIG = """
[[commitments]]
id = "sp-config"
type = "COMPUTE_SAVINGS_PLAN"
usd_per_hour = 2.0
discount = 0.25

[[commitments]]
id = "ec2-m6i"
type = "EC2_INSTANCE_SAVINGS_PLAN"
family = "m6i"
usd_per_hour = 0.5
rates = { "m6i.large" = 0.05 }
discount = 0.3

[[commitments]]
id = "ri-west"
type = "RESERVED_INSTANCE"
region = "us-west-2"
instance_type = "c6i.large"
count = 4

[[commitments]]
id = "sp-expired"
type = "COMPUTE_SAVINGS_PLAN"
usd_per_hour = 1.0
discount = 0.2
ends_at = 2026-08-01T00:00:00
"""


def _settings(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "batchopt.toml"
    path.write_text(text)
    return load_settings(path)


def test_configured_commitments_in_force(tmp_path: Path) -> None:
    settings = _settings(tmp_path, CONFIG)
    got = commitments_in_force(
        None, settings.commitments, region="us-east-1", since=SINCE, until=UNTIL, on_demand_prices=PRICES
    )
    by_id = {c.id: c for c in got.commitments}
    assert sorted(by_id) == ["ec2-m6i", "sp-config"]  # other region and expired left out
    assert by_id["sp-config"].rates == pytest.approx({t: p * 0.75 for t, p in PRICES.items()})
    # Configured rates win over the discount, which fills in the family's other types only.
    assert by_id["ec2-m6i"].rates == pytest.approx({"m6i.large": 0.05, "m6i.xlarge": 0.192 * 0.7})
    assert any("25% off on-demand" in n for n in got.notes)


def test_a_commitment_without_its_fields_is_refused_by_the_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"commitments\.0.*needs instance_type and count"):
        _settings(tmp_path, '[[commitments]]\nid = "ri"\ntype = "RESERVED_INSTANCE"\n')
    with pytest.raises(ConfigError, match=r"commitments\.0\.rate"):
        _settings(tmp_path, '[[commitments]]\nid = "x"\ntype = "RESERVED_INSTANCE"\nrate = 1\n')


def test_bill_commitments_become_solver_commitments(store_engine: Engine, tmp_path: Path) -> None:
    seen = {
        "count": None,
        "hourly_commitment_usd": None,
        "first_seen": SINCE,
        "last_seen": UNTIL,
        "line_items": 10,
        "billed_usd": 1.0,
        "effective_usd": 1.0,
    }
    with store_engine.begin() as conn:
        conn.execute(
            insert(bill_commitments),
            [
                {"arn": SP_ARN, "kind": "savings_plan", "offering_type": "ComputeSavingsPlans",
                 **seen, "region": None, "hourly_commitment_usd": 1.5},
                {"arn": RI_ARN, "kind": "reserved_instance", "offering_type": "USE1-BoxUsage:m6i.large",
                 **seen, "region": "us-east-1", "count": 2.0},
                {"arn": SP_ARN + "-ec2", "kind": "savings_plan", "offering_type": "EC2InstanceSavingsPlans",
                 **seen, "region": None, "hourly_commitment_usd": 0.4},
            ],
        )  # fmt: skip
        conn.execute(
            insert(bill_commitment_hours),
            [
                {"billing_period": SINCE, "hour": SINCE, "arn": SP_ARN, "kind": "savings_plan",
                 "used_usd": 0.7, "unused_usd": 0.8, "covered_list_usd": 1.0, "covered_instance_hours": 10.0},
            ],
        )  # fmt: skip
    got = commitments_in_force(
        store_engine, [], region="us-east-1", since=SINCE, until=UNTIL, on_demand_prices=PRICES
    )
    by_id = {c.id: c for c in got.commitments}
    assert by_id[SP_ARN].usd_per_hour == 1.5
    assert by_id[SP_ARN].rates == pytest.approx({t: p * 0.7 for t, p in PRICES.items()})
    assert by_id[RI_ARN] == Commitment(RI_ARN, "RESERVED_INSTANCE", instance_type="m6i.large", count=2)
    assert SP_ARN + "-ec2" not in by_id
    assert any(n.startswith(SP_ARN + "-ec2: bill, left out") for n in got.notes)
    # A configured entry with the ARN as id replaces the bill's.
    settings = _settings(
        tmp_path,
        f'[[commitments]]\nid = "{SP_ARN}"\ntype = "COMPUTE_SAVINGS_PLAN"\n'
        "usd_per_hour = 3.0\ndiscount = 0.5\n",
    )
    got = commitments_in_force(
        store_engine,
        settings.commitments,
        region="us-east-1",
        since=SINCE,
        until=UNTIL,
        on_demand_prices=PRICES,
    )
    assert [c.usd_per_hour for c in got.commitments if c.id == SP_ARN] == [3.0]


def test_a_replay_covers_on_demand_hours_and_charges_the_fee() -> None:
    catalog = tiny_catalog({"m6i.large": (2, 7600, 0, 0.096, 0.03, 0)})
    jobs = jobs_frame([{"submit_s": 0.0, "runtime_s": 2 * 3600.0, "vcpus": 2.0, "memory_mib": 2000.0}])
    document = {
        "computeEnvironments": [ce("od", "EC2", 2, ["m6i.large"], allocationStrategy="BEST_FIT_PROGRESSIVE")],
        "jobQueues": [queue("q", 1, "od")],
    }
    config = parse_config(document, catalog)
    plain = replay(jobs, config).summary
    assert "commitment_usd" not in plain
    sp = Commitment("sp", "COMPUTE_SAVINGS_PLAN", usd_per_hour=0.03, rates={"m6i.large": 0.06})
    result = replay(jobs, replace(config, commitments=(sp,)))
    committed = result.summary
    assert committed["list_cost_usd"] == plain["total_cost_usd"]
    (launch, billed) = result.instances[["launched_at", "billed_seconds"]].iloc[0]
    n_hours = int(-(-(launch + billed) // 3600))
    assert n_hours == 3  # 180 s to boot, 2 h of work, 300 s idle before scale-in
    # Each hour $0.03 of plan rate covers up to half an instance-hour ($0.048 at list price).
    running = [min(launch + billed, (h + 1) * 3600) - max(launch, h * 3600) for h in range(n_hours)]
    covered = [min(r / 3600, 0.5) for r in running]
    assert committed["commitment_usd"] == pytest.approx(0.03 * n_hours)
    assert committed["commitment_covered_usd"] == pytest.approx(0.096 * sum(covered), abs=1e-6)
    assert committed["commitments"][0]["utilization"] == pytest.approx(
        0.06 * sum(covered) / (0.03 * n_hours), abs=1e-6
    )
    assert committed["total_cost_usd"] == pytest.approx(
        plain["total_cost_usd"] - committed["commitment_covered_usd"] + committed["commitment_usd"], abs=1e-6
    )
