"""The bill: CUR 2.0, legacy CUR and FOCUS line items, kept columnar and reconciled with the model.

Line items stay in Parquet (one file per billing month under `billing.data_dir`) and are queried
where they sit with DuckDB; only aggregates land in the store (`optimizer.store.tables.billing`).

- `sources`: reads one export file (Parquet or CSV, any of the three formats) into the canonical
  line-item layout, checking it first so a bad file is refused with one line naming the column.
- `queries`: the SQL over canonical line items (usage kinds, daily aggregates, commitments), each
  written once in DuckDB's dialect; `queries.for_athena` turns a query into Athena (Trino) SQL.
- `intake`: `import_bill`, which replaces each billing month whole (Parquet file and aggregates).
- `reconcile`: billed, effective and modelled cost of a month, and the residual; `breakdown`: the
  same per day, account, region, queue, compute environment, job definition and instance, and the
  residual's causes; `jobs`: per-job billed cost (split cost allocation rows, else the attribution).
- `window`: the same per day of any window (dashboard, weekly report).
- `commitments.load_commitments`: Savings Plans and RIs with utilization and coverage per hour, the
  one reader for other code (solver, strategies).
- `discount.after_discount` / `discount_ratio`: a list-price saving after the bill's discounts.
- `focus_out`: the week's per-job cost as FOCUS 1.2 rows (`batchopt report --focus-out`).
- `athena`: the same queries run in Amazon Athena.
"""
