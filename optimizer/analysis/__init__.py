"""Pure analyses over store-shaped DataFrames: cost attribution, waste, utilization, right-sizing.

No I/O and no clock: every function takes DataFrames with the store's column names (see
`optimizer/store/tables/`) and returns DataFrames. `optimizer.analysis.stored` is the glue that
reads the store, calls these and writes the persisted aggregates.

Public entry points (the dashboard and the report call these):
- `cost.attribute_costs(...) -> CostAttribution`: instance cost, per-attempt shares, idle remainder,
  waste classes, all split by UTC day; `rollup.cost_by`, `rollup.waste_by`, `rollup.cost_by_tag`,
  `rollup.daily_aggregate`.
- `utilization.hourly_utilization`, `utilization.fragmentation`.
- `rightsizing.rightsizing_evidence`, `rightsizing.name_pattern`.
"""
