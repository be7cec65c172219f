"""One dollar and one percent format for every surface (`optimizer.number_text`)."""

from __future__ import annotations

import pytest

from optimizer.dashboard.components import money, percent
from optimizer.number_text import percent_text, usd_text
from optimizer.recommend.tradeoff_text import usd
from optimizer.report.fmt import money as report_money
from optimizer.report.fmt import pct


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-123.234, "-$123.23"),
        (1234.5, "$1,234.50"),
        (-1e-16, "$0.00"),
        (-0.004, "$0.00"),
        (-0.005001, "-$0.01"),
    ],
)
def test_every_surface_prints_a_dollar_amount_the_same_way(value: float, text: str) -> None:
    # The Overview's bill residual once read "$-123.23" while the report printed "-$123.23".
    assert usd_text(value) == money(value) == usd(value) == report_money(value) == text


@pytest.mark.parametrize(
    ("value", "text", "signed"), [(-3e-16, "0.0%", "+0.0%"), (-0.0051, "-0.5%", "-0.5%")]
)
def test_a_percentage_that_rounds_to_zero_has_no_sign(value: float, text: str, signed: str) -> None:
    assert percent_text(value) == percent(value) == pct(value) == text
    assert percent_text(value, signed=True) == pct(value, signed=True) == signed


def test_counts_agree_with_their_number() -> None:
    # `import-trace` printed "1 jobs imported", `import-bill` "1 line items".
    from optimizer.number_text import count_text

    assert count_text(1, "job") == "1 job"
    assert count_text(0, "job") == "0 jobs"
    assert count_text(1234, "line item") == "1,234 line items"
    assert count_text(2, "policy", "policies") == "2 policies"
