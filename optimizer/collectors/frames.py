"""Make a transformed frame safe for `bulk_upsert`: every missing value becomes None.

pandas 3 infers a `str` dtype whose missing value is NaN, and nullable `Int64` columns hold `pd.NA`;
neither is turned into SQL NULL by the upsert's fast path (it would write NaN text on PostgreSQL or
fail on SQLite). Datetime, float and bool columns are already handled there and are left alone, so
the conversion costs one pass over the remaining columns.
"""

from __future__ import annotations

import pandas as pd


def for_store(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose string and nullable-integer columns are object columns with None for missing."""
    out = frame.copy(deep=False)
    for name in out.columns:
        series = out[name]
        dtype = series.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue
        if pd.api.types.is_float_dtype(dtype) and not isinstance(dtype, pd.Float64Dtype):
            continue
        if pd.api.types.is_object_dtype(dtype) and not series.isna().any():
            continue
        values = series.astype(object)
        out[name] = values.where(series.notna(), None)
    return out
