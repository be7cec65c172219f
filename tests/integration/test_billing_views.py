"""The bill where people look: `billing.window.bill_window` per day (billed, effective, modelled,
residual, commitments) and the weekly report's "Bill vs model" section, on a store seeded with
tests/report_helpers' estate and a small hand-made legacy CUR imported through the real import path.

Every expected figure is an independent sum: the bill's over the rows below (AWS's amortised-cost
rule written out by hand), the model's over the estate's instance lifetimes x prices.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optimizer.analysis.stored import run_analysis
from optimizer.billing.intake import import_bill
from optimizer.billing.reconcile import reconcile
from optimizer.billing.window import bill_window, month_to_date
from optimizer.report.build import build_weekly_report
from optimizer.report.load import load_report_inputs
from optimizer.report.render_csv import render_csv
from optimizer.report.render_html import render_html
from optimizer.report.render_markdown import render_markdown
from optimizer.report.weeks import IsoWeek
from tests.report_helpers import ESTATE, MONDAY, ON_DEMAND, SPOT_PRICE, seed_estate

SP = "arn:aws:savingsplans::123456789012:savingsplan/5f4e1b2c-aaaa-bbbb-cccc-000000000047"
HEADER = (
    "bill/BillingPeriodStartDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,"
    "lineItem/ProductCode,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,"
    "lineItem/UnblendedCost,savingsPlan/SavingsPlanARN,savingsPlan/SavingsPlanEffectiveCost,"
    "savingsPlan/TotalCommitmentToDate,savingsPlan/UsedCommitment,savingsPlan/OfferingType\n"
)
# (type, usage day in Nov 2026, product, usage type, resource, amount, unblended, SP ARN,
#  SP effective cost, SP commitment to date, SP used commitment)
ROWS = [
    ("Tax", 1, "AmazonEC2", "", "", 1, 0.25, "", None, None, None),
    ("SavingsPlanRecurringFee", 1, "ComputeSavingsPlans", "ComputeSP:1yrNoUpfront", "", 1, 2.0, SP,
     None, 2.0, 1.2),
    ("Usage", 10, "AmazonEC2", "USE1-BoxUsage:m5.large", "i-prev", 24, 2.304, "", None, None, None),
    ("Usage", 16, "AmazonEC2", "USE1-BoxUsage:m5.large", "i-od1", 24, 2.304, "", None, None, None),
    ("Usage", 16, "AmazonEC2", "USE1-EBS:VolumeUsage.gp3", "vol-1", 0.8, 0.064, "", None, None, None),
    ("SavingsPlanCoveredUsage", 18, "AmazonEC2", "USE1-BoxUsage:m5.xlarge", "i-od2", 12, 2.304, SP,
     1.2, None, None),
    ("SavingsPlanNegation", 18, "AmazonEC2", "USE1-BoxUsage:m5.xlarge", "i-od2", 12, -2.304, SP,
     None, None, None),
    ("Usage", 19, "AmazonEC2", "USE1-SpotUsage:m5.xlarge", "i-spot1", 24, 1.68, "", None, None, None),
    ("Usage", 20, "AmazonEC2", "USE1-SpotUsage:m5.xlarge", "i-spot2", 2, 0.14, "", None, None, None),
    ("Usage", 20, "AmazonEC2", "USE1-DataTransfer-Out-Bytes", "", 10, 0.9, "", None, None, None),
]  # fmt: skip
WEEK = IsoWeek.containing(MONDAY.date())  # Mon 16 - Sun 22 Nov 2026; the bill ends on Fri 20
BILL_DAYS = [date(2026, 11, d) for d in range(16, 21)]


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def bill_file(tmp_path: Path) -> Path:
    path = tmp_path / "nov.csv"
    lines = [
        ",".join(
            [
                "2026-11-01T00:00:00Z",
                "123456789012",
                kind,
                f"2026-11-{day:02d}T00:00:00Z",
                product,
                usage_type,
                resource,
                *(_cell(v) for v in money),  # amount, cost, SP ARN, effective, commitment, used
                "ComputeSavingsPlans" if money[2] else "",
            ]
        )
        for kind, day, product, usage_type, resource, *money in ROWS
    ]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def expected_bill(day: date) -> tuple[float, float]:
    """(billed, effective) of one usage day, by hand: unblended; amortised as AWS defines it."""
    billed = effective = 0.0
    for kind, d, *_, cost, _arn, sp_effective, sp_total, sp_used in ROWS:
        if date(2026, 11, d) != day:
            continue
        billed += cost
        if kind == "SavingsPlanCoveredUsage":
            effective += sp_effective
        elif kind == "SavingsPlanRecurringFee":
            effective += sp_total - sp_used  # the unused part of the commitment
        elif kind != "SavingsPlanNegation":
            effective += cost
    return billed, effective


def expected_model(day: date) -> float:
    """The estate's instance-hours on `day` x their prices (spot at its one series price)."""
    start, end = datetime.combine(day, datetime.min.time()), datetime.combine(day, datetime.min.time())
    end += timedelta(days=1)
    total = 0.0
    for _iid, _ce, itype, capacity, launched, terminated, _job, _reclaimed in ESTATE:
        hours = (min(terminated, end) - max(launched, start)).total_seconds() / 3600
        price = SPOT_PRICE if capacity == "SPOT" else ON_DEMAND[itype]
        total += max(hours, 0.0) * price
    return total


@pytest.fixture
def billed_store(store_engine: Engine, tmp_path: Path) -> Engine:
    seed_estate(store_engine, with_changes=False)
    import_bill(
        store_engine,
        [bill_file(tmp_path)],
        "cur-legacy",
        data_dir=tmp_path / "bill",
        imported_at=datetime(2026, 11, 21, 6),
    )
    return store_engine


def test_the_week_counts_only_the_days_the_bill_covers_with_independent_sums(billed_store: Engine) -> None:
    window = bill_window(billed_store, WEEK.start, WEEK.end)
    assert window is not None
    assert list(window.covered_days) == BILL_DAYS  # Sat 21 and Sun 22 are not in the bill yet
    assert window.modelled_source == "computed"  # no analysis run: the attribution, run now
    for row in window.days:
        billed, effective = expected_bill(row.day)
        assert row.billed_usd == pytest.approx(billed, abs=1e-9)
        assert row.effective_usd == pytest.approx(effective, abs=1e-9)
        assert row.modelled_usd == pytest.approx(expected_model(row.day), abs=1e-6)
        assert row.residual_usd == pytest.approx(billed - expected_model(row.day), abs=1e-6)
    billed = sum(expected_bill(d)[0] for d in BILL_DAYS)
    modelled = sum(expected_model(d) for d in BILL_DAYS)
    assert window.billed_usd == pytest.approx(2.304 + 0.064 + 1.68 + 0.14 + 0.9)  # SP-covered nets to 0
    assert window.billed_usd == pytest.approx(billed)
    assert window.effective_usd == pytest.approx(sum(expected_bill(d)[1] for d in BILL_DAYS))
    assert window.effective_usd == pytest.approx(window.billed_usd + 1.2)  # the SP-covered hours at its rate
    assert window.modelled_usd == pytest.approx(modelled, abs=1e-6)
    assert window.residual_usd == pytest.approx(billed - modelled, abs=1e-6)
    day17 = window.days[1]  # the idle instance ran, but the bill has no line for it
    assert (
        day17.day == date(2026, 11, 17)
        and day17.billed_usd == 0
        and day17.modelled_usd == pytest.approx(0.96)
    )
    assert [c.arn for c in window.commitments] == [SP]
    assert window.commitments[0].kind == "savings_plan"
    assert window.commitments[0].offering_type == "ComputeSavingsPlans"


def test_the_month_adds_up_to_reconcile_and_a_window_without_bill_days_is_none(billed_store: Engine) -> None:
    month = month_to_date(billed_store, datetime(2026, 11, 30, 15))
    assert month is not None
    assert month.covered_days == tuple(date(2026, 11, d) for d in range(1, 21))
    whole = reconcile(billed_store, "2026-11")
    assert month.billed_usd == pytest.approx(whole["billed_usd"], abs=1e-6)
    assert month.effective_usd == pytest.approx(whole["effective_usd"], abs=1e-6)
    assert month.unused_commitment_usd == pytest.approx(2.0 - 1.2)
    # reconcile models the days the bill covers too: not Sun 22 (i-od3, 12 h of m5.large), which the
    # bill lacks (its modelled month held it, a residual the Overview did not show)
    assert whole["modelled_until"] == "2026-11-21T00:00:00"
    assert month.modelled_usd == pytest.approx(whole["modelled_usd"], abs=1e-6)
    assert whole["residual_usd"] == pytest.approx(month.residual_usd, abs=1e-6)
    assert month_to_date(billed_store, datetime(2026, 11, 12)).billed_usd == pytest.approx(  # type: ignore[union-attr]
        sum(expected_bill(date(2026, 11, d))[0] for d in range(1, 13))
    )
    assert bill_window(billed_store, datetime(2026, 11, 21), datetime(2026, 11, 23)) is None
    assert month_to_date(billed_store, datetime(2026, 12, 1)) is None


def test_persisted_and_computed_model_give_the_same_bill_window(billed_store: Engine) -> None:
    computed = bill_window(billed_store, WEEK.start, WEEK.end)
    run_analysis(
        billed_store,
        computed_at=datetime(2026, 11, 23),
        since=datetime(2026, 11, 1),
        until=datetime(2026, 12, 1),
    )
    persisted = bill_window(billed_store, WEEK.start, WEEK.end)
    assert computed is not None and persisted is not None
    assert persisted.modelled_source == "analysis"
    assert [d.modelled_usd for d in persisted.days] == pytest.approx([d.modelled_usd for d in computed.days])


def test_the_weekly_report_states_bill_vs_model_with_its_days_and_commitments(billed_store: Engine) -> None:
    inputs = load_report_inputs(billed_store, WEEK)
    report = build_weekly_report(inputs, WEEK, generated_at=datetime(2026, 11, 23, 7))
    bill = report.bill
    assert bill is not None
    billed = sum(expected_bill(d)[0] for d in BILL_DAYS)
    effective = sum(expected_bill(d)[1] for d in BILL_DAYS)
    modelled = sum(expected_model(d) for d in BILL_DAYS)
    markdown = render_markdown(report)
    section = markdown.split("## Bill vs model", 1)[1].split("\n## ", 1)[0]
    assert "| Days the bill covers | 5 of 7: Mon 16 Nov 2026 – Fri 20 Nov 2026 |" in section
    assert f"| Billed (unblended, as invoiced) | ${billed:,.2f} |" in section
    assert f"| Effective (amortised) | ${effective:,.2f} |" in section
    assert f"| Modelled (instance lifetimes x prices) | ${modelled:,.2f} |" in section
    residual = billed - modelled
    shown = f"-${abs(residual):,.2f}" if residual < 0 else f"${residual:,.2f}"
    assert f"| Residual (billed - modelled) | {shown} |" in section
    # the plan's only fee row is on 1 Nov: in these days it was used (1.2 covered on 18 Nov), never idle;
    # covered i-od2 (2.304 at on-demand) beside on-demand i-od1 (2.304) is half the eligible usage
    assert "| Commitment utilization (used / committed) | 100.0% |" in section
    assert "| EC2 commitment coverage (at on-demand value) | 50.0% |" in section
    causes = {c.cause: c.usd for c in bill.causes}
    assert sum(causes.values()) == pytest.approx(residual, abs=1e-6)
    assert causes["EBS"] == pytest.approx(0.064) and causes["data transfer"] == pytest.approx(0.9)
    assert causes["instances the collectors missed"] == 0.0  # every billed instance is in the estate
    assert "## Where the residual comes from" in markdown and "| data transfer | $0.90 |" in markdown
    assert "## Commitments from the bill" in markdown
    assert "| 5f4e1b2c-aaaa-bbbb-cccc-000000000047 | savings plan | ComputeSavingsPlans |" in markdown
    assert bill.commitments[0].utilization == pytest.approx(1.0)
    html = render_html(report, charts={})
    assert "Bill vs model" in html and f"${billed:,.2f}" in html and "Commitments from the bill" in html
    files = render_csv(report)
    lines = files["bill"].decode().splitlines()
    assert lines[0] == "day,billed_usd,effective_usd,modelled_usd,residual_usd,unused_commitment_usd"
    assert [line.split(",")[0] for line in lines[1:]] == [d.isoformat() for d in BILL_DAYS] + ["total"]
    total = lines[-1].split(",")
    assert float(total[1]) == pytest.approx(billed) and float(total[3]) == pytest.approx(modelled, abs=1e-6)
    commitment_csv = files["commitments"].decode().splitlines()
    assert commitment_csv[1].startswith(SP + ",savings_plan,ComputeSavingsPlans")
    assert commitment_csv[0].endswith(",used_usd,unused_usd,utilization")
    assert commitment_csv[1].endswith(",1.2,0.0,1.0")  # covered i-od2 at the plan rate, no idle fee


def test_no_bill_no_section(store_engine: Engine) -> None:
    seed_estate(store_engine, with_changes=False)
    report = build_weekly_report(
        load_report_inputs(store_engine, WEEK), WEEK, generated_at=datetime(2026, 11, 23)
    )
    assert report.bill is None
    assert "Bill vs model" not in render_markdown(report)
    assert "Bill vs model" not in render_html(report, charts={})
    assert "bill" not in render_csv(report) and "commitments" not in render_csv(report)


def test_an_instance_days_commitment_use_is_its_covered_usage_at_the_plan_rate(billed_store: Engine) -> None:
    # i-od2's 12 covered hours cost $1.20 of the plan (its SavingsPlanEffectiveCost; the negation
    # row takes nothing from it); i-od1 and the spot instances used none of it.
    from sqlalchemy import select

    from optimizer.store.tables.billing import bill_instances

    with billed_store.connect() as conn:
        rows = dict(
            conn.execute(select(bill_instances.c.instance_id, bill_instances.c.commitment_used_usd)).all()
        )
    assert rows["i-od2"] == pytest.approx(1.2)
    assert rows["i-od1"] == 0.0 and rows["i-spot1"] == 0.0
