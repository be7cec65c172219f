"""Hourly demand forecast for the next 7 days with p50 and p90, and its rolling-origin backtest.

Model: one gradient-boosted quantile regressor per quantile (scikit-learn
`HistGradientBoostingRegressor(loss="quantile")`), *direct* multi-horizon: a row is (forecast origin
o, target hour t = o + h - 1, h = 1..168) and its features use only hours before o:

- calendar of t: hour of day, day of week; the horizon h;
- the same hour 1, 2, 3 and 4 weeks before t and their mean (all before o because h <= 168);
- the 24 hours ending at t - 1 week (a smoothed "last week around this time");
- the level at the origin: the last hour, the mean of the last 24 and of the last 168 hours.

Targets and level features are divided by the origin's 4-week mean (+1), so a model trained while a
queue ran at 50 vCPUs still applies after it grew to 500: the trees learn shapes, not magnitudes.

Baseline: seasonal naive, y_hat(t) = y(t - 168 h). The backtest refits at each origin on all
history before it and compares mean absolute errors over the same hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

WEEK = 168
HORIZON = 168
FEATURES = (
    "hour_of_day",
    "day_of_week",
    "horizon",
    "same_hour_w1",
    "same_hour_w2",
    "same_hour_w3",
    "same_hour_w4",
    "same_hour_mean",
    "day_before_w1_mean",
    "last",
    "mean_24",
    "mean_168",
)


def _lag(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.full(idx.shape, np.nan)
    ok = (idx >= 0) & (idx < len(y))
    out[ok] = y[idx[ok]]
    return out


def _window_mean(cum: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of y[lo:hi] via the cumulative sum `cum` (cum[k] = sum y[:k]); NaN where lo < 0."""
    ok = lo >= 0
    lo_c = np.clip(lo, 0, len(cum) - 1)
    hi_c = np.clip(hi, 0, len(cum) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (cum[hi_c] - cum[lo_c]) / (hi_c - lo_c)
    return np.where(ok & (hi_c > lo_c), out, np.nan)


def features(y: np.ndarray, hours: pd.DatetimeIndex, origin: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    """Feature rows for (origin position, target position) pairs over the series `y` (see module doc)."""
    cum = np.r_[0.0, np.cumsum(y)]
    h = target - origin + 1
    w = [_lag(y, target - WEEK * k) for k in (1, 2, 3, 4)]
    stacked = np.vstack(w)
    with np.errstate(invalid="ignore"):
        same_mean = np.nanmean(np.where(np.isnan(stacked), np.nan, stacked), axis=0)
    level = _window_mean(cum, origin - 4 * WEEK, origin)
    level = np.where(np.isnan(level), _window_mean(cum, np.maximum(origin - 4 * WEEK, 0), origin), level)
    scale = np.nan_to_num(level, nan=0.0) + 1.0
    frame = pd.DataFrame(
        {
            "hour_of_day": hours.hour.to_numpy()[np.clip(target, 0, len(hours) - 1)],
            "day_of_week": hours.day_of_week.to_numpy()[np.clip(target, 0, len(hours) - 1)],
            "horizon": h,
            "same_hour_w1": w[0] / scale,
            "same_hour_w2": w[1] / scale,
            "same_hour_w3": w[2] / scale,
            "same_hour_w4": w[3] / scale,
            "same_hour_mean": same_mean / scale,
            "day_before_w1_mean": _window_mean(cum, target - WEEK - 23, target - WEEK + 1) / scale,
            "last": _lag(y, origin - 1) / scale,
            "mean_24": _window_mean(cum, origin - 24, origin) / scale,
            "mean_168": _window_mean(cum, origin - WEEK, origin) / scale,
        }
    )
    frame.attrs["scale"] = scale
    return frame


@dataclass
class DemandForecaster:
    """p50/p90 hourly forecaster for one series; `fit` on history, `predict` the next 168 hours."""

    quantiles: tuple[float, ...] = (0.5, 0.9)
    max_rows: int = 30_000
    horizons_per_hour: int = 8
    max_iter: int = 150
    seed: int = 0
    threads: int = 1  # small models: OpenMP threads only add contention on a shared machine
    models: dict[float, HistGradientBoostingRegressor] = field(default_factory=dict)
    trained_rows: int = 0
    unknown_features: list[str] = field(default_factory=list)

    def _training_rows(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        targets = np.arange(WEEK, len(y))
        if len(targets) == 0:
            raise ValueError("demand history shorter than one week: nothing to learn from")
        per = max(1, min(self.horizons_per_hour, self.max_rows // len(targets)))
        target = np.repeat(targets, per)
        h = rng.integers(1, HORIZON + 1, len(target))
        origin = target - h + 1
        keep = origin >= 24
        if keep.sum() > self.max_rows:
            keep &= rng.random(len(keep)) < self.max_rows / keep.sum()
        return origin[keep], target[keep]

    def fit(self, series: pd.Series) -> DemandForecaster:
        y = series.to_numpy(dtype=np.float64)
        origin, target = self._training_rows(y)
        x = features(y, pd.DatetimeIndex(series.index), origin, target)
        z = y[target] / x.attrs["scale"]
        # with under 4 weeks of history the oldest lags are never known: constant, not all-missing
        self.unknown_features = [c for c in x.columns if x[c].isna().all()]
        x[self.unknown_features] = 0.0
        self.models = {}
        with threadpool_limits(limits=self.threads, user_api="openmp"):
            self._fit_quantiles(x, z)
        self.trained_rows = len(z)
        return self

    def _fit_quantiles(self, x: pd.DataFrame, z: np.ndarray) -> None:
        for q in self.quantiles:
            model = HistGradientBoostingRegressor(
                loss="quantile",
                quantile=q,
                max_iter=self.max_iter,
                learning_rate=0.05,
                max_leaf_nodes=31,
                min_samples_leaf=40,
                categorical_features=[0, 1],
                random_state=self.seed,
            )
            self.models[q] = model.fit(x, z)

    def predict(self, history: pd.Series, horizon: int = HORIZON) -> pd.DataFrame:
        """Forecast the `horizon` hours after the end of `history` (p50, p90 columns, never < 0)."""
        if not self.models:
            raise ValueError("forecaster is not fitted")
        horizon = min(horizon, HORIZON)
        y = history.to_numpy(dtype=np.float64)
        idx = pd.DatetimeIndex(history.index)
        future = pd.date_range(idx[-1] + pd.Timedelta(hours=1), periods=horizon, freq="h")
        hours = idx.append(future)
        o = len(y)
        target = np.arange(o, o + horizon)
        origin = np.full(horizon, o)
        x = features(np.r_[y, np.full(horizon, np.nan)], hours, origin, target)
        scale = x.attrs["scale"]
        x[self.unknown_features] = 0.0
        out = pd.DataFrame(index=future)
        out.index.name = "hour"
        previous = None
        for q in sorted(self.models):
            with threadpool_limits(limits=self.threads, user_api="openmp"):
                raw = self.models[q].predict(x)
            pred = np.clip(raw * scale, 0.0, None)
            if previous is not None:
                pred = np.maximum(pred, previous)  # quantiles never cross
            out[f"p{round(q * 100)}"] = pred
            previous = pred
        return out


def seasonal_naive(history: pd.Series, horizon: int = HORIZON) -> np.ndarray:
    """Same hour last week: the baseline the forecast must beat."""
    y = history.to_numpy(dtype=np.float64)
    idx = np.arange(len(y), len(y) + horizon) - WEEK
    return np.where(idx < len(y), _lag(y, idx), np.nan)


@dataclass(frozen=True)
class BacktestResult:
    origins: list[pd.Timestamp]
    horizon_hours: int
    mae_model: float
    mae_naive: float
    p90_coverage: float
    per_origin: pd.DataFrame

    @property
    def improvement(self) -> float:
        """Relative MAE reduction versus seasonal naive (0.1 = 10% lower error)."""
        return 1.0 - self.mae_model / self.mae_naive if self.mae_naive > 0 else float("nan")


def rolling_origins(
    index: pd.DatetimeIndex, *, count: int, step_hours: int, min_history_weeks: int = 2
) -> list:
    """`count` origins `step_hours` apart, the last one a full horizon before the end of the data."""
    last = len(index) - HORIZON
    positions = [last - k * step_hours for k in range(count)]
    positions = [p for p in positions if p >= min_history_weeks * WEEK]
    return [index[p] for p in sorted(positions)]


def backtest(
    series: pd.Series, origins: list[pd.Timestamp], *, forecaster: DemandForecaster | None = None
) -> BacktestResult:
    """Refit at each origin on the history before it; MAE of p50 and of seasonal naive on the next week."""
    template = forecaster or DemandForecaster()
    rows = []
    abs_model: list[np.ndarray] = []
    abs_naive: list[np.ndarray] = []
    covered: list[np.ndarray] = []
    for origin in origins:
        pos = series.index.get_loc(origin)
        history = series.iloc[:pos]
        actual = series.iloc[pos : pos + HORIZON].to_numpy(dtype=np.float64)
        model = DemandForecaster(
            quantiles=template.quantiles,
            max_rows=template.max_rows,
            horizons_per_hour=template.horizons_per_hour,
            max_iter=template.max_iter,
            seed=template.seed,
            threads=template.threads,
        ).fit(history)
        pred = model.predict(history, len(actual))
        naive = seasonal_naive(history, len(actual))
        em = np.abs(pred["p50"].to_numpy() - actual)
        en = np.abs(naive - actual)
        abs_model.append(em)
        abs_naive.append(en)
        if "p90" in pred:
            covered.append(actual <= pred["p90"].to_numpy() + 1e-9)
        rows.append({"origin": origin, "mae_model": em.mean(), "mae_naive": en.mean(), "hours": len(actual)})
    all_m = np.concatenate(abs_model) if abs_model else np.array([np.nan])
    all_n = np.concatenate(abs_naive) if abs_naive else np.array([np.nan])
    coverage = float(np.concatenate(covered).mean()) if covered else float("nan")
    return BacktestResult(
        origins=list(origins),
        horizon_hours=HORIZON,
        mae_model=float(np.nanmean(all_m)),
        mae_naive=float(np.nanmean(all_n)),
        p90_coverage=coverage,
        per_origin=pd.DataFrame(rows),
    )
