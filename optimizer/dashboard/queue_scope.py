"""Which compute environments serve a selection of job queues, and so whose idle capacity it owns.

Idle capacity has no queue (its rows carry "(idle)" as queue and job definition), so filtering the
cost explorer by queue used to drop all of it and show "Idle $0.00" for a queue that keeps a GPU
environment half empty. A queue's idle is the idle of the environments that serve it:

- the environments in the queue's `computeEnvironmentOrder` as last collected (`job_queues`);
- and the environments its jobs actually ran on in the selected days (`cost_daily`), which covers
  queues since deleted and imported traces with no inventory.

An environment shared with queues outside the selection brings all of its idle: idle cannot be
split between queues without inventing a rule, so the page names the environments it added.
Pure: the page passes what `queries.queue_compute_environments` read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from optimizer.analysis.cost import IDLE

Where = tuple[tuple[str, tuple[str, ...]], ...]


def configured_ces(queue_rows: Iterable[Mapping[str, Any]], ce_names: Mapping[str, str]) -> set[str]:
    """CE ARNs in the queues' computeEnvironmentOrder; entries given by name map through `ce_names`."""
    out: set[str] = set()
    for row in queue_rows:
        for entry in row.get("compute_environment_order") or []:
            ref = str(entry.get("computeEnvironment") or "")
            if ref:
                out.add(ce_names.get(ref, ref))
    return out


def needs_idle(queues: tuple[str, ...]) -> bool:
    """A queue filter hides idle unless it already picks the "(idle)" rows themselves."""
    return bool(queues) and IDLE not in queues


def idle_where(where: Where, serving: tuple[str, ...]) -> Where | None:
    """The filters for the idle rows of `serving`: queue and job definition become "(idle)", the CE
    filter narrows to the serving CEs it allows, instance and capacity type filters stay."""
    chosen = dict(where)
    allowed = chosen.get("compute_environment_arn") or ()
    ces = tuple(ce for ce in serving if not allowed or ce in allowed)
    if not ces:
        return None
    out = {**chosen, "queue": (IDLE,), "job_definition_name": (IDLE,), "compute_environment_arn": ces}
    return tuple(out.items())


def with_idle(selection: pd.DataFrame, idle: pd.DataFrame | None) -> pd.DataFrame:
    """The selection's cost rows followed by the serving CEs' idle rows (same columns)."""
    if idle is None or idle.empty:
        return selection
    if selection.empty:
        return idle.reset_index(drop=True)
    return pd.concat([selection, idle[selection.columns]], ignore_index=True)
