"""Spot interruption bands and the one conversion from a band to an hourly reclaim hazard.

The Spot Instance Advisor publishes, per region and instance type, a band `r` (0 "<5%", 1 "5-10%",
2 "10-15%", 3 "15-20%", 4 ">20%"): the share of that pool's instances AWS reclaimed over the last
month. Every part of the product (solver offerings, replay, strategies, interruption models) needs a
rate per instance-hour instead, and they must agree, so the conversion lives here only:

- A band stands for its midpoint p (2.5%, 7.5%, 12.5%, 17.5%), and the open-ended ">20%" band for 25%.
- Reclaims are taken as memoryless (a Poisson process per instance), so the probability that an
  instance running a whole month is reclaimed is 1 - exp(-lambda x H). Solving for the hazard gives
  lambda = -ln(1 - p) / H per instance-hour, with H = 730 hours (8,760 h / 12: the average month).
  The linear shortcut p / H underestimates the hazard by up to 14 % for the ">20%" band.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

HOURS_PER_MONTH = 730.0
BAND_LABELS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")
#: Monthly reclaim probability each band stands for (its midpoint; 25% for ">20%").
BAND_MONTHLY_PROBABILITY = (0.025, 0.075, 0.125, 0.175, 0.25)


def hazard_from_monthly_probability(probability: float) -> float:
    """Reclaims per instance-hour of a memoryless process reclaiming `probability` in a month."""
    if probability <= 0:
        return 0.0
    return -math.log1p(-min(probability, 0.999)) / HOURS_PER_MONTH


def band_hourly_hazard(band: int) -> float:
    """Spot Advisor band index (0..4) -> reclaims per instance-hour (see the module docstring)."""
    if not 0 <= int(band) < len(BAND_MONTHLY_PROBABILITY):
        raise ValueError(f"spot interruption band {band}: must be 0-4")
    return hazard_from_monthly_probability(BAND_MONTHLY_PROBABILITY[int(band)])


def band_hourly_hazards(bands: pd.Series | np.ndarray, *, unknown_band: int = 2) -> np.ndarray:
    """Vectorised `band_hourly_hazard`; missing bands take `unknown_band` (the middle one)."""
    idx = np.asarray(bands, dtype=np.float64)
    idx = np.clip(np.nan_to_num(idx, nan=float(unknown_band)), 0, len(BAND_MONTHLY_PROBABILITY) - 1)
    table = np.array([band_hourly_hazard(b) for b in range(len(BAND_MONTHLY_PROBABILITY))])
    return table[idx.astype(int)]


def band_label(band: int) -> str:
    return BAND_LABELS[band] if 0 <= band < len(BAND_LABELS) else str(band)


def monthly_probability_from_hazard(hazard_per_hour: float) -> float:
    """The inverse: the chance an instance running a whole month is reclaimed."""
    return 1.0 - math.exp(-max(hazard_per_hour, 0.0) * HOURS_PER_MONTH)
