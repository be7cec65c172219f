"""The demo's CUR 2.0 export (optimizer.demo.bill_export), written to the emulator's S3 and read back
by the `bill` collector source: split rows for every task-hour, one Compute Savings Plan read as a
commitment, and figures that follow from the history and the catalogue's prices.

The history here is a small hand-made one in the store's frame contract (what the demo's replay
hands the emulator): two on-demand instances and a spot one, four job attempts.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from optimizer.billing.sources import CUR_FIELDS
from optimizer.catalog.provider import bundled_catalog
from optimizer.collectors.bill_export import bill_source
from optimizer.collectors.runner import collect
from optimizer.demo import bill_export
from optimizer.demo.emulator import HistoryFrames
from optimizer.store.tables.billing import bill_commitments, bill_months
from tests.collect_helpers import Clock, client, emulator_plan
from tests.data_paths import shared

pytestmark = pytest.mark.emulator

ACCOUNT = "123456789012"
START = datetime(2025, 3, 30, 22, 0)
NOW = datetime(2025, 4, 1, 3, 30)
CE = "arn:aws:batch:us-east-1:123456789012:compute-environment/cpu-ce"
T = pd.Timestamp


def _history() -> tuple[HistoryFrames, dict[str, str], dict[tuple[str, int], str]]:
    instances = pd.DataFrame(
        {
            "instance_id": ["h-a", "h-b", "h-c"],
            "instance_type": ["m6i.xlarge", "c6i.2xlarge", "m6i.large"],
            "capacity_type": ["ON_DEMAND", "ON_DEMAND", "SPOT"],
            "launch_time": [T("2025-03-30 22:10"), T("2025-03-31 06:00"), T("2025-03-31 23:20")],
            "terminated_at": [T("2025-03-31 04:40"), pd.NaT, T("2025-04-01 01:05")],
            "compute_environment_arn": CE,
        }
    )
    jobs = pd.DataFrame(
        {
            "job_id": ["j1", "j2", "j3", "j4"],
            "vcpus": [2.0, 1.0, 4.0, 2.0],
            "memory_mib": [8192, 4096, 8192, 4096],
            "queue": "cpu-batch",
            "job_definition": "arn:aws:batch:us-east-1:123456789012:job-definition/cpu-job:3",
        }
    )
    attempts = pd.DataFrame(
        {
            "job_id": ["j1", "j2", "j3", "j4"],
            "attempt": [1, 1, 1, 1],
            "instance_id": ["h-a", "h-a", "h-b", "h-c"],
            "started_at": [T("2025-03-30 22:15"), T("2025-03-31 00:30"), T("2025-03-31 06:30"),
                           T("2025-03-31 23:30")],
            "stopped_at": [T("2025-03-31 02:45"), T("2025-03-31 04:40"), pd.NaT, T("2025-04-01 00:50")],
            "peak_vcpus": [2.0, 0.5, 4.0, 1.0],
            "peak_memory_mib": [4096.0, 2048.0, 9000.0, 2048.0],
            "compute_environment_arn": CE,
        }
    )  # fmt: skip
    ids = {"h-a": "i-0aaaaaaaaaaaaaaaa", "h-b": "i-0bbbbbbbbbbbbbbbb", "h-c": "i-0cccccccccccccccc"}
    tasks = {
        (j, 1): f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/cpu-ce_Batch_1/{j}" for j in ("j1", "j2", "j3", "j4")
    }
    return HistoryFrames(jobs=jobs, attempts=attempts, instances=instances), ids, tasks


def _rows() -> tuple[pd.DataFrame, str, float]:
    frames, ids, tasks = _history()
    return bill_export.demo_bill_rows(
        frames, ids, tasks, account_id=ACCOUNT, region="us-east-1", start=START, now=NOW
    )


def test_instance_rows_bill_each_lifetime_at_the_catalogue_price() -> None:
    rows, sp_arn, commitment = _rows()
    prices = bundled_catalog("us-east-1").table.set_index("instance_type")
    frames, ids, _ = _history()
    ec2 = rows[rows["line_item_usage_type"].str.contains("BoxUsage|SpotUsage", regex=True)]
    billed = ec2[ec2["line_item_line_item_type"].isin(["Usage", "SavingsPlanCoveredUsage"])]
    for name, instance in frames.instances.set_index("instance_id").iterrows():
        end = min(instance["terminated_at"] if pd.notna(instance["terminated_at"]) else T(NOW), T(NOW))
        hours = (end - instance["launch_time"]) / pd.Timedelta(hours=1)
        price = prices.at[
            instance["instance_type"],
            "spot_price" if instance["capacity_type"] == "SPOT" else "ondemand_price",
        ]
        mine = billed[billed["line_item_resource_id"] == ids[name]]
        assert mine["line_item_usage_amount"].sum() == pytest.approx(hours)
        assert mine["line_item_unblended_cost"].sum() == pytest.approx(hours * price)
    spot = ec2[ec2["line_item_resource_id"] == ids["h-c"]]
    assert set(spot["line_item_usage_type"]) == {"USE1-SpotUsage:m6i.large"}
    assert set(spot["line_item_line_item_type"]) == {"Usage"}  # a Savings Plan never covers spot

    # One Compute Savings Plan: a fee row every hour from the start, used never above the commitment.
    fees = rows[rows["line_item_line_item_type"] == "SavingsPlanRecurringFee"]
    assert len(fees) == len(pd.date_range(START, NOW, freq="h", inclusive="left"))
    assert set(rows["savings_plan_savings_plan_a_r_n"].dropna()) == {sp_arn}
    assert (fees["savings_plan_used_commitment"] <= commitment + 1e-9).all()
    covered = rows[rows["line_item_line_item_type"] == "SavingsPlanCoveredUsage"]
    negation = rows[rows["line_item_line_item_type"] == "SavingsPlanNegation"]
    assert len(covered) == len(negation) > 0
    assert negation["line_item_unblended_cost"].sum() == pytest.approx(
        -covered["line_item_unblended_cost"].sum()
    )
    assert covered["savings_plan_savings_plan_effective_cost"].sum() == pytest.approx(
        fees["savings_plan_used_commitment"].sum()
    )
    assert (fees["savings_plan_used_commitment"] < commitment - 1e-9).any()  # quiet hours leave some unused
    assert {"USE1-EBS:VolumeUsage.gp3", "USE1-DataTransfer-Out-Bytes"} <= set(rows["line_item_usage_type"])


def test_split_rows_share_each_instance_hour_amortised_cost_among_its_tasks() -> None:
    rows, _, _ = _rows()
    split = rows[rows["split_line_item_parent_resource_id"].notna()]
    assert set(split["line_item_operation"]) == {"ECSTask-EC2"}
    assert (split["line_item_unblended_cost"] == 0).all()
    # Two rows per task-hour: vCPU and GB.
    per_task_hour = split.groupby(["line_item_resource_id", "line_item_usage_start_date"])[
        "line_item_usage_type"
    ]
    pair = ["USE1-ECS-EC2-GB-Hours", "USE1-ECS-EC2-vCPU-Hours"]
    assert per_task_hour.apply(lambda s: sorted(s) == pair).all()
    # Split + unused over an instance-hour's task rows = that instance-hour's amortised cost.
    ec2 = rows[rows["line_item_usage_type"].str.contains("BoxUsage|SpotUsage", regex=True)]
    kind = ec2["line_item_line_item_type"]
    amortised = np.where(
        kind == "SavingsPlanCoveredUsage",
        ec2["savings_plan_savings_plan_effective_cost"],
        np.where(kind == "SavingsPlanNegation", 0.0, ec2["line_item_unblended_cost"]),
    )
    instance_hour = (
        pd.Series(amortised, index=ec2.index)
        .groupby([ec2["line_item_resource_id"], ec2["line_item_usage_start_date"]])
        .sum()
    )
    allocated = (
        (split["split_line_item_split_cost"] + split["split_line_item_unused_cost"])
        .groupby([split["split_line_item_parent_resource_id"], split["line_item_usage_start_date"]])
        .sum()
    )
    assert len(allocated) > 0
    assert allocated.to_numpy() == pytest.approx(instance_hour.loc[allocated.index].to_numpy())
    # Split usage is the larger of reserved and actual; j3 used more memory than it reserved.
    assert (split["split_line_item_split_usage"] >= split["split_line_item_reserved_usage"]).all()
    j3_gb = split[split["line_item_resource_id"].str.endswith("/j3") & split["pricing_unit"].eq("GB-Hours")]
    assert (j3_gb["split_line_item_split_usage"] > j3_gb["split_line_item_reserved_usage"]).all()


def test_every_column_is_a_cur2_column_and_the_reader_knows_the_ones_it_needs() -> None:
    rows, _, _ = _rows()
    cur2 = set(pd.read_csv(shared("billing/schema/cur2_columns.csv"))["column"])
    written = {c for c in rows.columns if not c.startswith("_")} | {"product", "resource_tags"}
    assert written <= cur2, written - cur2
    assert {f.name for f in CUR_FIELDS if f.required} <= written


def test_the_demo_export_is_collected_from_s3_with_its_savings_plan_as_a_commitment(
    sqlite_engine: Engine, aws_endpoint: str, tmp_path: object
) -> None:
    frames, ids, tasks = _history()
    s3 = client(aws_endpoint, "s3")
    written = bill_export.write_demo_bill(
        s3, frames, ids, tasks, account_id=ACCOUNT, region="us-east-1", start=START, now=NOW
    )
    assert written.months == ("2025-03", "2025-04")
    assert written.split_rows > 0
    source = bill_source(written.uri, f"{tmp_path}/bill")
    [run] = collect(sqlite_engine, [emulator_plan(aws_endpoint)], [source], clock=Clock(NOW))
    assert run.status == "succeeded", run.error
    assert run.items_read == written.line_items
    with sqlite_engine.connect() as conn:
        [commitment] = conn.execute(select(bill_commitments)).mappings().all()
        billed = sum(conn.execute(select(bill_months.c.billed_usd)).scalars())
    assert commitment["arn"] == written.savings_plan_arn
    assert commitment["kind"] == "savings_plan"
    assert commitment["offering_type"] == "ComputeSavingsPlans"
    assert commitment["hourly_commitment_usd"] == pytest.approx(written.hourly_commitment_usd)
    assert commitment["term"] == "1yr"
    assert billed == pytest.approx(written.billed_usd)
    again = bill_export.demo_bill_rows(
        frames, ids, tasks, account_id=ACCOUNT, region="us-east-1", start=START, now=NOW
    )
    pd.testing.assert_frame_equal(again[0], _rows()[0])  # deterministic


def test_which_instances_the_savings_plan_covers_does_not_depend_on_the_emulator_ids() -> None:
    # Both on-demand instances run from 06:00 to 07:00 here and the commitment covers only part of
    # that hour: the instances the history lists first are covered first, whichever ids the
    # emulator handed out (drawn anew each demo run).
    frames, ids, _ = _history()
    instances = frames.instances.assign(
        launch_time=[T("2025-03-31 06:00"), T("2025-03-31 06:00"), T("2025-03-31 23:20")],
        terminated_at=[T("2025-03-31 07:00"), T("2025-03-31 07:00"), T("2025-04-01 01:05")],
    )
    frames = HistoryFrames(jobs=frames.jobs, attempts=frames.attempts, instances=instances)
    prices = bill_export._catalogue("us-east-1")
    swapped = {"h-a": ids["h-b"], "h-b": ids["h-a"], "h-c": ids["h-c"]}
    covered = []
    for mapping in (ids, swapped):
        hours = bill_export._cover(bill_export._instance_hours(frames, mapping, NOW, prices), 0.05)
        history = {v: k for k, v in mapping.items()}
        covered.append(hours.groupby(hours["resource_id"].map(history))["covered_sp_usd"].sum().to_dict())
    assert covered[0] == pytest.approx(covered[1])
    assert covered[0]["h-a"] == pytest.approx(0.05)  # listed first: all of the hour's commitment
    assert covered[0]["h-b"] == 0.0 and covered[0]["h-c"] == 0.0  # then nothing left; spot never
