"""The one catalogue and pricing truth: instance specs, what each type is, prices and spot risk.

Every layer that needs an instance type's size, price or interruption risk asks this package: the
solver's offerings, the replay's catalogue, the strategies, cost attribution, the dashboard and the
`simulate` / `optimize` commands. Modules:

- `provider`: `CatalogProvider`, one region's table (specs, kinds, on-demand and spot prices, bands,
  hazards), `build_provider` and `bundled_catalog`;
- `from_store`: `catalog_for_region`, files given first, then the store, then the bundled snapshots;
- `files`: the one reader of price tables and Spot Advisor feeds (bundled or given);
- `interruptions`: the one band -> hourly hazard conversion;
- `instance_kinds`: family, generation, category, burstable, bare metal, accelerators;
- `requirements`: which types a policy allows;
- `batch_rules`: Batch's instance-type aliases and allocation strategies;
- `memory`: memory a job can reserve on an instance.
"""
