"""Every table of the store, imported from the table modules so `metadata` is complete.

Import tables from here (`from optimizer.store.schema import jobs`) or from their area module.
"""

from __future__ import annotations

import importlib
import pkgutil

from optimizer.store import tables as _tables_pkg
from optimizer.store.base import metadata
from optimizer.store.tables.catalog import (
    instance_type_offerings,
    instance_types,
    ondemand_prices,
    spot_interruption_bands,
    spot_prices,
)
from optimizer.store.tables.changes import audit_log, change_plans, fleet_plans, recommendations
from optimizer.store.tables.instances import instances
from optimizer.store.tables.inventory import compute_environments, job_definitions, job_queues
from optimizer.store.tables.jobs import COLLECTED_DATASET, datasets, job_attempts, jobs
from optimizer.store.tables.runs import collector_runs, collector_watermarks
from optimizer.store.tables.usage import usage_samples

# Table modules added later (one per area) register themselves on import.
for _info in pkgutil.iter_modules(_tables_pkg.__path__):
    importlib.import_module(f"{_tables_pkg.__name__}.{_info.name}")

__all__ = [
    "COLLECTED_DATASET",
    "audit_log",
    "change_plans",
    "collector_runs",
    "collector_watermarks",
    "compute_environments",
    "datasets",
    "fleet_plans",
    "instance_type_offerings",
    "instance_types",
    "instances",
    "job_attempts",
    "job_definitions",
    "job_queues",
    "jobs",
    "metadata",
    "ondemand_prices",
    "recommendations",
    "spot_interruption_bands",
    "spot_prices",
    "usage_samples",
]
