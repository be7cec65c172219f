"""Column names a person reads, and every number in a table formatted as what it is.

Pages keep their frames' column names and raw values (tests, sorting and CSV exports read them);
`column_config(frame)` only changes how Streamlit labels and shows them, so no table prints
9567.435112 or 0.123456789:

- money (`*_usd`, `usd`, `price`, `*_usd_per_hour`): dollars with thousands separators, "$1,234.57"
  (a price per hour to four decimals, "$0.0412", as `number_text.commitment_level_text` does);
- fractions (`*_share`, `*_rate` of attempts, `utilization`, `gap`, `*_per_requested`): a
  percentage with one decimal, "12.3%", as `number_text.percent_text` prints it;
- other numbers (hours, MiB, vCPUs, counts): grouped, at most two decimals, "46,124.86".

The rules go by column name (`number_format`), one list for every page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

LABELS = {
    "source": "Source",
    # `runs_read.run_freshness`: the last run's start and the last success's end, two different
    # instants; the labels say which, else a success reads later than the last run.
    "last_success": "Last success finished",
    "last_run": "Last run started",
    "failed_runs": "Failed runs",
    "runs": "Runs",
    "instance_type": "Instance type",
    "availability_zone": "Availability zone",
    "band": "Band",
    # (the Spot Advisor's share of instances interrupted in a month, e.g. "<5%"; the Recommendations
    # list's "Interruptions / month" is a count of reclaims in the replay)
    "band_label": "Instances interrupted / month (Spot Advisor)",
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
    "usd": "Amount",
    "cause": "Cause",
    "class": "Waste class",
    "day": "Day",
    "capacity_type": "Capacity type",
    "job_definition_name": "Job definition",
    "ratio_from": "Peak use / request",
    "timestamp": "Time (UTC)",
    "kind": "Cost",
    "figure": "Figure",
}


#: Unit and acronym words as people write them: "Requested memory mib" and "Vcpu hours" read as typos
#: next to Cost Explorer's and Batch's own "MiB" and "vCPU".
UNIT_WORDS = {
    "mib": "MiB",
    "gib": "GiB",
    "vcpu": "vCPU",
    "vcpus": "vCPUs",
    "gpu": "GPU",
    "gpus": "GPUs",
    "oom": "OOM",  # the Cost explorer's `oom_usd` read "Oom ($)"
}


def human(name: str) -> str:
    """A raw column name as a label: known names from LABELS, else words from the snake case, units
    spelled as units (`UNIT_WORDS`)."""
    if name in LABELS:
        return LABELS[name]
    words = [UNIT_WORDS.get(w, w) for w in name.replace("_usd", "").split("_") if w]
    text = " ".join(words)
    return text if words and words[0] in UNIT_WORDS.values() else text[:1].upper() + text[1:]


PRICE_COLUMNS = frozenset({"price", "price_per_hour", "ondemand_price", "spot_price"})
FRACTION_COLUMNS = frozenset({"utilization", "gap", "share", "oom_rate", "failure_rate", "coverage"})
FRACTION_SUFFIXES = ("_share", "_per_requested", "_utilization", "_coverage")
NOT_FRACTIONS = frozenset({"interruption_rate"})
"""Named like a fraction but a rate per hour (the solver's interruptions per instance-hour)."""


def number_format(name: str) -> tuple[str, float | None] | None:
    """(Streamlit number format, step) for a column by its name; None for a plain number."""
    if name in PRICE_COLUMNS or name.endswith("_usd_per_hour"):
        return "dollar", 0.0001
    if name == "usd" or name.endswith("_usd"):
        return "dollar", None
    if name in NOT_FRACTIONS:
        return None
    if name in FRACTION_COLUMNS or name.endswith(FRACTION_SUFFIXES) or name.endswith("_rate"):
        return "percent", 0.001  # a step of 0.001 is one decimal of the percentage
    return None


def column_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Streamlit column_config for `frame`: human labels; money, fractions and other numbers
    formatted by `number_format` (numbers only: a column of text keeps its text)."""
    config: dict[str, Any] = {}
    for name in frame.columns:
        label = human(str(name))
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name])
        chosen = number_format(str(name)) if numeric else None
        if chosen is not None:
            fmt, step = chosen
            label = f"{label} ($)" if fmt == "dollar" else label
            config[name] = st.column_config.NumberColumn(label, format=fmt, step=step)
        elif numeric:
            config[name] = st.column_config.NumberColumn(label, format="localized", step=_step(frame[name]))
        else:
            config[name] = st.column_config.Column(label)
    return config


def chart_label(name: str) -> str:
    """A chart's axis or legend title for a column: its table label with the unit its values are
    in (charts plot the raw values, so a fraction stays a fraction and gets no "%")."""
    label = human(name)
    if name in PRICE_COLUMNS or name.endswith("_usd_per_hour"):
        return f"{label} ($/h)"
    chosen = number_format(name)
    return f"{label} ($)" if chosen is not None and chosen[0] == "dollar" else label


def chart_labels(frame: pd.DataFrame) -> dict[str, str]:
    """plotly's `labels=` for a chart of `frame`: every column by `chart_label`, so no axis shows
    a raw column name such as `total_usd`."""
    return {str(name): chart_label(str(name)) for name in frame.columns}


def _step(values: pd.Series) -> float:
    """Whole numbers without decimals ("4,581"), others to two ("65,241.83")."""
    clean = pd.to_numeric(values, errors="coerce").dropna()
    return 1.0 if clean.empty or bool((clean == clean.round()).all()) else 0.01


def show_table(
    frame: pd.DataFrame, key: str, *, where: Any = None, extra: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """`st.dataframe` (or `where.dataframe`, a column) with `column_config(frame)` and `extra` over it:
    how every page shows a table, so none shows a raw float."""
    target = st if where is None else where
    config = column_config(frame) | (extra or {})
    hide_index = kwargs.pop("hide_index", True)
    target.dataframe(frame, hide_index=hide_index, key=key, column_config=config, **kwargs)
