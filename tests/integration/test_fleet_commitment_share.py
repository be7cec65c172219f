"""A queue's / a compute environment's share of the account's commitments, measured in the bill
(`optimizer.fleet.commitment_share`), and the commitments scaled to it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine, insert, update

from optimizer.analysis.cost import IDLE, NONE
from optimizer.fleet.commitment_share import commitment_share
from optimizer.fleet.commitments import CommitmentsInForce
from optimizer.solver.problem import Commitment
from optimizer.store.schema import instances
from optimizer.store.tables.analysis import cost_daily
from optimizer.store.tables.billing import bill_commitment_hours, bill_instances

SINCE, UNTIL = datetime(2026, 9, 1), datetime(2026, 9, 8)
CE_A = "arn:aws:batch:us-east-1:123456789012:compute-environment/a"
CE_B = "arn:aws:batch:us-east-1:123456789012:compute-environment/b"
PERIOD = datetime(2026, 9, 1)


def _instance_day(conn: Connection, iid: str, ce: str, itype: str, day: int, used: float) -> None:
    """An instance of `ce` and its September `day` on the bill, `used` dollars of the plan."""
    conn.execute(
        insert(instances).values(
            instance_id=iid,
            dataset="aws",
            compute_environment_arn=ce,
            instance_type=itype,
            capacity_type="ON_DEMAND",
            first_seen=SINCE,
            last_seen=UNTIL,
        )
    )
    conn.execute(
        insert(bill_instances).values(
            billing_period=PERIOD,
            day=datetime(2026, 9, day),
            instance_id=iid,
            account_id="123456789012",
            region="us-east-1",
            instance_type=itype,
            purchase_option="savings_plan",
            billed_usd=used,
            effective_usd=used,
            list_usd=used * 1.4,
            instance_hours=10.0,
            commitment_used_usd=used,
        )
    )


def _fill(engine: Engine) -> None:
    """Hand-worked bill: the Savings Plan's use is $2/h for 10 hours in the window ($20: $10 of it by
    usage outside Batch), and $5 on the 10th, after it. Instance-days: i-a on CE a (m6i.large) used
    $6 of it on the 2nd, i-b on CE b (m6i.xlarge) $4 on the 3rd, i-c on CE a $5 on the 10th. CE a
    serves q1 ($3 attributed that day) and q2 ($1); CE b only q1."""
    hours = [datetime(2026, 9, 2, h) for h in range(10)] + [datetime(2026, 9, 10, 0)]
    uses = [2.0] * 10 + [5.0]
    with engine.begin() as conn:
        conn.execute(
            insert(bill_commitment_hours),
            [
                {
                    "billing_period": PERIOD,
                    "hour": h,
                    "arn": "sp-1",
                    "kind": "savings_plan",
                    "used_usd": u,
                    "unused_usd": 0.0,
                    "covered_list_usd": u * 1.4,
                    "covered_instance_hours": 1.0,
                }
                for h, u in zip(hours, uses, strict=True)
            ],
        )
        for iid, ce, itype, day, used in (
            ("i-a", CE_A, "m6i.large", 2, 6.0),
            ("i-b", CE_B, "m6i.xlarge", 3, 4.0),
            ("i-c", CE_A, "m6i.large", 10, 5.0),
        ):
            _instance_day(conn, iid, ce, itype, day, used)
        for q, ce, itype, day, usd in (
            ("q1", CE_A, "m6i.large", 2, 3.0),
            ("q2", CE_A, "m6i.large", 2, 1.0),
            ("q1", CE_B, "m6i.xlarge", 3, 2.0),
        ):
            conn.execute(
                insert(cost_daily).values(
                    dataset="aws",
                    day=datetime(2026, 9, day),
                    queue=q,
                    compute_environment_arn=ce,
                    job_definition_name="jd",
                    instance_type=itype,
                    capacity_type="ON_DEMAND",
                    total_usd=usd,
                )
            )


def test_a_queue_gets_its_instances_share_of_the_commitment_use(store_engine: Engine) -> None:
    _fill(store_engine)
    # q1: 3/4 of i-a's $6 and all of i-b's $4 = $8.50 of $20; q2: 1/4 of $6 = $1.50.
    assert commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q1") == pytest.approx(0.425)
    assert commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q2") == pytest.approx(0.075)
    assert commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q3") == pytest.approx(0.0)
    # the Batch estate: both CEs' instances, $10 of the $20 (the rest was usage outside Batch)
    estate = commitment_share(store_engine, since=SINCE, until=UNTIL, compute_environment_arns=[CE_A, CE_B])
    assert estate == pytest.approx(0.5)
    assert commitment_share(
        store_engine, since=SINCE, until=UNTIL, compute_environment_arns=[CE_A]
    ) == pytest.approx(0.3)


def test_idle_capacity_follows_the_queues_shares(store_engine: Engine) -> None:
    # The attribution books an instance-day's idle to "(idle)", no queue. A queue's plan pays for
    # whole instances, so the coverage of its environment's idle is its own: the demo's seven queues
    # once got 53 % of its Savings Plan between them, the idle's 47 % given to no plan.
    _fill(store_engine)
    with store_engine.begin() as conn:
        for ce_arn, itype, day, usd in ((CE_A, "m6i.large", 2, 4.0), (CE_B, "m6i.xlarge", 3, 6.0)):
            conn.execute(
                insert(cost_daily).values(
                    dataset="aws",
                    day=datetime(2026, 9, day),
                    queue=IDLE,
                    compute_environment_arn=ce_arn,
                    job_definition_name=NONE,
                    instance_type=itype,
                    capacity_type="ON_DEMAND",
                    total_usd=usd,
                )
            )
    q1 = commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q1")
    q2 = commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q2")
    assert (q1, q2) == (pytest.approx(0.425), pytest.approx(0.075))  # as without idle rows
    estate = commitment_share(store_engine, since=SINCE, until=UNTIL, compute_environment_arns=[CE_A, CE_B])
    assert q1 + q2 == pytest.approx(estate)  # every dollar of the estate's use is some queue's


def test_the_bill_cannot_tell_before_it_kept_commitment_use(store_engine: Engine) -> None:
    _fill(store_engine)
    with store_engine.begin() as conn:
        conn.execute(
            update(bill_instances)
            .where(bill_instances.c.instance_id == "i-b")
            .values(commitment_used_usd=None)
        )
    assert commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q1") is None
    # and a window without any commitment use
    assert (
        commitment_share(store_engine, since=datetime(2026, 8, 1), until=datetime(2026, 8, 8), queue="q1")
        is None
    )


def test_commitments_scale_to_the_share() -> None:
    sp = Commitment(id="sp", type="COMPUTE_SAVINGS_PLAN", usd_per_hour=2.0, rates={"m6i.large": 0.07})
    ri = Commitment(id="ri", type="RESERVED_INSTANCE", instance_type="m6i.large", count=4)
    whole = CommitmentsInForce((sp, ri), ("sp: bill",))
    part = whole.shared(0.425, "queue q1")
    assert [c.usd_per_hour for c in part.commitments] == [pytest.approx(0.85), 0.0]
    assert part.commitments[1].count == 2  # 4 x 0.425 = 1.7 reservations, rounded
    assert part.commitments[0].rates == sp.rates  # the rates are the plan's, not scaled
    assert "42.5%" in part.notes[-1]
    assert [c.id for c in whole.shared(0.1, "queue q2").commitments] == ["sp"]  # 0.4 of a reservation
    unknown = whole.shared(None, "queue q1")
    assert unknown.commitments == whole.commitments and "whole account" in unknown.notes[-1]


def test_use_on_a_type_or_day_without_jobs_goes_to_the_environments_queues(store_engine: Engine) -> None:
    """Split by (day, environment, type) alone, an instance-day whose type ran no job that day (an
    idle minvCpus instance, a spare type) was nobody's: the demo's queues got $3.34 of its plan's
    $4.44 an hour between them. Such use now follows the environment's day, then its window."""
    _fill(store_engine)
    with store_engine.begin() as conn:
        _instance_day(conn, "i-d", CE_A, "m6i.2xlarge", 2, 2.0)  # CE a's day 2: q1 3/4, q2 1/4
        _instance_day(conn, "i-e", CE_B, "m6i.xlarge", 5, 1.0)  # no job on CE b that day: all q1
    q1 = commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q1")
    q2 = commitment_share(store_engine, since=SINCE, until=UNTIL, queue="q2")
    # q1: $8.50 as before + 3/4 of $2 + $1 = $11; q2: $1.50 + 1/4 of $2 = $2; of $20
    assert (q1, q2) == (pytest.approx(0.55), pytest.approx(0.10))
    estate = commitment_share(store_engine, since=SINCE, until=UNTIL, compute_environment_arns=[CE_A, CE_B])
    assert q1 + q2 == pytest.approx(estate)
