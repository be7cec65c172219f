"""Run every enabled strategy on the store's snapshot and save what they recommend.

Saving goes through the repository's upsert on stable ids, so a refresh updates figures in place
and keeps each recommendation's status (a dismissed one stays dismissed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine

from optimizer.config import Settings
from optimizer.domain import Recommendation
from optimizer.errors import ConfigError, InputError
from optimizer.recommend.base import Strategy, StrategySettings
from optimizer.recommend.inputs import load_inputs
from optimizer.recommend.repository import save_recommendations
from optimizer.recommend.strategies import ALL_STRATEGIES, InstanceMixSettings
from optimizer.store.schema import COLLECTED_DATASET

log = logging.getLogger(__name__)


def default_strategies(
    settings: Settings | None = None,
    overrides: Mapping[str, StrategySettings] | None = None,
) -> list[Strategy]:
    """Every strategy with its settings: `overrides` by strategy name, else defaults; the instance
    mix takes the `optimization` section's solver knobs."""
    overrides = dict(overrides or {})
    if settings is not None and "instance-mix" not in overrides:
        opt = settings.optimization
        overrides["instance-mix"] = InstanceMixSettings(
            bucket_seconds=opt.bucket_seconds,
            max_instance_types=opt.max_instance_types,
            min_spot_instance_types=opt.min_spot_instance_types,
            interruption_cost_factor=opt.interruption_cost_factor,
            time_limit_seconds=min(opt.time_limit_seconds, 10.0),
        )
    return [cls(overrides.get(cls.name)) for cls in ALL_STRATEGIES]


def generate_recommendations(
    engine: Engine,
    settings: Settings | None = None,
    *,
    dataset: str = COLLECTED_DATASET,
    strategies: Sequence[Strategy] | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    save: bool = True,
) -> list[Recommendation]:
    """Recommendations for the stored estate, largest saving first; saved unless `save` is False."""
    chosen = [s for s in (strategies or default_strategies(settings)) if s.settings.enabled]
    recs: dict[str, Recommendation] = {}
    for inputs in load_inputs(engine, dataset=dataset, seed=seed, clock=clock):
        try:
            if inputs.baseline.can_replay:
                inputs.baseline.current()
        except ConfigError as exc:
            # Strategies whose figures need a replay produce nothing; advice-only ones still run.
            log.warning("the estate of %s cannot be replayed: %s", inputs.region, exc)
        for strategy in chosen:
            try:
                produced = strategy.run(inputs)
            except (ConfigError, InputError) as exc:
                log.warning("strategy %s skipped region %s: %s", strategy.name, inputs.region, exc)
                continue
            for rec in produced:
                recs[rec.id] = rec
    ordered = sorted(recs.values(), key=lambda r: (-r.monthly_savings_usd, r.id))
    if save:
        save_recommendations(engine, ordered)
    return ordered
