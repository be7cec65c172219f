"""scikit-learn models: demand forecast per queue, usage quantiles for right-sizing, spot interruption
rates; and the registry that keeps trained models in `models/` with a JSON model card.

Model fitting and evaluation are pure (DataFrames in, models and metrics out); only `registry.py`
touches files, and only `training.py` / `scheduled.py` read the store.

Public API:
- `training.train_all(engine, registry, now=...)`, `training.load_or_train(engine, registry, kind, now=...)`
  (kind: forecast | usage | interruptions; a missing or incompatible model is retrained).
- `registry.ModelRegistry(dir).load(name) / save(model, card) / list()`; names are
  `demand-forecast.<dataset>`, `usage-quantile.<dataset>`, `spot-interruptions.<dataset>`.
- `forecast.DemandForecaster().fit(series).predict(series)` -> p50/p90 for 168 hours;
  `forecast.backtest(series, rolling_origins(...))`; `demand.demand_from_store_jobs(jobs)`.
- `usage.DefinitionQuantiles`, `usage.UsageQuantileModel`, `usage.evaluate`.
- `interruptions.interruption_rates(observed_reclaims(...), bands)`, `interruptions.rates_by_type(...)`
  (hourly rates per instance type for the solver's offerings).
- Forecasts persisted by training: `analysis.stored.read_demand_forecasts(engine, queues=..., metric=...)`.
"""
