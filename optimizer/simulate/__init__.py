"""Discrete-event replay of AWS Batch: what a job history would have cost on another configuration.

Pure: jobs (the canonical trace table) and a parsed configuration in, a `ReplayResult` out; no I/O,
no clock, and the same seed gives the same result.
"""

from __future__ import annotations

import pandas as pd

from optimizer.simulate.catalog import Catalog, FargatePricing, InstanceSpec, build_catalog
from optimizer.simulate.config import ReplayConfig, SimulationOptions, parse_config
from optimizer.simulate.engine import ReplayEngine
from optimizer.simulate.results import ReplayResult, collect_result


def replay(jobs: pd.DataFrame, config: ReplayConfig) -> ReplayResult:
    """Replay `jobs` (columns as `optimizer.traces.CANONICAL_COLUMNS`) on `config`."""
    engine = ReplayEngine(jobs, config)
    engine.run()
    return collect_result(engine)


__all__ = [
    "Catalog",
    "FargatePricing",
    "InstanceSpec",
    "ReplayConfig",
    "ReplayResult",
    "SimulationOptions",
    "build_catalog",
    "parse_config",
    "replay",
]
