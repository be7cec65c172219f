"""Run every enabled strategy on the store's snapshot and save what they recommend.

Saving goes through the repository's upsert on stable ids, so a refresh updates figures in place
and keeps each recommendation's status (a dismissed one stays dismissed). An open recommendation
that a strategy no longer produces for its (account, region) is superseded: the data changed and
its figures no longer hold, so it is dismissed with `SUPERSEDED` as the reason (and auto-tuning and
people stop seeing it); if a later refresh produces it again, it is reopened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, select

from optimizer.catalog.requirements import InstanceRequirements
from optimizer.config import Settings
from optimizer.domain import Recommendation
from optimizer.errors import ConfigError, InputError
from optimizer.recommend.base import Strategy, StrategySettings
from optimizer.recommend.commitment_basis import on_demand_change
from optimizer.recommend.headline import counted_ids
from optimizer.recommend.inputs import load_recommend_inputs
from optimizer.recommend.repository import save_recommendations, set_status
from optimizer.recommend.strategies import ALL_STRATEGIES, InstanceMixSettings
from optimizer.recommend.strategy_settings import strategy_settings
from optimizer.runtime.clock import utc_now
from optimizer.solver.policy import policy_from_settings
from optimizer.store.schema import COLLECTED_DATASET, recommendations

SUPERSEDED = "superseded: not produced by the latest refresh"

log = logging.getLogger(__name__)


def default_strategies(
    settings: Settings | None = None,
    overrides: Mapping[str, StrategySettings] | None = None,
) -> list[Strategy]:
    """Every strategy with its settings: `overrides` by strategy name, else the settings'
    `[recommend.<strategy>]` section, else defaults; the instance mix takes the `optimization`
    section's solver knobs unless its own section sets them."""
    overrides = dict(overrides or {})
    if settings is not None:
        overrides = {**strategy_settings(settings.recommend), **overrides}  # [recommend.<strategy>]
    if settings is not None and "instance-mix" not in overrides:
        opt = settings.optimization
        overrides["instance-mix"] = InstanceMixSettings(
            bucket_seconds=opt.bucket_seconds,
            time_limit_seconds=min(opt.time_limit_seconds, 10.0),
            optimization=opt,
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
    now: datetime | None = None,
) -> list[Recommendation]:
    """Recommendations for the stored estate, largest saving first; saved unless `save` is False.

    `clock` (monotonic seconds) bounds the solver; `now` (naive UTC, default: the clock read once
    here) stamps every row this run saves or supersedes."""
    chosen = [s for s in (strategies or default_strategies(settings)) if s.settings.enabled]
    recs: dict[str, Recommendation] = {}
    completed: set[tuple[str, str | None, str]] = set()  # (strategy, account, region) that ran through
    requirements = (
        policy_from_settings(settings.optimization).instance_requirements
        if settings is not None
        else InstanceRequirements()
    )
    for inputs in load_recommend_inputs(
        engine,
        dataset=dataset,
        seed=seed,
        clock=clock,
        requirements=requirements,
        commitments=settings.commitments if settings is not None else (),
    ):
        try:
            if inputs.baseline.can_replay:
                inputs.baseline.current()
        except ConfigError as exc:
            # Strategies whose figures need a replay produce nothing; advice-only ones still run.
            log.warning("the estate of %s cannot be replayed: %s", inputs.region, exc)
        # Advice sized on what the others leave (commitments) runs last and is given their change.
        in_region: list[Recommendation] = []
        ordered_strategies = sorted(chosen, key=lambda s: s.sized_after_others)
        for strategy in ordered_strategies:
            try:
                produced = (
                    strategy.run_after(inputs, on_demand_change(in_region, counted_ids(in_region)))
                    if strategy.sized_after_others
                    else strategy.run(inputs)
                )
            except (ConfigError, InputError) as exc:
                log.warning("strategy %s skipped region %s: %s", strategy.name, inputs.region, exc)
                continue
            completed.add((strategy.name, inputs.account_id, inputs.region))
            in_region.extend(produced)
            for rec in produced:
                recs[rec.id] = rec
    ordered = sorted(recs.values(), key=lambda r: (-r.monthly_savings_usd, r.id))
    if save:
        stamp = now or utc_now()
        save_recommendations(engine, ordered, now=stamp)
        _supersede(engine, set(recs), completed, stamp)
    return ordered


def _supersede(
    engine: Engine, produced: set[str], completed: set[tuple[str, str | None, str]], now: datetime
) -> None:
    """Dismiss open recommendations a completed strategy run no longer produced; reopen superseded
    ones it produced again. Only the (strategy, account, region) runs that finished are touched."""
    table = recommendations
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                table.c.id,
                table.c.strategy,
                table.c.account_id,
                table.c.region,
                table.c.status,
                table.c.status_reason,
            )
        ).all()
        for row in rows:
            if row.id in produced:
                if row.status == "dismissed" and row.status_reason == SUPERSEDED:
                    set_status(conn, row.id, "open", now=now)
            elif row.status == "open" and (row.strategy, row.account_id, row.region) in completed:
                set_status(conn, row.id, "dismissed", SUPERSEDED, now=now)
