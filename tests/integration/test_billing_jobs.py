"""Per-job billed cost, breakdowns, commitment utilization/coverage and the after-discount ratio,
on a small hand-built CUR 2.0 month with split cost allocation rows (SCHEMA.md section 3), on SQLite
and PostgreSQL. Expected figures are plain pandas sums over the rows written, to the cent."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select

from optimizer.billing.breakdown import KNOWN_INSTANCES_CAUSE
from optimizer.billing.commitments import load_commitments
from optimizer.billing.discount import after_discount, discount_ratio, instance_discount_ratio
from optimizer.billing.intake import import_bill
from optimizer.billing.reconcile import reconcile
from optimizer.store.names import COLLECTED_DATASET
from optimizer.store.read import read_frame
from optimizer.store.tables.billing import bill_commitment_hours, bill_job_costs
from optimizer.store.tables.jobs import job_attempts, jobs

CENT = 0.005
MONTH = "2026-09"
H0 = pd.Timestamp("2026-09-01 00:00")
H1 = pd.Timestamp("2026-09-01 01:00")
SP = "arn:aws:savingsplans::111122223333:savingsplan/sp-1"
TASK = "arn:aws:ecs:us-east-1:111122223333:task/cpu-ce_Batch_1/{}"


def _row(kind: str, hour: pd.Timestamp, **values: object) -> dict:
    return {"line_item_line_item_type": kind, "line_item_usage_start_date": hour, **values}


def _split(task: str, instance: str, hour: pd.Timestamp, vcpu: tuple[float, float], gb: tuple[float, float]):
    """A task's two split rows for one hour: (split_cost, unused_cost) of its vCPU and its GB."""
    return [
        _row(
            "Usage",
            hour,
            line_item_product_code="AmazonECS",
            line_item_operation="ECSTask-EC2",
            line_item_usage_type=f"USE1-ECS-EC2-{unit}-Hours",
            line_item_resource_id=TASK.format(task),
            line_item_unblended_cost=0.0,
            split_line_item_parent_resource_id=instance,
            split_line_item_split_cost=cost[0],
            split_line_item_unused_cost=cost[1],
        )
        for unit, cost in (("vCPU", vcpu), ("GB", gb))
    ]


def bill_rows() -> pd.DataFrame:
    """i-a on demand (hours 0, 1), i-b covered by a Savings Plan (hour 0) with its negation and the
    plan's hourly fee, i-c on demand without split rows; tasks t1, t2 (i-a), t3 (i-b), t4 (i-a,
    unknown to the store); an EBS volume."""
    ec2 = {"line_item_product_code": "AmazonEC2", "line_item_operation": "RunInstances"}
    box = {**ec2, "line_item_usage_type": "USE1-BoxUsage:m5.xlarge", "line_item_usage_amount": 1.0}
    rows = [
        _row(
            "Usage",
            h,
            **box,
            line_item_resource_id="i-a",
            line_item_unblended_cost=0.192,
            pricing_public_on_demand_cost=0.192,
        )
        for h in (H0, H1)
    ]
    rows += [
        _row(
            "Usage",
            h,
            **box,
            line_item_resource_id="i-c",
            line_item_unblended_cost=0.096,
            pricing_public_on_demand_cost=0.192,
        )  # a private rate: half of list
        for h in (H0, H1)
    ]
    rows += [
        _row("SavingsPlanCoveredUsage", H0, **box, line_item_resource_id="i-b",
             line_item_unblended_cost=0.192, pricing_public_on_demand_cost=0.192,
             savings_plan_savings_plan_a_r_n=SP, savings_plan_savings_plan_effective_cost=0.12),
        _row("SavingsPlanNegation", H0, **box, line_item_resource_id="i-b", line_item_unblended_cost=-0.192,
             savings_plan_savings_plan_a_r_n=SP),
        _row("SavingsPlanRecurringFee", H0, line_item_product_code="ComputeSavingsPlans",
             line_item_usage_type="ComputeSP:1yrNoUpfront", line_item_unblended_cost=0.15,
             savings_plan_savings_plan_a_r_n=SP, savings_plan_total_commitment_to_date=0.15,
             savings_plan_used_commitment=0.12, savings_plan_offering_type="ComputeSavingsPlans"),
        _row("Usage", H0, line_item_product_code="AmazonEC2",
             line_item_usage_type="USE1-EBS:VolumeUsage.gp3", line_item_resource_id="vol-1",
             line_item_unblended_cost=0.05, pricing_public_on_demand_cost=0.05),
    ]  # fmt: skip
    rows += _split("t1", "i-a", H0, (0.10, 0.02), (0.03, 0.002))
    rows += _split("t2", "i-a", H0, (0.03, 0.005), (0.004, 0.001))
    rows += _split("t1", "i-a", H1, (0.12, 0.01), (0.012, 0.002))
    rows += _split("t4", "i-a", H1, (0.04, 0.0), (0.008, 0.0))
    rows += _split("t3", "i-b", H0, (0.09, 0.02), (0.01, 0.0))
    frame = pd.DataFrame(rows)
    frame["bill_billing_period_start_date"] = pd.Timestamp("2026-09-01")
    frame["line_item_usage_end_date"] = frame["line_item_usage_start_date"] + pd.Timedelta(hours=1)
    frame["line_item_usage_account_id"] = "111122223333"
    frame["line_item_availability_zone"] = "us-east-1a"
    frame["line_item_currency_code"] = "USD"
    frame["product_region_code"] = "us-east-1"
    frame["product_instance_type"] = "m5.xlarge"
    return frame


def expected_task_costs(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain pandas: per task, effective = split + unused; billed = each instance-hour's billed cost
    (its usage and negation rows) shared by the tasks' split + unused of that hour."""
    split = frame[frame["line_item_operation"] == "ECSTask-EC2"].copy()
    split["effective"] = split["split_line_item_split_cost"] + split["split_line_item_unused_cost"]
    keys = ["split_line_item_parent_resource_id", "line_item_usage_start_date"]
    per_task_hour = split.groupby(["line_item_resource_id", *keys], as_index=False)[
        ["effective", "split_line_item_unused_cost"]
    ].sum()
    instance_rows = frame[frame["line_item_resource_id"].fillna("").str.startswith("i-")]
    billed = instance_rows.groupby(["line_item_resource_id", "line_item_usage_start_date"])[
        "line_item_unblended_cost"
    ].sum()
    hour_total = per_task_hour.groupby(keys)["effective"].transform("sum")
    instance_billed = [
        billed[(i, h)] for i, h in zip(per_task_hour[keys[0]], per_task_hour[keys[1]], strict=True)
    ]
    per_task_hour["billed"] = (
        pd.Series(instance_billed, index=per_task_hour.index) * per_task_hour["effective"] / hour_total
    )
    return per_task_hour.groupby("line_item_resource_id")[
        ["billed", "effective", "split_line_item_unused_cost"]
    ].sum()  # fmt: skip


@pytest.fixture
def imported(store_engine: Engine, tmp_path: Path) -> pd.DataFrame:
    frame = bill_rows()
    path = tmp_path / "cur2.parquet"
    frame.to_parquet(path)
    import_bill(store_engine, [path], "cur2", data_dir=tmp_path / "bill", imported_at=datetime(2026, 10, 1))
    job_rows = [
        {"job_id": job, "dataset": COLLECTED_DATASET, "status": "SUCCEEDED",
         "created_at": datetime(2026, 9, 1), "queue": queue, "job_definition_name": "align"}
        for job, queue in (("j1", "q-a"), ("j2", "q-b"), ("j3", "q-b"))
    ]  # fmt: skip
    attempt_rows = [
        {"job_id": job, "attempt": 0, "task_arn": TASK.format(task), "started_at": datetime(2026, 9, 1)}
        for job, task in (("j1", "t1"), ("j2", "t2"), ("j3", "t3"))
    ]
    with store_engine.begin() as conn:
        conn.execute(insert(jobs), job_rows)
        conn.execute(insert(job_attempts), attempt_rows)
    return frame


def test_per_job_billed_cost_from_split_rows_equals_pandas_sums(
    store_engine: Engine, imported: pd.DataFrame
) -> None:
    got = reconcile(store_engine, MONTH)
    expected = expected_task_costs(imported)
    stored = read_frame(store_engine, select(bill_job_costs)).set_index("job_id")
    assert set(stored.index) == {"j1", "j2", "j3"}
    assert set(stored["source"]) == {"split"}
    for job, task in (("j1", "t1"), ("j2", "t2"), ("j3", "t3")):
        want = expected.loc[TASK.format(task)]
        assert stored.at[job, "billed_usd"] == pytest.approx(want["billed"], abs=CENT)
        assert stored.at[job, "effective_usd"] == pytest.approx(want["effective"], abs=CENT)
        assert stored.at[job, "unused_usd"] == pytest.approx(want["split_line_item_unused_cost"], abs=CENT)
    # t3 ran on Savings Plan usage: the invoice charged its instance nothing (covered - negation)
    assert stored.at["j3", "billed_usd"] == pytest.approx(0.0, abs=1e-9)
    assert stored.at["j3", "effective_usd"] == pytest.approx(0.12, abs=1e-9)
    t4 = expected.loc[TASK.format("t4")]
    assert got["jobs"]["unmatched_tasks"]["count"] == 1
    assert got["jobs"]["unmatched_tasks"]["billed_usd"] == pytest.approx(t4["billed"], abs=CENT)
    assert got["jobs"]["billed_usd"] == pytest.approx(stored["billed_usd"].sum(), abs=CENT)
    # per queue: the jobs' allocated bill (without AWS's idle share) summed by their queue; the rest of
    # the bill of the instances the jobs ran on (idle shares, t4) is the "(idle)" row, as in the model
    allocated = stored["billed_usd"] * (1 - stored["unused_usd"] / stored["effective_usd"])
    queues = {row["queue"]: row for row in got["breakdowns"]["by_queue"]}
    assert queues["q-b"]["billed_usd"] == pytest.approx(allocated[["j2", "j3"]].sum(), abs=CENT)
    want_a = stored.at["j1", "effective_usd"] - stored.at["j1", "unused_usd"]
    assert queues["q-a"]["effective_usd"] == pytest.approx(want_a, abs=CENT)
    hosts = imported[imported["line_item_resource_id"].isin(["i-a", "i-b"])]["line_item_unblended_cost"].sum()
    assert queues["(idle)"]["billed_usd"] == pytest.approx(hosts - allocated.sum(), abs=CENT)
    assert sum(row["billed_usd"] for row in queues.values()) == pytest.approx(hosts, abs=CENT)
    ces = {row["compute_environment"]: row for row in got["breakdowns"]["by_compute_environment"]}
    instances_billed = imported[imported["line_item_resource_id"].fillna("").str.startswith("i-")]
    assert set(ces) == {"(instances not in the store)"}  # the store knows no instance here
    assert ces["(instances not in the store)"]["billed_usd"] == pytest.approx(
        instances_billed["line_item_unblended_cost"].sum(), abs=CENT
    )
    assert got["modelled_usd"] is None and got["residual_causes"] == []
    assert got["unused_commitment_usd"] == pytest.approx(0.15 - 0.12)  # the hourly fee's unused part


def test_breakdowns_and_missed_instances(store_engine: Engine, imported: pd.DataFrame) -> None:
    got = reconcile(store_engine, MONTH)
    billed = imported["line_item_unblended_cost"].sum()
    assert got["billed_usd"] == pytest.approx(billed, abs=CENT)
    for name in ("by_day", "by_account", "by_region"):
        assert sum(r["billed_usd"] for r in got["breakdowns"][name]) == pytest.approx(billed, abs=CENT)
    instances = {r["instance"]: r for r in got["breakdowns"]["by_instance"]}
    per_instance = imported[imported["line_item_resource_id"].fillna("").str.startswith("i-")]
    per_instance = per_instance.groupby("line_item_resource_id")["line_item_unblended_cost"].sum()
    assert {k: v["billed_usd"] for k, v in instances.items()} == pytest.approx(
        per_instance.to_dict(), abs=CENT
    )
    assert instances["i-a"]["instance_hours"] == pytest.approx(2.0)
    # the store has no instances: every billed instance is one the collectors missed
    assert got["missed_instances"]["count"] == 3
    assert got["missed_instances"]["billed_usd"] == pytest.approx(per_instance.sum(), abs=CENT)


def test_commitment_utilization_and_coverage_per_hour(store_engine: Engine, imported: pd.DataFrame) -> None:
    use = load_commitments(store_engine, since=datetime(2026, 9, 1), until=datetime(2026, 10, 1))
    (plan,) = use.commitments
    assert plan.arn == SP and plan.kind == "savings_plan"
    assert plan.hourly_commitment_usd == pytest.approx(0.15)
    assert plan.used_usd == pytest.approx(0.12) and plan.unused_usd == pytest.approx(0.03)
    assert plan.utilization == pytest.approx(0.8)
    assert plan.rate_vs_on_demand == pytest.approx(0.12 / 0.192)  # the plan's rate against on demand
    # the bill's own rate per covered hour: i-b's m5.xlarge hour at the plan's effective cost
    assert plan.rate_by_type("us-east-1") == pytest.approx({"m5.xlarge": 0.12})
    assert plan.rate_by_type("eu-west-1") == {}
    (rate,) = plan.rates
    assert rate.list_usd_per_hour == pytest.approx(0.192) and rate.covered_hours == pytest.approx(1.0)
    hour0 = use.hours.set_index("hour").loc[H0]
    assert hour0["utilization"] == pytest.approx(0.8)
    coverage = use.coverage.set_index("hour")["coverage"]
    # hour 0: i-b covered (0.192 at list) beside i-a and i-c on demand (0.192 each at list)
    assert coverage[H0] == pytest.approx(0.192 / (0.192 * 3))
    assert coverage[H1] == pytest.approx(0.0)
    with store_engine.connect() as conn:
        assert len(conn.execute(select(bill_commitment_hours)).fetchall()) == 1
    assert load_commitments(store_engine, since=datetime(2026, 10, 1)).commitments == ()


def test_after_discount_uses_the_bills_effective_to_list_ratio(
    store_engine: Engine, imported: pd.DataFrame
) -> None:
    ratio = discount_ratio(store_engine, datetime(2026, 9, 1), datetime(2026, 10, 1))
    instance = imported[imported["line_item_usage_type"].eq("USE1-BoxUsage:m5.xlarge")]
    instance = instance[instance["line_item_line_item_type"].isin(["Usage", "SavingsPlanCoveredUsage"])]
    effective = instance["savings_plan_savings_plan_effective_cost"].fillna(
        instance["line_item_unblended_cost"]
    )
    want = effective.sum() / instance["pricing_public_on_demand_cost"].sum()
    assert ratio is not None and ratio.ratio == pytest.approx(want)
    assert after_discount(100.0, ratio) == pytest.approx(100.0 * want)
    assert after_discount(100.0, None) == 100.0
    sp_only = discount_ratio(
        store_engine, datetime(2026, 9, 1), datetime(2026, 10, 1), purchase_options=["savings_plan"]
    )
    assert sp_only is not None and sp_only.ratio == pytest.approx(0.12 / 0.192)
    assert discount_ratio(store_engine, datetime(2026, 10, 1), datetime(2026, 11, 1)) is None
    # per instance: i-c runs at a private rate of half its list price, i-a at list
    sept = (datetime(2026, 9, 1), datetime(2026, 10, 1))
    assert instance_discount_ratio(store_engine, *sept, instance_ids=["i-c"]).ratio == pytest.approx(0.5)
    both = instance_discount_ratio(store_engine, *sept, instance_ids=["i-a", "i-c"])
    assert both is not None and both.ratio == pytest.approx((0.384 + 0.192) / (0.384 + 0.384))
    assert instance_discount_ratio(store_engine, *sept, instance_types=["m5.xlarge"]) is not None
    assert instance_discount_ratio(store_engine, *sept, instance_ids=["i-unknown"]) is None


def _estate(engine: Engine) -> None:
    """The store knows i-a (where j1's task ran) and i-c (no split rows: j5 ran there, on half of
    it), both m5.xlarge on demand for hours 0-2; not i-b."""
    from optimizer.store.tables.catalog import instance_types, ondemand_prices
    from optimizer.store.tables.instances import instances

    start, end = datetime(2026, 9, 1), datetime(2026, 9, 1, 2)
    with engine.begin() as conn:
        conn.execute(
            insert(instance_types),
            [{"region": "us-east-1", "instance_type": "m5.xlarge", "vcpus": 4, "memory_mib": 16384,
              "allocatable_memory_mib": 16000, "gpus": 0, "arch": "x86_64"}],
        )  # fmt: skip
        conn.execute(
            insert(ondemand_prices),
            [{"region": "us-east-1", "instance_type": "m5.xlarge", "effective_date": datetime(2026, 1, 1),
              "price_per_hour": 0.192, "source": "snapshot"}],
        )  # fmt: skip
        where = {"region": "us-east-1", "availability_zone": "us-east-1a", "compute_environment_arn": "ce"}
        life = {"launch_time": start, "first_seen": start, "last_seen": end, "terminated_at": end}
        kind = {"instance_type": "m5.xlarge", "capacity_type": "ON_DEMAND", "dataset": COLLECTED_DATASET}
        conn.execute(insert(instances), [{"instance_id": i, **where, **life, **kind} for i in ("i-a", "i-c")])
        conn.execute(
            insert(jobs),
            [{"job_id": "j5", "dataset": COLLECTED_DATASET, "status": "SUCCEEDED", "created_at": start,
              "queue": "q-c", "job_definition_name": "sort", "vcpus": 2.0, "memory_mib": 8000}],
        )  # fmt: skip
        conn.execute(
            insert(job_attempts),
            [{"job_id": "j5", "attempt": 0, "instance_id": "i-c", "started_at": start, "stopped_at": end}],
        )
        conn.execute(
            job_attempts.update()
            .where(job_attempts.c.job_id == "j1")
            .values(instance_id="i-a", stopped_at=end, compute_environment_arn="ce")
        )


def test_without_split_rows_the_instances_bill_is_shared_by_the_attribution(
    store_engine: Engine, imported: pd.DataFrame
) -> None:
    _estate(store_engine)
    got = reconcile(store_engine, MONTH)
    stored = read_frame(store_engine, select(bill_job_costs)).set_index("job_id")
    assert stored.at["j1", "source"] == "split"  # split rows win where the bill has them
    assert stored.at["j5", "source"] == "attribution"
    i_c = imported[imported["line_item_resource_id"] == "i-c"]["line_item_unblended_cost"].sum()
    # j5 is the only attempt on i-c: the instance's whole bill (its idle half included) is j5's
    assert stored.at["j5", "billed_usd"] == pytest.approx(i_c, abs=CENT)
    assert stored.at["j5", "unused_usd"] == pytest.approx(i_c / 2, abs=CENT)
    assert got["jobs"]["by_source"]["attribution"]["attempts"] == 1


def test_the_residuals_causes_add_up_to_it(store_engine: Engine, imported: pd.DataFrame) -> None:
    _estate(store_engine)
    got = reconcile(store_engine, MONTH)
    assert got["modelled_usd"] == pytest.approx(2 * 2 * 0.192)  # i-a and i-c, 2 hours each, at list
    causes = {row["cause"]: row["usd"] for row in got["residual_causes"]}
    assert sum(causes.values()) == pytest.approx(got["residual_usd"], abs=1e-6)
    billed = imported.groupby("line_item_resource_id")["line_item_unblended_cost"].sum()
    assert causes["EBS"] == pytest.approx(billed["vol-1"], abs=CENT)
    assert causes["instances the collectors missed"] == pytest.approx(
        billed["i-b"], abs=CENT
    )  # 0.192 - 0.192
    assert causes["commitment fees"] == pytest.approx(0.15, abs=CENT)
    known = billed["i-a"] + billed["i-c"] - got["modelled_usd"]
    assert causes[KNOWN_INSTANCES_CAUSE] == pytest.approx(known, abs=CENT)
    assert got["missed_instances"]["count"] == 1
    by_instance = {row["instance"]: row for row in got["breakdowns"]["by_instance"]}
    assert by_instance["i-c"]["modelled_usd"] == pytest.approx(2 * 0.192)
    assert by_instance["i-b"]["in_store"] is False and by_instance["i-b"]["modelled_usd"] == 0.0
    queues = {row["queue"]: row for row in got["breakdowns"]["by_queue"]}
    # j5 used half of i-c: its allocated bill is half the instance's, the other half is i-c's idle
    assert queues["q-c"]["billed_usd"] == pytest.approx(billed["i-c"] / 2, abs=CENT)
    assert queues["q-c"]["modelled_usd"] == pytest.approx(0.192, abs=CENT)  # half of i-c for 2 hours
    ces = {row["compute_environment"]: row for row in got["breakdowns"]["by_compute_environment"]}
    assert ces["ce"]["billed_usd"] == pytest.approx(billed["i-a"] + billed["i-c"], abs=CENT)
    assert ces["ce"]["modelled_usd"] == pytest.approx(got["modelled_usd"], abs=CENT)
    assert ces["(instances not in the store)"]["billed_usd"] == pytest.approx(billed["i-b"], abs=CENT)
