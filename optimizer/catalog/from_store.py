"""Build a region's `CatalogProvider` from the store, part by part falling back to the bundled data.

The order is the same for every command, page and strategy, so a figure computed in one place is
reproduced by any other: files the user names on the command line, then what the collectors stored
(instance types with their latest on-demand price, Spot Advisor bands, DescribeSpotPriceHistory
points), then the bundled snapshots.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from optimizer.catalog.files import load_spot_advisor, read_price_file, read_spot_advisor
from optimizer.catalog.provider import CatalogProvider, advisor_sources, build_provider, bundled_prices
from optimizer.store.read import catalog_frame, interruption_bands_frame, spot_prices_frame


def catalog_for_region(
    engine: Engine | None,
    region: str,
    *,
    prices_path: str | None = None,
    spot_advisor_path: str | None = None,
) -> CatalogProvider:
    """The provider for `region` (see the module docstring for the order of sources); with `engine`
    None there is no store: files given, else the bundled snapshots (offline use)."""
    sources: dict[str, str] = {}
    if prices_path:
        prices, sources["on-demand"] = read_price_file(prices_path), f"file {prices_path}"
    else:
        stored = catalog_frame(engine, region) if engine is not None else pd.DataFrame()
        if "price_per_hour" in stored:
            stored = stored[stored["price_per_hour"].notna()]
        if not stored.empty:
            prices, sources["on-demand"] = stored, f"collected ({len(stored):,} types)"
        else:
            prices, sources["on-demand"] = bundled_prices(region)
    if spot_advisor_path:
        bands = read_spot_advisor(spot_advisor_path, region)
        sources["interruption bands"] = f"file {spot_advisor_path}"
    else:
        bands = interruption_bands_frame(engine, region) if engine is not None else pd.DataFrame()
        label = "collected Spot Advisor"
        if bands.empty:
            bands, label = load_spot_advisor(region), "bundled Spot Advisor"
        sources.update(advisor_sources(bands, label))
    series = spot_prices_frame(engine, region) if engine is not None else pd.DataFrame()
    if series.empty:
        sources["spot"] = "Spot Advisor estimate (no spot prices collected)"
    else:
        newest = pd.Timestamp(series["timestamp"].max()).isoformat()
        sources["spot"] = (
            f"collected DescribeSpotPriceHistory ({len(series):,} points to {newest}); "
            "Spot Advisor estimate for types without"
        )
    return build_provider(prices, bands, series, region=region, sources=sources, source_name="catalogue")
