"""Collectors: one module per source, each get_* (API) -> transform_* (pure) -> load_* (store).

`SOURCES` lists them in the order a run needs (inventory before jobs, jobs before the job
definitions they reference and the usage linked to their attempts), which `SOURCE_NAMES` states
(`optimizer.store.names`, light, so `batchopt collect --help` does not import the collectors).
Importing this package declares every collector's IAM actions, which `batchopt iam-policy --role
collector` prints.
"""

from __future__ import annotations

from optimizer.collectors.base import Source
from optimizer.collectors.batch_inventory import COMPUTE_ENVIRONMENTS, JOB_QUEUES
from optimizer.collectors.batch_job_definitions import JOB_DEFINITIONS
from optimizer.collectors.batch_jobs import JOBS
from optimizer.collectors.bill_export import BILL
from optimizer.collectors.catalog import CATALOG
from optimizer.collectors.events import EVENTS
from optimizer.collectors.instances import INSTANCES
from optimizer.collectors.ondemand_prices import ONDEMAND_PRICES
from optimizer.collectors.spot_bands import SPOT_BANDS
from optimizer.collectors.spot_prices import SPOT_PRICES
from optimizer.collectors.usage import USAGE
from optimizer.store.names import SOURCE_NAMES

_BY_NAME = {
    s.name: s
    for s in (
        COMPUTE_ENVIRONMENTS,
        JOB_QUEUES,
        EVENTS,
        JOBS,
        JOB_DEFINITIONS,
        INSTANCES,
        CATALOG,
        ONDEMAND_PRICES,
        SPOT_PRICES,
        SPOT_BANDS,
        USAGE,
        BILL,
    )
}
if set(_BY_NAME) != set(SOURCE_NAMES):
    raise ImportError(f"collector sources {sorted(_BY_NAME)} differ from SOURCE_NAMES {sorted(SOURCE_NAMES)}")
SOURCES: tuple[Source, ...] = tuple(_BY_NAME[name] for name in SOURCE_NAMES)


def select_sources(names: list[str] | None) -> list[Source]:
    """The named sources in run order (all of them when `names` is empty)."""
    if not names:
        return list(SOURCES)
    unknown = sorted(set(names) - set(SOURCE_NAMES))
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; choose from {list(SOURCE_NAMES)}")
    return [s for s in SOURCES if s.name in names]
