"""Column names a person reads and money formatted as money, for any table a page shows.

Pages keep their frames' column names (tests and CSV exports read them); `column_config(frame)` only
changes how Streamlit labels and formats them: `last_success` reads "Last success", and every
`*_usd` column shows as dollars with cents instead of 9567.4351.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

LABELS = {
    "source": "Source",
    "last_success": "Last success",
    "last_run": "Last run",
    "failed_runs": "Failed runs",
    "runs": "Runs",
    "instance_type": "Instance type",
    "availability_zone": "Availability zone",
    "band": "Band",
    "band_label": "Interruptions / month",
    "savings_pct": "Saving vs on-demand (%)",
    "snapshot_date": "Snapshot date",
    "region": "Region",
    "reclaimed_instances": "Reclaimed instances",
    "reclaimed_attempts": "Reclaimed attempts",
    "hours_lost": "Run-hours lost",
    "spot_instances": "Spot instances",
    "spot_instance_hours": "Spot instance-hours",
    "reclaims_per_1000h": "Reclaims per 1,000 h",
    "field": "Field",
    "current": "Current",
    "proposed": "Proposed",
    "changed": "Changed",
    "status": "Status",
    "status_reason": "Reason",
    "action": "Action",
    "actor": "By",
    "result": "Result",
    "message": "Message",
    "started_at": "Started",
    "finished_at": "Finished",
    "target": "Target",
    "error": "Error",
}


def human(name: str) -> str:
    """A raw column name as a label: known names from LABELS, else words from the snake case."""
    if name in LABELS:
        return LABELS[name]
    words = name.replace("_usd", "").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def column_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Streamlit column_config for `frame`: human labels; money columns (`*_usd`) as dollars."""
    config: dict[str, Any] = {}
    for name in frame.columns:
        label = human(str(name))
        if str(name).endswith("_usd"):
            config[name] = st.column_config.NumberColumn(f"{label} ($)", format="dollar")
        else:
            config[name] = st.column_config.Column(label)
    return config
