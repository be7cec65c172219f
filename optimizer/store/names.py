"""Names the store's rows carry that other layers (and the CLI's argument choices) refer to.

Plain constants, no SQLAlchemy: `batchopt --help` reads them without importing the store.
"""

from __future__ import annotations

COLLECTED_DATASET = "aws"
"""`jobs.dataset` of the history the collectors read from AWS (imports and replays use their own)."""

SOURCE_NAMES: tuple[str, ...] = (
    "compute_environments",
    "job_queues",
    "events",
    "jobs",
    "job_definitions",
    "instances",
    "catalog",
    "ondemand_prices",
    "spot_prices",
    "spot_bands",
    "usage",
    "bill",
)
"""The collector sources (`collector_runs.source`), in the order a run needs them: inventory before
the event intake (which matches instances to compute environments), the event intake before the
ListJobs reconciliation (which fills what events missed), jobs before the job definitions they
reference and the usage linked to their attempts; the
bill (the CUR 2.0 export, once per collection, only with `billing.cur_s3_uri`) last.
`optimizer.collectors.SOURCES` is built in this order."""
