"""Tables show human column names and money as dollars (display only: frames keep their names)."""

from __future__ import annotations

import pandas as pd

from optimizer.dashboard.columns import chart_labels, column_config, human


def test_known_and_derived_labels() -> None:
    assert human("last_success") == "Last success finished"
    assert human("idle_usd") == "Idle"
    assert human("vcpu_hours") == "vCPU hours"  # units as Batch and Cost Explorer spell them
    assert human("requested_memory_mib") == "Requested memory MiB"
    assert human("peak_memory_mib_p95") == "Peak memory MiB p95"
    assert human("oom_usd") == "OOM"


def test_money_columns_are_formatted_as_dollars() -> None:
    frame = pd.DataFrame({"queue": ["a"], "total_usd": [9567.4351]})
    config = column_config(frame)
    assert config["total_usd"]["label"] == "Total ($)"
    assert config["total_usd"]["type_config"]["format"] == "dollar"
    assert config["queue"]["label"] == "Queue"
    assert list(frame.columns) == ["queue", "total_usd"]


def test_freshness_columns_say_which_instant_they_are() -> None:
    # Data freshness showed "Last run" (the last run's start) beside "Last success" (the last
    # success's end): the success read later than the last run.
    assert human("last_run") == "Last run started"
    assert human("last_success") == "Last success finished"


def test_chart_labels_carry_the_unit_of_the_plotted_values() -> None:
    frame = pd.DataFrame({"day": [1], "total_usd": [1.0], "price": [0.1], "utilization": [0.5]})
    assert chart_labels(frame) == {
        "day": "Day",
        "total_usd": "Total ($)",
        "price": "Price ($/h)",
        "utilization": "Utilization",  # plotted as a fraction: no "%"
    }
