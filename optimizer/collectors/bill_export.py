"""The `bill` source: the CUR 2.0 export AWS Data Exports delivers to `billing.cur_s3_uri`.

Incremental by manifest: each billing month's newest manifest (key, ETag, time), after the time it
was imported, is the month's watermark (scope `<export>/BILLING_PERIOD=YYYY-MM`); a month whose
manifest is unchanged, and whose bill the store still holds, is not read at all. New or restated
months are downloaded and imported through `optimizer.billing.s3_export.import_months`, i.e.
`import_bill`, the same path as `batchopt import-bill`.

Unlike the other sources the import is not written inside the run's transaction: `import_bill` is
its own all-or-nothing step (store rows and the Parquet files it moves into place). It runs in
`collect`, before the run's transaction writes the watermarks; should that transaction fail, the
next run reads the same manifests again and `import_bill` finds the same files (by SHA-256) already
imported, so nothing changes twice.

The bill is the payer's, not a region's: `optimizer.collectors.service` runs this source once per
collection, with the first configured target and region's credentials, and only when
`billing.cur_s3_uri` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Connection, Engine

from optimizer.aws.permissions import declare
from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.errors import ConfigError

NAME = "bill"
declare("collector", "s3:ListBucket", "s3:GetObject")  # ListObjectsV2 is authorised as s3:ListBucket


def bill_source(cur_s3_uri: str, data_dir: str | Path) -> Source:
    """The `bill` source reading the export at `cur_s3_uri` into `data_dir` and the store."""

    def collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
        # Imported here: the bill import (DuckDB, Parquet) stays out of `batchopt collect`'s other sources.
        from optimizer.billing.s3_export import import_months, list_manifests, pending_months, stored_months

        s3 = ctx.client("s3")
        manifests = list_manifests(s3, cur_s3_uri)
        pending = pending_months(manifests, watermarks, stored_months(engine))
        result, files = import_months(engine, s3, pending, data_dir=data_dir, imported_at=ctx.now)
        months = result.months if result else ()
        imported = [m for m in months if m.status == "imported"]
        return Collected(
            items_read=sum(m.line_items for m in months),
            watermarks={m.scope: m.watermark(ctx.now) for m in pending},
            extra={"written": sum(m.line_items for m in imported), "files": files},
        )

    return Source(NAME, collect, _load, f"CUR 2.0 export at {cur_s3_uri}")


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    return int(collected.extra.get("written", 0))  # imported by collect, see the module docstring


def _unconfigured(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    raise ConfigError("billing.cur_s3_uri (BATCHOPT_BILLING__CUR_S3_URI): not set; the bill source needs it")


BILL = Source(NAME, _unconfigured, _load, "CUR 2.0 export from S3 (billing.cur_s3_uri)")
"""The registry's entry; `service.sources_for` binds it to the configured export."""
