"""The report's CSV files: numbers to micro-dollars, missing values empty (`render_csv._cell`)."""

from __future__ import annotations

import numpy as np

from optimizer.report.render_csv import _csv


def test_float_noise_is_rounded_away_and_missing_numbers_are_empty() -> None:
    # The demo's bill CSV read "unused_commitment_usd 2.1316282072803006e-14" on every day.
    rows = [("2026-11-23", 1000.5371291300764, 2.1316282072803006e-14, -1e-12, float("nan"), None, 3, True)]
    text = _csv(("day", "billed", "unused", "neg", "nan", "none", "count", "flag"), rows).decode()
    assert text.splitlines()[1] == "2026-11-23,1000.537129,0.0,0.0,,,3,True"
    assert _csv(("x",), [(np.float64(3201.240000000026),)]).decode().splitlines()[1] == "3201.24"
