"""The Cost explorer's table of the commitments a bill names (`dashboard.bill_view`), pure."""

from __future__ import annotations

from optimizer.billing.window import BillCommitment
from optimizer.dashboard.bill_view import BILL_COMMITMENT_COLUMNS, bill_commitment_rows

SP_ARN = "arn:aws:savingsplans::123456789012:savingsplan/63427a11-46e3-5f3f-9827-0a221e7f9a7a"
RI_ARN = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/0b1c2d3e-1111-2222-3333-444455556666"


def _commitment(arn: str, kind: str, **fields: object) -> BillCommitment:
    values: dict = {
        "offering_type": None,
        "hourly_commitment_usd": None,
        "count": None,
        "term": None,
        "payment_option": None,
        "starts_at": None,
        "ends_at": None,
        "billed_usd": 0.0,
        "effective_usd": 0.0,
    }
    return BillCommitment(arn=arn, kind=kind, **(values | fields))  # type: ignore[arg-type]


def test_bill_commitments_read_as_text_with_their_period_and_never_none() -> None:
    plan = _commitment(
        SP_ARN,
        "savings_plan",
        offering_type="ComputeSavingsPlans",
        hourly_commitment_usd=4.43,
        term="1yr",
        payment_option="No Upfront",
        billed_usd=3194.03,
        effective_usd=3194.03,
        used_usd=3149.06,
        unused_usd=44.97,
    )
    reserved = _commitment(RI_ARN, "reserved_instance", count=3.0, billed_usd=120.0, effective_usd=96.0)
    frame = bill_commitment_rows([plan, reserved])
    assert list(frame.columns) == BILL_COMMITMENT_COLUMNS
    assert frame.columns[-1] == "arn"  # the long ARN last, the figures first
    sp, ri = frame.to_dict("records")
    assert sp["commitment"] == "savingsplan/63427a11"
    assert sp["kind"] == "savings plan"
    assert sp["level"] == "$4.4300/h"
    # used / (used + unused) over the selected days, the figure the weekly report prints per commitment
    assert sp["utilization, selected days"] == "98.6%"
    assert sp["unused (USD), selected days"] == "$44.97"
    assert sp["billed (USD), all imported months"] == "$3,194.03"
    assert sp["arn"] == SP_ARN
    # a Reserved Instance has a count, not an hourly commitment; none used in the days: no utilization
    assert ri["level"] == "3 instance(s)"
    assert ri["utilization, selected days"] == "n/a"
    assert ri["term"] == "n/a"
    assert ri["effective (USD), all imported months"] == "$96.00"
    assert not any(str(v) in {"None", "nan"} for row in (sp, ri) for v in row.values())
