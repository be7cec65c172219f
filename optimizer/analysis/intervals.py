"""Time intervals as float seconds since the epoch, and their split into UTC calendar buckets.

Costs and utilization are booked per day (or hour) so that an attempt or an instance that spans
midnight counts in both days in proportion; splitting here, once, keeps every roll-up exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_SECONDS = 86_400
HOUR_SECONDS = 3_600


def to_seconds(values: pd.Series | pd.Index) -> np.ndarray:
    """Naive-UTC datetimes -> float seconds since the epoch; missing values become NaN."""
    series = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, errors="coerce")
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = series.to_numpy(dtype="datetime64[ns]")
    out = ns.astype("int64").astype(np.float64) / 1e9
    out[np.isnat(ns)] = np.nan
    return out


def from_seconds(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Float seconds since the epoch -> naive-UTC datetimes (NaN -> NaT)."""
    return pd.to_datetime(pd.Series(seconds), unit="s").astype("datetime64[us]")


@dataclass(frozen=True)
class Pieces:
    """Each input interval cut at bucket boundaries: `source` indexes the input row of each piece."""

    source: np.ndarray
    bucket: np.ndarray  # bucket number: floor(start / bucket_seconds)
    start: np.ndarray
    end: np.ndarray

    @property
    def seconds(self) -> np.ndarray:
        return self.end - self.start


def split_by_bucket(start: np.ndarray, end: np.ndarray, bucket_seconds: int) -> Pieces:
    """Cut each [start, end) at multiples of `bucket_seconds`; an empty interval keeps one piece.

    Vectorised with np.repeat so a million intervals split in well under a second.
    """
    start = np.asarray(start, dtype=np.float64)
    end = np.maximum(np.asarray(end, dtype=np.float64), start)
    first = np.floor(start / bucket_seconds).astype(np.int64)
    last = np.where(end > start, np.ceil(end / bucket_seconds).astype(np.int64) - 1, first)
    last = np.maximum(last, first)
    counts = last - first + 1
    source = np.repeat(np.arange(len(start)), counts)
    offsets = np.arange(len(source)) - np.repeat(np.cumsum(counts) - counts, counts)
    bucket = first[source] + offsets
    piece_start = np.maximum(start[source], bucket * float(bucket_seconds))
    piece_end = np.minimum(end[source], (bucket + 1) * float(bucket_seconds))
    piece_end = np.maximum(piece_end, piece_start)
    return Pieces(source=source, bucket=bucket, start=piece_start, end=piece_end)


def bucket_to_datetime(bucket: np.ndarray, bucket_seconds: int) -> pd.Series:
    """Bucket numbers -> the naive-UTC datetime of each bucket's start."""
    return pd.Series(pd.to_datetime(np.asarray(bucket, dtype=np.int64) * bucket_seconds, unit="s"))
