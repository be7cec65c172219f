"""Jobs of a history that never started because no compute environment of their queue could host
them: they blocked the head of their queue (`head_blocking.py`), so the replay's history keeps them
(`datasets.load_dataset`) and the `stuck-job-limits` strategy reads them from the store. Pure: the
strategies import it without the store.
"""

from __future__ import annotations

import pandas as pd

BLOCKED_REASONS = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
)
"""The blocked reasons of a job that stayed RUNNABLE because no compute environment of its queue can
host it (the Batch user guide's "Jobs stuck in RUNNABLE due to misconfiguration"). Batch shows one
as the statusReason while the job waits ("MISCONFIGURATION:... - ..."), and quotes it when a
job-state time limit action cancels the job ("... due to reason: MISCONFIGURATION:..."), as does a
replay whose owner cancelled it."""


def never_started_blocked(reasons: pd.Series) -> pd.Series:
    """Which status reasons name a blocked reason (`BLOCKED_REASONS`), wherever in the text."""
    text = reasons.fillna("").astype(str)
    found = pd.Series(False, index=text.index)
    for reason in BLOCKED_REASONS:
        found |= text.str.contains(reason, regex=False)
    return found
