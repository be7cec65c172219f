"""The reconciliation says why a queue's residual can dwarf the month's: Savings Plan hours billed $0
to the instance, and AWS's split allocation without the model's GPU weight (`breakdown_notes`)."""

from __future__ import annotations

import pandas as pd

from optimizer.analysis.cost import CostAttribution
from optimizer.billing.reconcile import COVERED_NOTE, GPU_NOTE, breakdown_notes


def _result(covered_usd: float, split_attempts: int) -> dict:
    return {
        "by_usage_kind": {
            "ec2_on_demand": {"billed_usd": 10.0, "effective_usd": 10.0},
            "ec2_savings_plan": {"billed_usd": covered_usd, "effective_usd": covered_usd * 0.7},
        },
        "jobs": {"by_source": {"split": {"attempts": split_attempts}} if split_attempts else {}},
    }


def _attribution(gpus: list[float]) -> CostAttribution:
    return CostAttribution(pd.DataFrame(), pd.DataFrame({"gpus": gpus}), pd.DataFrame())


def test_each_note_appears_only_where_its_cause_is_in_the_month() -> None:
    # The demo's November: a Savings Plan, split rows and GPU jobs: both notes.
    assert breakdown_notes(_result(3501.09, 7059), _attribution([0, 1, 8])) == [COVERED_NOTE, GPU_NOTE]
    # No covered hours, no GPU jobs, or no split rows (the model's shares then): nothing to explain.
    assert breakdown_notes(_result(0.0, 7059), _attribution([0, 0])) == []
    assert breakdown_notes(_result(0.0, 0), _attribution([1])) == []
    assert breakdown_notes(_result(5.0, 10), None) == [COVERED_NOTE]
