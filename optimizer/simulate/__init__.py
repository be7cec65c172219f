"""Discrete-event replay of AWS Batch: what a job history would have cost on another configuration.

Pure: jobs (the canonical trace table) and a parsed configuration in, a `ReplayResult` out; no I/O,
no clock, and the same seed gives the same result.
"""

from __future__ import annotations

import gc

import pandas as pd

from optimizer.simulate.catalog import (
    Catalog,
    FargatePricing,
    InstanceSpec,
    build_catalog,
    catalog_from_provider,
)
from optimizer.simulate.config import ReplayConfig, SimulationOptions, parse_config
from optimizer.simulate.replay_engine import ReplayEngine
from optimizer.simulate.results import ReplayResult, collect_result


def replay(jobs: pd.DataFrame, config: ReplayConfig) -> ReplayResult:
    """Replay `jobs` (columns as `optimizer.traces.CANONICAL_COLUMNS`) on `config`."""
    # The replay allocates millions of small objects that live until the end; the cyclic garbage
    # collector would rescan them again and again for nothing (none of them form cycles).
    collecting = gc.isenabled()
    gc.disable()
    try:
        engine = ReplayEngine(jobs, config)
        engine.run()
        return collect_result(engine)
    finally:
        if collecting:
            gc.enable()


__all__ = [
    "Catalog",
    "FargatePricing",
    "InstanceSpec",
    "ReplayConfig",
    "ReplayResult",
    "SimulationOptions",
    "build_catalog",
    "catalog_from_provider",
    "parse_config",
    "replay",
]
