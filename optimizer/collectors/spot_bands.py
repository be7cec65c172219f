"""Spot interruption bands per instance type from the Spot Instance Advisor (bundled snapshot).

AWS publishes the advisor as a public JSON feed, not an API, so the package ships a dated snapshot
(`optimizer/data/`, refreshed with `python -m optimizer.data.build_snapshots --spot-advisor FILE`).
Loading it per region keeps the bands beside the region's prices in the store.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from sqlalchemy import Connection, Engine

from optimizer.catalog.files import load_spot_advisor
from optimizer.collectors.base import CollectContext, Collected, Source
from optimizer.store.schema import spot_interruption_bands
from optimizer.store.upsert import bulk_upsert

COLUMNS = ["region", "instance_type", "band", "band_label", "savings_pct", "snapshot_date"]


def transform_spot_bands(advisor: pd.DataFrame, region: str) -> pd.DataFrame:
    rows = advisor[advisor["region"] == region]
    frame = rows[COLUMNS].astype({"region": object, "instance_type": object, "band_label": object})
    return frame.reset_index(drop=True)


def _collect(ctx: CollectContext, engine: Engine, watermarks: Mapping[str, str]) -> Collected:
    frame = transform_spot_bands(load_spot_advisor(ctx.region), ctx.region)
    extra = (
        {} if len(frame) else {"warning": f"the Spot Advisor snapshot has no Linux bands for {ctx.region}"}
    )
    return Collected(len(frame), {"spot_interruption_bands": frame}, extra=extra)


def _load(conn: Connection, ctx: CollectContext, collected: Collected) -> int:
    return bulk_upsert(conn, spot_interruption_bands, collected.frames["spot_interruption_bands"])


SPOT_BANDS = Source("spot_bands", _collect, _load, "Spot interruption bands (bundled Spot Advisor snapshot)")
